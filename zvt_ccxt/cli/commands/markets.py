"""``zvt-ccxt markets``: record an exchange's spot pairs and perpetuals as zvt entities and list them."""

from __future__ import annotations

import argparse

from zvt_ccxt.cli.common import ENTITY_TYPES, add_exchange_option, add_replay_option, add_type_option, exchange_traffic
from zvt_ccxt.cli.messages import one_line
from zvt_ccxt.cli.tables import render_frame

EXAMPLES = """\
examples:
  zvt-ccxt markets --exchange okx                      # spot pairs and perpetuals
  zvt-ccxt markets --exchange binance --type perp --search btc
  zvt-ccxt markets --exchange okx --replay okx-backfill --limit 0    # offline, every market

Entities land in zvt's store (CryptoPair / CryptoPerp, provider "ccxt"); markets that disappeared
are kept and marked inactive. Use the code or the symbol column with `zvt-ccxt record --symbols`."""

COLUMNS = ["entity_id", "symbol", "market_id", "base", "quote", "settle", "contract_size", "active", "list_date"]


def register(subparsers, parents) -> None:
    parser = subparsers.add_parser(
        "markets",
        parents=parents,
        help="record and list an exchange's spot pairs and perpetuals",
        description="Load an exchange's markets into zvt's entity tables and list them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_exchange_option(parser)
    add_type_option(parser, "only spot pairs or only perpetuals (default: both)")
    parser.add_argument("--search", metavar="TEXT", help="list only symbols containing TEXT (case-insensitive)")
    parser.add_argument("--inactive", action="store_true", help="list delisted (inactive) markets too")
    parser.add_argument("--limit", type=int, default=30, metavar="N", help="rows listed per type (0: all; default 30)")
    add_replay_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from zvt_ccxt import store
    from zvt_ccxt.domain import ENTITY_SCHEMAS

    types = [ENTITY_TYPES[args.type]] if args.type else list(ENTITY_TYPES.values())
    failed = False
    listings = []
    with exchange_traffic(args.replay):
        for entity_type in types:
            schema = ENTITY_SCHEMAS[entity_type]
            summary = schema.record_data(provider="ccxt", exchange=args.exchange)
            if not summary.ok:
                failed = True
                for result in summary.failed:
                    print(f"{args.exchange} {entity_type}: FAILED: {one_line(result.error)}")
                continue
            frame = store.entities.frame(schema, args.exchange)
            listings.append((entity_type, frame, _listed(args, frame)))
    if args.search and listings and all(listed.empty for _, _, listed in listings):
        counts = ", ".join(f"{len(frame):,} {_kind(entity_type)}" for entity_type, frame, _ in listings)
        hint = "" if args.inactive else "; --inactive searches delisted markets too"
        print(f"no market on {args.exchange} matches {args.search!r} (of {counts}{hint})")
    else:
        for entity_type, frame, listed in listings:
            _show(args, entity_type, frame, listed)
    return 1 if failed else 0


def _kind(entity_type: str) -> str:
    return "perpetuals" if entity_type == "cryptoperp" else "spot pairs"


def _listed(args: argparse.Namespace, frame):
    """The markets the command lists: active ones (all with --inactive) whose symbol contains --search."""
    listed = frame
    if not args.inactive and len(listed):
        listed = listed[listed["active"] != False]  # noqa: E712 (a column, not a bool)
    if args.search and len(listed):
        listed = listed[listed["symbol"].str.contains(args.search, case=False, regex=False)]
    return listed


def _show(args: argparse.Namespace, entity_type: str, frame, listed) -> None:
    total = len(frame)
    inactive = int((frame["active"] == False).sum()) if total else 0  # noqa: E712
    header = f"{args.exchange}: {total:,} {_kind(entity_type)} ({inactive:,} inactive)"
    if listed.empty:
        print(f"{header}; none matches {args.search!r}" if args.search and total else header)
        return
    print(header)
    shown = listed if args.limit <= 0 else listed.head(args.limit)
    columns = [c for c in COLUMNS if c in shown.columns]
    print(render_frame(shown, columns))
    if len(shown) < len(listed):
        print(f"... {len(listed) - len(shown):,} more (--limit 0 lists all, --search narrows)")
    print()
