"""``zvt-ccxt record``: backfill klines (or trades, funding, order books, open interest) with live progress."""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
from typing import TYPE_CHECKING

from zvt_ccxt import levels
from zvt_ccxt.cli import console
from zvt_ccxt.cli.common import (
    EXIT_INTERRUPTED,
    INTERRUPTED_NOTE,
    UsageError,
    add_exchange_option,
    add_replay_option,
    add_type_option,
    exchange_traffic,
    group_by_entity_type,
    parse_time,
    split_list,
    synthetic_note,
)
from zvt_ccxt.cli.progress import MODES, ProgressBoard
from zvt_ccxt.cli.summaries import RunOutcome, kdata_gaps, outcome_table, totals_line
from zvt_ccxt.config import REPLAY_ENV

if TYPE_CHECKING:
    from zvt_ccxt.domain.schema import Schema

#: --data value -> schema name in zvt_ccxt.domain; "klines" (the default) is the kdata schema of the level
DATA_SCHEMAS = {
    "trades": "CryptoTrade",
    "funding": "CryptoFunding",
    "orderbook": "CryptoOrderbook",
    "oi": "CryptoOpenInterest",
}
DATA_CHOICES = ["klines", *DATA_SCHEMAS]

EXAMPLES = """\
examples:
  zvt-ccxt record --exchange okx --symbols BTC/USDT,ETH/USDT --level 1h --since 2024-01-01
  zvt-ccxt record --exchange binance --symbols BTC/USDT:USDT --level 1d            # a perpetual, from its listing
  zvt-ccxt record --exchange okx --symbols BTC/USDT --level 1h --since 60d --replay okx-backfill   # offline
  zvt-ccxt record --exchange okx --symbols btcusdt --type perp --data funding
  zvt-ccxt record --exchange binance --symbols BTC/USDT --data trades --since 6h     # every trade: hours, not years
  zvt-ccxt record --exchange binance --symbols BTC/USDT --data trades --since 1h --until 0h --replay binance-market-data
  zvt-ccxt record --exchange okx --symbols BTC/USDT:USDT --data oi --since 240h --period 1h

A second run fetches only what is new (and windows that failed). Codes (btcusdt) and ccxt symbols (BTC/USDT)
are both accepted; BASE/QUOTE:SETTLE symbols are perpetuals, others spot unless --type says so.
Ctrl-C or SIGTERM stops it cleanly: what was fetched is stored (at most the page in flight is lost per symbol),
coverage stays exact, the table marks the symbols cut short `interrupted`; the same command continues.
Add --scheduler tcp://HOST:8786 (a Dask cluster) or --scheduler local:4 (four worker processes here) to record
as jobs, one per symbol and window, into the shared store (docs/cluster.md).
exit status: 0 all recorded, 1 a symbol or window failed (see the table; rerun or `zvt-ccxt repair`),
2 the command could not run as asked, 130 interrupted."""


def register(subparsers, parents) -> None:
    parser = subparsers.add_parser(
        "record",
        parents=parents,
        help="backfill candles, trades, funding, order books or open interest into zvt's store",
        description="Backfill data into zvt's store with a live progress line per symbol and a summary table.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_exchange_option(parser)
    parser.add_argument(
        "--symbols", "-s", action="append", metavar="LIST", help="comma-separated ccxt symbols or codes (repeatable)"
    )
    parser.add_argument("--all", action="store_true", help="every market of --type on the exchange (careful: many)")
    parser.add_argument("--data", "-d", choices=DATA_CHOICES, default="klines", help="what to record")
    parser.add_argument(
        "--level", "-l", default="1h", choices=levels.BAR_LEVELS, help="bar level for klines (default: 1h)"
    )
    parser.add_argument("--since", metavar="WHEN", help="start: 2024-01-01, 2024-01-01T12:00 (UTC), or 60d / 12h / 2w")
    parser.add_argument("--until", metavar="WHEN", help="end (exclusive), same forms; default: now")
    add_type_option(parser, "spot pairs or perpetuals (default: perpetual for BASE/QUOTE:SETTLE symbols, else spot)")
    parser.add_argument("--period", metavar="LEVEL", help="open interest bucket, e.g. 5m, 1h, 1d (oi; default 1h)")
    parser.add_argument("--depth", type=int, metavar="N", help="order book levels per side (orderbook; default 20)")
    parser.add_argument(
        "--processes",
        type=_count,
        metavar="N",
        help="klines: split the symbols over N processes (forked; one rate limit for all). Default: one per CPU "
        "core, at most one per symbol",
    )
    parser.add_argument(
        "--workers",
        type=_count,
        metavar="N",
        help=f"klines: symbols each process records at once (threads; default {DEFAULT_TOTAL_WORKERS} over all "
        "processes, at most one per symbol): many over a slow link",
    )
    parser.add_argument(
        "--progress", choices=MODES, default="auto", help="auto: a live bar on a terminal, plain lines elsewhere"
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run as jobs on a Dask cluster: its scheduler (tcp://host:8786), or local:N for N worker processes "
        "here (needs the cluster extra; see docs/cluster.md)",
    )
    add_replay_option(parser)
    parser.set_defaults(run=run)


#: symbols recorded at once over all processes by default: a 50-100 ms round trip needs about 8 to use a
#: typical request limit (binance: 50 klines requests a second)
DEFAULT_TOTAL_WORKERS = 8


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _parallelism(args: argparse.Namespace, symbols: int) -> dict:
    """``processes`` and ``workers`` for a klines run of ``symbols`` symbols: as asked, else one process per core
    and ``DEFAULT_TOTAL_WORKERS`` symbols at once in all, never more of either than symbols. A replay stays in
    one process (its recorded answers are served in the order they were asked)."""
    if symbols < 2:
        return {}
    if getattr(args, "replay", None) or os.environ.get(REPLAY_ENV):
        processes = 1
    else:
        processes = args.processes or min(os.cpu_count() or 1, symbols)
    processes = min(processes, symbols)
    workers = args.workers or -(-min(symbols, DEFAULT_TOTAL_WORKERS) // processes)
    return {"processes": processes, "workers": min(workers, -(-symbols // processes))}


def _recorder_takes(schema: Schema, name: str) -> bool:
    recorder = getattr(schema, "provider_map_recorder", {}).get("ccxt")
    if recorder is None:
        return False
    # a recorder's own options are the parameters of its ``configure``
    try:
        parameters = inspect.signature(recorder.configure).parameters
    except (AttributeError, TypeError, ValueError):
        return False
    return name in parameters


def _plan(args: argparse.Namespace, symbols: list[str]) -> list[tuple[Schema, str, dict]]:
    """(schema, label, keyword arguments) for each ``record_data`` call the command makes."""
    from zvt_ccxt import domain

    common = {"provider": "ccxt", "exchange": args.exchange}
    if args.data == "klines":
        if args.all:
            groups: dict[str, list[str]] = {"cryptoperp" if args.type == "perp" else "cryptopair": []}
        else:
            groups = group_by_entity_type(symbols, args.type)
        plan = []
        for entity_type, group in groups.items():
            schema = domain.kdata_schema(entity_type, args.level)
            kind = "perp" if entity_type == "cryptoperp" else "spot"
            plan.append((schema, f"{args.level} {kind}", {**common, **({"symbols": group} if group else {})}))
        return plan
    schema = getattr(domain, DATA_SCHEMAS[args.data])
    kwargs = {**common, **({"symbols": symbols} if symbols else {})}
    if args.type == "perp":
        kwargs["market"] = "perp"
    if args.period and args.data == "oi":
        kwargs["period"] = args.period
    if args.depth and args.data == "orderbook":
        kwargs["depth"] = args.depth
    return [(schema, args.data, kwargs)]


def run(args: argparse.Namespace) -> int:
    symbols = split_list(args.symbols)
    if not symbols and not args.all:
        raise UsageError("say which markets: --symbols BTC/USDT,ETH/USDT (or --all for every market of --type)")
    scheduler = getattr(args, "scheduler", None)
    if scheduler and args.replay:
        raise UsageError("--scheduler and --replay do not go together: workers record from the exchanges")
    started = time.monotonic()
    outcomes: list[RunOutcome] = []
    with exchange_traffic(args.replay):
        from zvt_ccxt import interrupts, provenance

        source = provenance.current()
        since, until = parse_time(args.since), parse_time(args.until)
        with ProgressBoard(sys.stderr, args.progress) as board, interrupts.handled():
            console.attach_board(board)
            try:
                for schema, label, kwargs in _plan(args, symbols):
                    if interrupts.requested():
                        break
                    if since is not None:
                        kwargs["start_timestamp"] = since
                    if until is not None:
                        kwargs["end_timestamp"] = until
                    if scheduler:
                        from zvt_ccxt.cli.cluster_progress import ClusterProgressLine

                        kwargs["scheduler"] = scheduler
                        kwargs["on_update"] = ClusterProgressLine(sys.stderr, args.progress)
                    elif _recorder_takes(schema, "progress"):
                        kwargs["progress"] = board.tracker(f"{args.exchange} {label}")
                    if not scheduler and _recorder_takes(schema, "processes"):
                        kwargs.update(_parallelism(args, len(kwargs.get("symbols") or ())))
                    summary = schema.record_data(**kwargs)
                    board.finish_all()
                    if summary is None:
                        continue
                    ids = [r.entity_id for r in summary.results]
                    outcomes.append(RunOutcome(label, summary, kdata_gaps(schema, ids)))
            finally:
                console.attach_board(None)
            interrupted = interrupts.requested()
    print(outcome_table(outcomes))
    print(totals_line(outcomes, time.monotonic() - started))
    note = synthetic_note(source, getattr(args, "synthetic_home", None))
    if note:
        print(note)
    if any(o.summary.interrupted for o in outcomes) or interrupted:
        print(INTERRUPTED_NOTE)
        return EXIT_INTERRUPTED
    return 0 if all(o.ok for o in outcomes) else 1
