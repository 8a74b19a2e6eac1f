"""zvt schemas of zvt-ccxt: entities (``CryptoPair``, ``CryptoPerp``), kdata at every level, coverage.

Importing this package imports zvt (quietly) and registers the schemas under provider "ccxt".
"""

from zvt_ccxt._zvt import import_zvt

import_zvt()

from zvt_ccxt.domain.budget import CcxtRateBudget  # noqa: E402,F401
from zvt_ccxt.domain.coverage import CcxtCoverage  # noqa: E402
from zvt_ccxt.domain.kdata import *  # noqa: E402,F403
from zvt_ccxt.domain.kdata import KDATA_SCHEMAS, kdata_schema  # noqa: E402
from zvt_ccxt.domain.market_data import CryptoFunding, CryptoOpenInterest, CryptoOrderbook, CryptoTrade  # noqa: E402
from zvt_ccxt.domain.meta import ENTITY_SCHEMAS, CryptoPair, CryptoPerp  # noqa: E402
from zvt_ccxt.domain.private import (  # noqa: E402
    CcxtStreamAudit,
    CryptoBalance,
    CryptoMyTrade,
    CryptoOrder,
    CryptoPosition,
)

__all__ = [
    "CryptoPair",
    "CryptoPerp",
    "CcxtCoverage",
    "CryptoTrade",
    "CryptoOrderbook",
    "CryptoFunding",
    "CryptoOpenInterest",
    "CryptoBalance",
    "CryptoOrder",
    "CryptoPosition",
    "CryptoMyTrade",
    "CcxtStreamAudit",
    "ENTITY_SCHEMAS",
    "KDATA_SCHEMAS",
    "kdata_schema",
]
__all__ += [name for name in dir() if name.endswith("Kdata")]
