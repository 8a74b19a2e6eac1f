"""What several commands share: argument parsing helpers, cassette lookup, time arguments, entity types."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from zvt_ccxt import clock, levels, provenance
from zvt_ccxt.codes import PERP, SPOT, named_entity_type
from zvt_ccxt.config import DB_URL_ENV, REPLAY_ENV, zvt_home
from zvt_ccxt.errors import ZvtCcxtError

#: exit statuses of every command: ran fine; something failed (a symbol, a window, a request); the command
#: could not run as asked (usage, unknown exchange/symbol/level, a missing or unreadable cassette); stopped by
#: Ctrl-C (or SIGTERM)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: printed after a recording run that SIGINT/SIGTERM cut short
INTERRUPTED_NOTE = "interrupted: what was fetched is stored and its coverage saved; run the command again to continue"

#: what ``--type`` accepts -> zvt entity type
ENTITY_TYPES = {"spot": SPOT, "perp": PERP}

_RELATIVE = re.compile(r"^(\d+)([hdw])$")
_RELATIVE_UNITS = {"h": ("h", levels.HOUR_MS), "d": ("D", levels.DAY_MS), "w": ("D", levels.WEEK_MS)}


class UsageError(ZvtCcxtError, ValueError):
    """The command line asks for something that cannot be done as written."""


class CommandUnavailable(ZvtCcxtError):
    """A command needs a part of zvt-ccxt (or an optional dependency) this installation lacks."""


def split_list(values: Sequence[str] | str | None) -> list[str]:
    """``--symbols BTC/USDT,ETH/USDT --symbols SOL/USDT`` as one list, in order, without duplicates."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    items = [item.strip() for value in values for item in value.split(",")]
    return list(dict.fromkeys(item for item in items if item))


def resolve_cassette(value: str) -> Path:
    """A cassette path, or the name of a bundled one (``okx-backfill``), as an existing file."""
    from zvt_ccxt.replay.cassettes import CassetteError, locate

    try:
        return locate(value)
    except CassetteError as error:
        raise UsageError(str(error)) from None


@contextlib.contextmanager
def exchange_traffic(cassette: str | None) -> Iterator[None]:
    """Serve exchange traffic from ``cassette`` (clock frozen at its recording instant), else from the network."""
    if not cassette:
        yield
        return
    from zvt_ccxt.replay import replay

    with replay(resolve_cassette(cassette)):
        yield


#: where replayed or simulated data goes, under the user's ZVT_HOME, unless ``--into-store`` asks otherwise
SYNTHETIC_HOME = "synthetic"


def synthetic_source(args: argparse.Namespace) -> str | None:
    """``replay`` or ``simulator`` when this command records synthetic data (``--replay``, ``$ZVT_CCXT_REPLAY``,
    ``$ZVT_CCXT_SOURCE=simulator``), else None."""
    if getattr(args, "replay", None) or os.environ.get(REPLAY_ENV):
        return provenance.REPLAY
    source = provenance.current()
    return source if source in provenance.SYNTHETIC else None


def keep_synthetic_apart(args: argparse.Namespace) -> Path | None:
    """Point this process at ``$ZVT_HOME/synthetic`` (SQLite, whatever database the configuration names) when it
    records replayed or simulated data, so that it never mixes with exchange history; returns that home, or None
    when the data is live, the user asked for a store (``--into-store``, ``--db-url``), or zvt is already loaded
    in this process (``main`` called from Python: the windows are still marked, and a live run replaces them)."""
    if synthetic_source(args) is None or getattr(args, "into_store", False) or getattr(args, "db_url", None):
        return None
    if "zvt" in sys.modules:
        return None
    home = zvt_home()
    if home.name != SYNTHETIC_HOME:  # already the synthetic store (as the note after a run suggests)
        home = home / SYNTHETIC_HOME
    home.mkdir(parents=True, exist_ok=True)
    os.environ["ZVT_HOME"] = str(home)
    os.environ.pop(DB_URL_ENV, None)
    return home


def synthetic_note(source: str, apart: Path | None) -> str | None:
    """The line a command prints after recording or streaming replayed or simulated data (None for live data)."""
    if source not in provenance.SYNTHETIC:
        return None
    what = "replayed from a cassette" if source == provenance.REPLAY else "from the local exchange simulator"
    if apart is not None:
        where = f"stored apart from the live store, under {apart} (to look at it: ZVT_HOME={apart} zvt-ccxt coverage)"
    else:
        where = f"stored with its windows marked {source!r}: a live run fetches them again and replaces them"
    return f"synthetic data ({what}), not exchange history: {where}"


def parse_time(value: str | None) -> int | None:
    """``2024-01-01``, ``2024-01-01T12:00``, ``now``, or relative to now: ``60d`` (days back from today 00:00 UTC),
    ``12h``, ``2w``. Relative values are read at call time, so under a replay they count from its frozen clock."""
    if value is None:
        return None
    text = value.strip().lower()
    if text == "now":
        return clock.now_ms()
    match = _RELATIVE.match(text)
    if match:
        count, unit = int(match.group(1)), match.group(2)
        floor_level = "1h" if unit == "h" else "1d"
        return levels.bar_start(clock.now_ms(), floor_level) - count * _RELATIVE_UNITS[unit][1]
    return levels.to_utc_ms(value)


def entity_type_for(symbol: str, requested: str | None) -> str:
    """The entity type a symbol is recorded as: ``--type`` if given, else the one it names (perp for
    ``BASE/QUOTE:SETTLE``), a spot pair for a bare code."""
    if requested:
        return ENTITY_TYPES[requested]
    return named_entity_type(symbol) or SPOT


def group_by_entity_type(symbols: Sequence[str], requested: str | None) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for symbol in symbols:
        groups.setdefault(entity_type_for(symbol, requested), []).append(symbol)
    return groups


def add_debug_options(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """``--debug`` and ``-v``; on subcommands they default to SUPPRESS so the top-level value survives."""
    default_flag = False if top_level else argparse.SUPPRESS
    default_count = 0 if top_level else argparse.SUPPRESS
    parser.add_argument(
        "--debug", action="store_true", default=default_flag, help="log everything and show tracebacks on errors"
    )
    parser.add_argument("-v", "--verbose", action="count", default=default_count, help="more log lines (-v: info)")


def add_exchange_option(parser: argparse.ArgumentParser, *, required: bool = True, help_text: str = "") -> None:
    parser.add_argument(
        "--exchange", "-e", required=required, metavar="ID", help=help_text or "ccxt exchange id, e.g. okx, binance"
    )


def add_replay_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replay",
        metavar="CASSETTE",
        help="serve exchange traffic from a cassette (a path, or a bundled name like okx-backfill): fully offline; "
        f"what it records goes to $ZVT_HOME/{SYNTHETIC_HOME}, apart from live data",
    )
    parser.add_argument(
        "--into-store",
        action="store_true",
        help="store replayed or simulated data in the store live runs use (marked as such; a live run replaces it)",
    )


def add_type_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--type", "-t", choices=sorted(ENTITY_TYPES), help=help_text)
