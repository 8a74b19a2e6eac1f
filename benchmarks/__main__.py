"""``python -m benchmarks``: run the benchmarks, print their tables, and with ``--write`` save them as BENCHMARKS.md."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time

from benchmarks import backfill_report
from benchmarks.harness import ROOT, Table

SUITES = ("cpu", "rate", "stream", "stream-postgres", "postgres", "cluster", "peers-stream", "peers-backfill")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", choices=SUITES, action="append", help="run only these suites (repeatable)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test of the harness, not figures")
    parser.add_argument("--write", action="store_true", help="write the tables to BENCHMARKS.md")
    args = parser.parse_args()
    chosen = args.only or list(SUITES)
    sizes = backfill_report.QUICK if args.quick else backfill_report.FULL
    started = time.perf_counter()
    tables: list[Table] = []
    if "cpu" in chosen:
        tables += _show(backfill_report.cpu_bound(sizes))
    if "rate" in chosen:
        tables += _show([backfill_report.rate_limited(sizes)])
    if "postgres" in chosen:
        from benchmarks import postgres

        tables += _show([postgres.postgres_backfill(sizes)])
    if "cluster" in chosen:
        from benchmarks import cluster_report

        tables += _show([cluster_report.run(*((10, 2) if args.quick else (100, 30)))])
    if "stream" in chosen:
        from benchmarks import streaming_report

        tables += _show(streaming_report.run(quick=args.quick))
    if "stream-postgres" in chosen and "stream" not in chosen:  # "stream" includes it
        from benchmarks import captures, streaming_report

        if captures.captures_dir() is not None:
            tables += _show([streaming_report.postgres_streams(0.1 if args.quick else 1.0)])
    if "peers-stream" in chosen:
        from benchmarks import peers_stream

        tables += _show(peers_stream.run(quick=args.quick))
    if "peers-backfill" in chosen:
        from benchmarks import peers_backfill

        tables += _show(peers_backfill.run(quick=args.quick))
    elapsed = time.perf_counter() - started
    if args.write:
        command = "python -m benchmarks" + "".join(f" --only {s}" for s in args.only or []) + (
            " --quick" if args.quick else ""
        )
        (ROOT / "BENCHMARKS.md").write_text(_document(tables, command, elapsed))
        print(f"wrote {ROOT / 'BENCHMARKS.md'}")


def _show(tables) -> list[Table]:
    for table in tables:
        print(table.markdown(), end="\n\n", flush=True)
    return list(tables)


def _document(tables: list[Table], command: str, elapsed: float) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    head = [
        "# Benchmarks",
        "",
        "Latest output of the benchmark suite (`benchmarks/`, not part of the test suite). Re-run it with:",
        "",
        "```bash",
        "python3 -m venv .bench-venv && .bench-venv/bin/pip install -q -r benchmarks/requirements-cryptofeed.txt",
        f"{command} --write   # from the repository root, with the project's venv (see benchmarks/README.md)",
        "```",
        "",
        f"Measured {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC at commit {commit.stdout.strip() or '?'} "
        f"on {os.cpu_count()} cores ({platform.processor() or platform.machine()}), Python "
        f"{platform.python_version()}, load average (1, 5, 15 min) at the end {load}; "
        f"{elapsed / 60:.1f} minutes in all. "
        "Every figure, baseline and ceiling of a table comes from the same run, each path in a process of its own.",
        "",
    ]
    # the reasons for SQLite's second write path, with the figures that keep it (kept across runs)
    write_paths = (ROOT / "benchmarks" / "write_paths.md").read_text()
    return "\n".join(head) + "\n" + "\n".join(t.markdown() + "\n" for t in tables) + "\n" + write_paths


if __name__ == "__main__":
    sys.exit(main())
