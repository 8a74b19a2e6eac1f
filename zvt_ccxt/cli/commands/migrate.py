"""``zvt-ccxt migrate``: copy the store (rows and the coverage ledger) into another database, resumably and
verified by count and checksum per table."""

from __future__ import annotations

import argparse
import sys

from zvt_ccxt.cli.common import EXIT_FAILED

EXAMPLES = """\
examples:
  zvt-ccxt migrate --to postgresql://zvt@db.example:5432/market     # the SQLite files under $ZVT_HOME -> PostgreSQL
  zvt-ccxt migrate --to sqlite:///zvt-ccxt-backup.db                 # everything into one SQLite file

Copies every table of the "ccxt" provider from the store in use (zvt's SQLite files under $ZVT_HOME, or --db-url)
into --to, creating its tables and indexes; a batch is one transaction. Interrupted, the next run with the same
--to resumes where it stopped (--fresh starts over). At the end each table's row count and checksum are read on
both sides and printed; any difference exits 1. Point the store at the copy afterwards: ZVT_CCXT_DB_URL=URL."""


def register(subparsers, parents) -> None:
    parser = subparsers.add_parser(
        "migrate",
        parents=parents,
        help="copy the store into PostgreSQL (or another database), resumably and verified",
        description="Copy every stored row and the coverage ledger into another database, then verify the copy.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--to", required=True, metavar="URL", help="the database to copy into (postgresql://...)")
    parser.add_argument("--fresh", action="store_true", help="ignore an interrupted copy's checkpoint and start over")
    parser.add_argument("--batch-rows", type=int, default=20_000, metavar="N", help="rows per transaction")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from zvt_ccxt.cli.common import UsageError
    from zvt_ccxt.config import redact_database_url
    from zvt_ccxt.store import migrate

    if args.batch_rows < 1:
        raise UsageError(f"--batch-rows must be at least 1, not {args.batch_rows}")

    def progress(table: str, copied: int) -> None:
        sys.stderr.write(f"\r{table}: {copied:,} rows copied\x1b[K")
        sys.stderr.flush()

    outcomes = migrate.migrate(args.to, fresh=args.fresh, batch_rows=args.batch_rows, progress=progress)
    sys.stderr.write("\r\x1b[K")
    width = max(len(o.table) for o in outcomes)
    print(f"copied into {redact_database_url(args.to)}")
    print(f"{'table':<{width}}  {'copied':>10}  {'source rows':>11}  {'target rows':>11}  "
          f"{'source checksum':<16}  {'target checksum':<16}  check")
    for o in outcomes:
        print(f"{o.table:<{width}}  {o.copied:>10,}  {o.source_rows:>11,}  {o.target_rows:>11,}  "
              f"{o.source_checksum:<16}  {o.target_checksum:<16}  {'ok' if o.verified else 'DIFFERS'}")
    differing = [o.table for o in outcomes if not o.verified]
    if differing:
        print(f"{len(differing)} tables differ: {', '.join(differing)} (rows written to the target meanwhile, or"
              " the source changed: run again with --fresh)")
        return EXIT_FAILED
    print(f"verified: {len(outcomes)} tables, {sum(o.source_rows for o in outcomes):,} rows")
    return 0
