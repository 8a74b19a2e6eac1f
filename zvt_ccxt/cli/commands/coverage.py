"""``zvt-ccxt coverage`` and ``zvt-ccxt repair``: gaps per (entity, level), and re-fetching what failed."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from zvt_ccxt import levels
from zvt_ccxt.cli.common import (
    ENTITY_TYPES,
    EXIT_INTERRUPTED,
    INTERRUPTED_NOTE,
    add_exchange_option,
    add_replay_option,
    add_type_option,
    exchange_traffic,
    split_list,
    synthetic_note,
)
from zvt_ccxt.cli.summaries import RunOutcome, kdata_gaps, outcome_table, totals_line
from zvt_ccxt.cli.tables import render_frame

if TYPE_CHECKING:
    import pandas as pd

    from zvt_ccxt.domain.schema import Schema

COVERAGE_EXAMPLES = """\
examples:
  zvt-ccxt coverage                                   # everything recorded, every exchange and level
  zvt-ccxt coverage --exchange okx --level 1h --symbols BTC/USDT
  zvt-ccxt coverage --exchange binance --check        # exit status 1 when anything is failed or unknown

columns: bars stored / expected over every range ever requested; no-trading: bars the exchange had no
trades for (fetched, nothing came back); empty: before listing / after delisting; failed: inside windows
whose request failed; unknown: never requested inside the span. source: where the windows' data came from,
live (the exchange), replay (a cassette) or simulator; a live run fetches replayed or simulated windows again.
`zvt-ccxt repair` re-fetches failed and unknown. Series of trades, funding, open interest and order books,
recorded or streamed, have a table of their own (windows, failed and unknown ranges, source), and their failed
and unknown ranges are listed below it; order books have no unknown ranges (no past book can be fetched) and a
failed snapshot counts until a later snapshot succeeds.
For alarms: run `coverage --check` after each recording (cron, a monitoring probe): exit status 1 whenever
anything requested is failed (whatever the error) or unknown, 0 when everything requested is complete."""

REPAIR_EXAMPLES = """\
examples:
  zvt-ccxt repair                                     # every exchange, level and symbol with failed or unknown bars
  zvt-ccxt repair --exchange binance                  # only binance
  zvt-ccxt repair --exchange okx --level 1h --symbols BTC/USDT
  zvt-ccxt repair --exchange okx --replay okx-backfill

Only failed and unknown windows inside what was already requested are fetched: no new bars.
exit status: 0 nothing left to repair, 1 something still failed, 2 the command could not run as asked."""

COLUMNS = [
    "entity_id",
    "level",
    "requested_from",
    "requested_to",
    "bars",
    "expected_bars",
    "no_trading_bars",
    "empty_bars",
    "failed_bars",
    "unknown_bars",
    "source",
]


def _filters(parser: argparse.ArgumentParser) -> None:
    add_exchange_option(parser, required=False, help_text="ccxt exchange id (default: every exchange)")
    parser.add_argument("--level", "-l", choices=levels.BAR_LEVELS, help="only this bar level (default: all)")
    add_type_option(parser, "only spot pairs or only perpetuals (default: both)")
    parser.add_argument("--symbols", "-s", action="append", metavar="LIST", help="comma-separated symbols or codes")


def register(subparsers, parents) -> None:
    coverage = subparsers.add_parser(
        "coverage",
        parents=parents,
        help="show bars stored vs expected and the gaps per (entity, level)",
        description="Coverage of recorded klines per (entity, level), from the windows every run accounted for.",
        epilog=COVERAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _filters(coverage)
    coverage.add_argument(
        "--check",
        action="store_true",
        help="for alarms: exit status 1 if any bar (or range of trades, funding, open interest, books) requested is "
        "failed or unknown, 0 when everything requested is complete",
    )
    coverage.set_defaults(run=run_coverage)

    repair = subparsers.add_parser(
        "repair",
        parents=parents,
        help="re-fetch the failed and unknown windows that coverage reports",
        description="Re-fetch failed and unknown windows inside the ranges already requested.",
        epilog=REPAIR_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _filters(repair)
    add_replay_option(repair)
    repair.set_defaults(run=run_repair)


def _schemas(args: argparse.Namespace) -> list[Schema]:
    from zvt_ccxt.domain import kdata_schema

    types = [ENTITY_TYPES[args.type]] if args.type else list(ENTITY_TYPES.values())
    chosen = [args.level] if args.level else list(levels.BAR_LEVELS)
    return [kdata_schema(entity_type, level) for entity_type in types for level in chosen]


def _reports(args: argparse.Namespace) -> list[tuple[Schema, pd.DataFrame]]:
    from zvt_ccxt.api import coverage_report

    symbols = split_list(args.symbols)
    found = []
    for schema in _schemas(args):
        # symbols and codes resolve by the stored entities of the schema's type (BTC/USDT:USDT names no pair)
        report = coverage_report(schema, exchange=args.exchange, codes=symbols or None)
        if not report.empty:
            found.append((schema, report))
    return found


def _nothing_recorded(args: argparse.Namespace) -> str:
    """Nothing matches the filters: say so, and what is recorded instead (if anything is)."""
    where = f" on {args.exchange}" if args.exchange else ""
    unfiltered = argparse.Namespace(exchange=args.exchange, level=None, type=None, symbols=None)
    recorded = _reports(unfiltered) if (args.level or args.type or args.symbols) else []
    if not recorded:
        return f"nothing recorded{where} yet: run `zvt-ccxt record` first"
    asked = [
        f" for {', '.join(split_list(args.symbols))}" if args.symbols else "",
        f" as {'perpetuals' if args.type == 'perp' else 'spot pairs'}" if args.type else "",
        f" at {args.level}" if args.level else "",
    ]
    series = [
        f"{schema.level_value} {'perp' if schema.__tablename__.startswith('cryptoperp') else 'spot'}"
        f" ({len(report)} series)"
        for schema, report in recorded
    ]
    return f"nothing recorded{''.join(asked)}{where}; recorded{where}: {', '.join(series)}"


def _to_repair(report: pd.DataFrame) -> list[str]:
    if "failed_bars" not in report:
        return []
    needs = report["failed_bars"].fillna(0).astype(int) + report["unknown_bars"].fillna(0).astype(int)
    return list(report.loc[needs > 0, "entity_id"])


MARKET_DATA_COLUMNS = [
    "entity_id",
    "data",
    "requested_from",
    "requested_to",
    "windows",
    "failed_ranges",
    "unknown_ranges",
    "source",
]


def _market_data(args: argparse.Namespace) -> pd.DataFrame | None:
    """Series of trades, funding, open interest and order books (recorded or streamed), None with --level (which
    names bars)."""
    if args.level:
        return None
    from zvt_ccxt.api import market_data_coverage

    frame = market_data_coverage(args.exchange)
    if args.type and not frame.empty:
        frame = frame[frame["entity_id"].str.startswith(ENTITY_TYPES[args.type])]
    if args.symbols and not frame.empty:
        from zvt_ccxt.backfill.instruments import stored_ids

        ids = list(dict.fromkeys(frame["entity_id"]))
        wanted = split_list(args.symbols)
        named = {e for entity_type in {i.split("_", 1)[0] for i in ids}
                 for e in stored_ids(entity_type, [i for i in ids if i.startswith(f"{entity_type}_")], wanted)}
        frame = frame[frame["entity_id"].isin(named)]
    return frame


def _market_data_problems(frame: pd.DataFrame | None) -> list[str]:
    """Lines for the failed and unknown ranges of trades, funding, open interest and order books."""
    lines = []
    for row in [] if frame is None else frame.to_dict("records"):
        for kind in ("failed", "unknown"):
            for start, end in row[f"{kind}_ranges"]:
                lines.append(f"  {row['entity_id']} {row['data_table']}: {kind} {start} .. {end}")
    return lines


def _market_data_table(frame: pd.DataFrame) -> str:
    shown = frame.assign(
        data=frame["data_table"],
        failed_ranges=[len(r) for r in frame["failed_ranges"]],
        unknown_ranges=[len(r) for r in frame["unknown_ranges"]],
    )
    return render_frame(shown, MARKET_DATA_COLUMNS)


def run_coverage(args: argparse.Namespace) -> int:
    import pandas as pd

    reports = _reports(args)
    market_data = _market_data(args)
    other = _market_data_problems(market_data)
    series = market_data if market_data is not None and not market_data.empty else None
    if not reports:
        if series is None:
            print(_nothing_recorded(args))
            return 0
        print(_market_data_table(series))
        for line in other:
            print(line)
        print(f"{len(series)} series of trades, funding, open interest or books; "
              f"{len(other)} failed or unknown ranges")
        return 1 if args.check and other else 0
    frame = pd.concat([report for _, report in reports], ignore_index=True)
    for column in COLUMNS:
        if column not in frame:
            frame[column] = None
    print(render_frame(frame, COLUMNS))
    broken = frame[frame["failed_bars"].fillna(0).gt(0) | frame["unknown_bars"].fillna(0).gt(0)]
    for row in broken.to_dict("records"):
        ranges = [("failed", r) for r in row.get("failed_ranges") or []]
        ranges += [("unknown", r) for r in row.get("unknown_ranges") or []]
        for kind, (start, end) in ranges:
            print(f"  {row['entity_id']} {row['level']}: {kind} {start} .. {end}")
    if series is not None:
        print()
        print(_market_data_table(series))
    for line in other:
        print(line)
    print(
        f"{len(frame)} series; {len(broken)} with failed or unknown bars"
        + (" (fix with `zvt-ccxt repair`)" if len(broken) else "")
        + (f"; {len(other)} failed or unknown ranges of trades, funding, open interest or books" if other else "")
    )
    return 1 if args.check and (len(broken) or other) else 0


def run_repair(args: argparse.Namespace) -> int:
    from zvt_ccxt.api import repair

    started = time.monotonic()
    outcomes: list[RunOutcome] = []
    with exchange_traffic(args.replay):
        from zvt_ccxt import interrupts, provenance

        source = provenance.current()
        with interrupts.handled():
            for schema, report in _reports(args):
                entity_ids = _to_repair(report)
                if not entity_ids:
                    continue
                summary = repair(schema, entity_ids=entity_ids)
                label = f"{schema.level_value} {'perp' if schema.__tablename__.startswith('cryptoperp') else 'spot'}"
                outcomes.append(RunOutcome(label, summary, kdata_gaps(schema, entity_ids)))
                if interrupts.requested():
                    break
            interrupted = interrupts.requested()
    if not outcomes:
        print(f"nothing to repair on {args.exchange}" if args.exchange else "nothing to repair")
        return 0
    print(outcome_table(outcomes))
    print(totals_line(outcomes, time.monotonic() - started))
    note = synthetic_note(source, getattr(args, "synthetic_home", None))
    if note:
        print(note)
    if interrupted:
        print(INTERRUPTED_NOTE)
        return EXIT_INTERRUPTED
    return 0 if all(o.ok for o in outcomes) else 1
