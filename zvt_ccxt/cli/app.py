"""The ``zvt-ccxt`` entry point: builds the parser from the command modules and turns errors into one line."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

from zvt_ccxt.cli import console
from zvt_ccxt.cli.commands import (
    capabilities,
    coverage,
    export,
    markets,
    migrate,
    record,
    simulate,
    stream,
    stream_status,
)
from zvt_ccxt.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CommandUnavailable,
    UsageError,
    add_debug_options,
    keep_synthetic_apart,
)
from zvt_ccxt.cli.messages import one_line
from zvt_ccxt.config import CONFIG_FILE_NAME, DB_URL_ENV, DB_URL_KEY, normalise_database_url
from zvt_ccxt.errors import (
    CapabilityNotSupportedError,
    ConfigError,
    InvalidTimeRangeError,
    UnknownSymbolError,
    UnsupportedLevelError,
    ZvtUnavailableError,
)

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
  zvt-ccxt migrate --to postgresql://zvt@db.example:5432/market
  zvt-ccxt simulate                        # local exchanges (synthetic) to try record and stream offline

`zvt-ccxt COMMAND --help` explains each command. Errors are one line; --debug adds the traceback.

exit status (every command):
  0    ok
  1    something failed: a symbol, a window or a request (the summary says which); coverage --check:
       failed or unknown bars or ranges (an interrupted run's unfetched range is unknown)
  2    the command could not run as asked: usage, unknown exchange, symbol or level, unsupported data,
       a missing, unreadable or malformed cassette, zvt not installed
  130  interrupted: Ctrl-C or SIGTERM (record and repair store what was fetched, mark the rest interrupted and
       print the summary; stream flushes what it buffered; simulate stops)"""


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
    add_database_option(parser, top_level=True)
    common = argparse.ArgumentParser(add_help=False)
    add_debug_options(common)
    add_database_option(common)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (markets, record, stream, stream_status, coverage, capabilities, export, migrate, simulate):
        module.register(subparsers, [common])
    return parser


def add_database_option(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """``--db-url``, before or after the command name (on subcommands it defaults to SUPPRESS so the top-level
    value survives)."""
    parser.add_argument(
        "--db-url",
        metavar="URL",
        type=_database_url_argument,
        default=None if top_level else argparse.SUPPRESS,
        help=(
            "the store's database, postgresql://user@host:port/db or sqlite:///file.db (default: zvt's SQLite "
            f"files under $ZVT_HOME); wins over ${DB_URL_ENV} and {DB_URL_KEY!r} in $ZVT_HOME/{CONFIG_FILE_NAME}. "
            "A password here shows in the process list: prefer those or ~/.pgpass"
        ),
    )


def _database_url_argument(value: str) -> str:
    try:
        return normalise_database_url(value)
    except ConfigError as error:  # argparse's own message would quote the value, password included
        raise argparse.ArgumentTypeError(str(error)) from None


@contextlib.contextmanager
def _database_url_set(url: str | None) -> Iterator[None]:
    """``--db-url`` as ``ZVT_CCXT_DB_URL`` for the command, so every part of the store sees it; the previous value
    comes back afterwards (``main`` also runs inside other programs and tests)."""
    if url is None:
        yield
        return
    previous = os.environ.get(DB_URL_ENV)
    os.environ[DB_URL_ENV] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(DB_URL_ENV, None)
        else:
            os.environ[DB_URL_ENV] = previous


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
    with _database_url_set(getattr(args, "db_url", None)):
        with console.logging_configured(int(getattr(args, "verbose", 0) or 0), debug):
            return _run(args, debug)


def _run(args: argparse.Namespace, debug: bool) -> int:
    try:
        args.synthetic_home = keep_synthetic_apart(args)
        if getattr(args, "load_package", True):
            _load_package()
        return int(args.run(args))
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{console.PROGRAM} {args.command}: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as error:
        if _is_usage_error(error):
            console.error_line(args.command, error, debug)
            return EXIT_USAGE
        console.error_line(args.command, error, debug, message=_described(error, debug))
        return EXIT_FAILED


def _load_package() -> None:
    """zvt, the schemas and the recorders: the zvt-ccxt process defers them until a command runs (so that
    --help, --version and usage errors answer at once); in any other process ``import zvt_ccxt`` did it."""
    import zvt_ccxt

    zvt_ccxt._load()


def _cassette_error() -> type[BaseException] | None:
    """``CassetteError`` if the cassette module is loaded (no replay, no cassette error; vcrpy is optional)."""
    module = sys.modules.get("zvt_ccxt.replay.cassettes")
    return getattr(module, "CassetteError", None)


def _is_usage_error(error: BaseException) -> bool:
    """Asked for something that cannot be done, or given a cassette that is missing, unreadable or malformed."""
    cassette_error = _cassette_error()
    return isinstance(error, USAGE_ERRORS) or (cassette_error is not None and isinstance(error, cassette_error))


def _described(error: Exception, debug: bool) -> str:
    """Errors from our own hierarchy speak for themselves, and so does a cassette without an answer; anything
    else also names its type and --debug."""
    from zvt_ccxt.errors import ZvtCcxtError

    text = one_line(error, limit=console.LOG_LIMIT)
    if isinstance(error, ZvtCcxtError | OSError) or text.startswith("cassette "):
        return text
    hint = "" if debug else " (--debug shows the traceback)"
    return f"{type(error).__name__}: {text}{hint}"
