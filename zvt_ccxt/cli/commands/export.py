"""``zvt-ccxt export``: stored klines (or trades, funding, order books, open interest) to parquet or CSV."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from zvt_ccxt import levels
from zvt_ccxt.cli.commands.record import DATA_CHOICES, DATA_SCHEMAS
from zvt_ccxt.cli.common import (
    ENTITY_TYPES,
    CommandUnavailable,
    UsageError,
    add_exchange_option,
    add_type_option,
    parse_time,
    split_list,
)

EXAMPLES = """\
examples:
  zvt-ccxt export --exchange okx --level 1h                         # ./okx_cryptopair_1h.csv
  zvt-ccxt export --exchange okx --level 1h --symbols BTC/USDT --format parquet --out btc.parquet
  zvt-ccxt export --exchange binance --data trades --since 2024-06-01 --format parquet

Reads zvt's store only (no exchange traffic). Timestamps are written as UTC (kdata: the bar's open time);
parquet needs pyarrow (`pip install pyarrow`)."""

if TYPE_CHECKING:
    import pandas as pd

DROPPED = ("created_timestamp",)
#: columns written first, in this order, where the data has them
LEADING = ("entity_id", "timestamp", "code", "name", "level", "open", "high", "low", "close", "volume", "turnover")


def register(subparsers, parents) -> None:
    parser = subparsers.add_parser(
        "export",
        parents=parents,
        help="write stored data to parquet or CSV for use outside zvt",
        description="Export stored data of one exchange to a parquet or CSV file.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_exchange_option(parser)
    parser.add_argument("--data", "-d", choices=DATA_CHOICES, default="klines", help="what to export")
    parser.add_argument("--level", "-l", default="1h", choices=levels.BAR_LEVELS, help="bar level for klines")
    add_type_option(parser, "spot pairs or perpetuals (klines default: spot; other data: both)")
    parser.add_argument("--symbols", "-s", action="append", metavar="LIST", help="comma-separated symbols or codes")
    parser.add_argument("--since", metavar="WHEN", help="first timestamp (UTC), or 60d / 12h / 2w")
    parser.add_argument("--until", metavar="WHEN", help="end (exclusive)")
    parser.add_argument("--format", "-f", choices=("csv", "parquet"), default="csv", help="file format (default csv)")
    parser.add_argument("--out", "-o", type=Path, metavar="PATH", help="output file (default: named after the data)")
    parser.set_defaults(run=run)


def _query(args: argparse.Namespace) -> tuple[pd.DataFrame, str]:
    from zvt_ccxt import domain, store
    from zvt_ccxt.backfill.instruments import stored_codes

    symbols = split_list(args.symbols)
    if args.data == "klines":
        entity_types = [ENTITY_TYPES[args.type or "spot"]]
        schema = domain.kdata_schema(entity_types[0], args.level)
        name = f"{args.exchange}_{entity_types[0]}_{args.level}"
    else:
        entity_types = [ENTITY_TYPES[args.type]] if args.type else list(ENTITY_TYPES.values())
        schema = getattr(domain, DATA_SCHEMAS[args.data])
        name = f"{args.exchange}_{schema.__tablename__}"
    entity_ids = None
    if symbols:
        entity_ids = [
            f"{entity_type}_{args.exchange}_{code}"
            for entity_type in entity_types
            for code in stored_codes(entity_type, args.exchange, symbols)
        ]
    prefixes = [f"{entity_type}_{args.exchange}_" for entity_type in entity_types]
    frame = store.reads.frame(schema, entity_ids, prefixes, parse_time(args.since), parse_time(args.until))
    table_order = [c.name for c in schema.__table__.columns if c.name in frame.columns and c.name not in DROPPED]
    leading = [c for c in LEADING if c in table_order]
    order = leading + [c for c in table_order if c not in leading and c != "id"] + ["id"] * ("id" in table_order)
    frame = frame[order].reset_index(drop=True)
    if "entity_id" in frame and not frame.empty:
        frame = frame.sort_values(["entity_id", "timestamp"], kind="stable").reset_index(drop=True)
    return frame, name


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    frame, name = _query(args)
    if frame.empty:
        raise UsageError(f"nothing stored for {name.replace('_', ' ')}: run `zvt-ccxt record` first")
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]) and frame[column].dt.tz is None:
            frame[column] = frame[column].dt.tz_localize("UTC")
    out = args.out or Path(f"{name}.{args.format}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CommandUnavailable("parquet needs pyarrow: pip install pyarrow (or use --format csv)") from None
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    first, last = frame["timestamp"].min(), frame["timestamp"].max()
    entities = frame["entity_id"].nunique() if "entity_id" in frame else 0
    print(f"wrote {len(frame):,} rows of {entities} entities ({first} .. {last}) to {out}")
    return 0
