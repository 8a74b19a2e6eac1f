"""The ``zvt-ccxt`` entry point: builds the parser from the command modules and turns errors into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from zvt_ccxt.cli import console
from zvt_ccxt.cli.commands import capabilities, coverage, export, markets, record, stream
from zvt_ccxt.cli.common import CommandUnavailable, UsageError, add_debug_options
from zvt_ccxt.errors import (
    CapabilityNotSupportedError,
    ConfigError,
    InvalidTimeRangeError,
    UnknownSymbolError,
    UnsupportedLevelError,
    ZvtUnavailableError,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: errors meaning "the command cannot run as asked" (exit status 2) rather than "it ran and something failed"
USAGE_ERRORS: tuple[type[BaseException], ...] = (
    UsageError,
    CommandUnavailable,
    ConfigError,
    UnknownSymbolError,
    UnsupportedLevelError,
    InvalidTimeRangeError,
    CapabilityNotSupportedError,
    ZvtUnavailableError,
)

DESCRIPTION = """\
Crypto markets for zvt through ccxt: record markets, candles, trades, funding, order books and open
interest into zvt's store, stream them live, check and repair coverage, export for other tools.
Data goes to $ZVT_HOME/data/ccxt (default ~/zvt-home); set ZVT_HOME to use another store."""

EXAMPLES = """\
examples:
  zvt-ccxt markets --exchange okx --type spot --search btc
  zvt-ccxt record --exchange okx --symbols BTC/USDT,ETH/USDT --level 1h --since 2024-01-01
  zvt-ccxt record --exchange okx --symbols BTC/USDT --level 1h --since 60d --replay okx-backfill  # offline
  zvt-ccxt coverage --exchange okx
  zvt-ccxt repair --exchange okx
  zvt-ccxt stream --exchange binance --symbols BTC/USDT --channels trades,ohlcv,orderbook
  zvt-ccxt capabilities
  zvt-ccxt export --exchange okx --level 1h --format parquet

`zvt-ccxt COMMAND --help` explains each command. Exit status: 0 ok, 1 something failed (a symbol, a
window, a request), 2 the command could not run as asked, 130 interrupted."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line naming the command and where to find help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    from zvt_ccxt import __version__

    parser = _Parser(
        prog=console.PROGRAM,
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"zvt-ccxt {__version__}")
    add_debug_options(parser, top_level=True)
    common = argparse.ArgumentParser(add_help=False)
    add_debug_options(common)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (markets, record, stream, coverage, capabilities, export):
        module.register(subparsers, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 failed, 2 could not run, 130 interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    with console.logging_configured(int(getattr(args, "verbose", 0) or 0), debug):
        return _run(args, debug)


def _run(args: argparse.Namespace, debug: bool) -> int:
    try:
        _load_package()
        return int(args.run(args))
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{console.PROGRAM} {args.command}: interrupted\n")
        return EXIT_INTERRUPTED
    except USAGE_ERRORS as error:
        console.error_line(args.command, error, debug)
        return EXIT_USAGE
    except Exception as error:
        console.error_line(args.command, _described(error, debug), debug)
        return EXIT_FAILED


def _load_package() -> None:
    """zvt, the schemas and the recorders: the zvt-ccxt process defers them until a command runs (so that
    --help, --version and usage errors answer at once); in any other process ``import zvt_ccxt`` did it."""
    import zvt_ccxt

    zvt_ccxt._load()


def _described(error: Exception, debug: bool) -> BaseException:
    """Errors from our own hierarchy speak for themselves; anything else also names its type and --debug."""
    from zvt_ccxt.errors import ZvtCcxtError
    from zvt_ccxt.replay.cassettes import CassetteError

    if isinstance(error, ZvtCcxtError | CassetteError | OSError):
        return error
    text = (str(error).strip().splitlines() or [""])[0]
    hint = "" if debug else " (--debug shows the traceback)"
    return RuntimeError(f"{type(error).__name__}: {text}{hint}")
