"""One SQLite writer, many series: what zvt's timestamp index costs a backfill of 20 pairs at once.

``python -m benchmarks.sqlite_series`` writes 1m bars straight into a fresh ``cryptopair_1m_kdata`` table (zvt's
indexes: id, entity_id, code, timestamp) through the recorder's own bar statement (``store/sqlite_records.py``),
in batches of ``BATCH`` rows as the recorder sends them, and prints rows/s of the writes alone in three shapes:

- one series of as many rows, in time order: every index grows at its end;
- 20 series x 90 days, 8 at a time, their batches taking turns (what the recorder's workers do): each batch
  inserts into timestamp-index pages the other series' rows already fill;
- the same, with the 8 batches of one span in one transaction: each shared page is written to the WAL once;
- the same as the second, with the table's index on ``timestamp`` alone dropped first and built again after the
  last batch (what a large backfill of several series does, ``store/deferred_indexes.py``), the build counted;
- the same as the fourth, the WAL copied into the database by a thread (``store/wal_checkpoints.py``) rather than
  by the writer at its commits: what a backfill does now.

Nothing else runs (no server, no parsing): the figures are the SQLite writer's own ceiling for each shape.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import tempfile
import threading
import time

import numpy as np

#: rows per write, about what the recorder's write-behind sends
BATCH = 18_000
#: minutes in 90 days
SERIES_ROWS = 129_600
#: 2020-03-03 00:00 UTC
START_MS = 1_583_193_600_000
COLUMNS = ("open", "close", "high", "low", "volume", "turnover")


def _plan(series: int, rows_each: int, at_once: int) -> list[tuple[int, int, int]]:
    """(series, first minute, rows) of each batch: ``at_once`` series take turns, span by span."""
    plan = []
    for first in range(0, series, at_once):
        group = range(first, min(first + at_once, series))
        for start in range(0, rows_each, BATCH):
            plan += [(s, start, min(BATCH, rows_each - start)) for s in group]
    return plan


def write(series: int, rows_each: int, at_once: int, per_transaction: int, index_at_end: bool = False,
          wal_thread: bool = False) -> float:
    """Rows/s of the writes of ``_plan(series, rows_each, at_once)``, ``per_transaction`` batches a transaction;
    with ``index_at_end``, the time index dropped before them and built after them, its build counted; with
    ``wal_thread``, the WAL copied by the store's checkpoint thread, its last copy counted."""
    from sqlalchemy import create_engine

    from zvt_ccxt.domain import CryptoPair1mKdata
    from zvt_ccxt.store import wal_checkpoints

    with tempfile.TemporaryDirectory(prefix="zvt-ccxt-bench-sqlite-") as scratch:
        path = os.path.join(scratch, "kdata.db")
        engine = create_engine(f"sqlite:///{path}")
        # with zvt's indexes: register_schema added them to the table
        CryptoPair1mKdata.metadata.create_all(engine, tables=[CryptoPair1mKdata.__table__])
        engine.dispose()
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        plan = _plan(series, rows_each, at_once)
        time_index = f"{CryptoPair1mKdata.__tablename__}_timestamp_index"
        if index_at_end:
            connection.execute(f'DROP INDEX "{time_index}"')
        turn = threading.Lock()  # the writer's turn, which the thread takes to start the WAL over
        copying = wal_checkpoints.checkpointing(engine, lambda: turn) if wal_thread else contextlib.nullcontext()
        with copying:
            if wal_checkpoints.copied_by_thread(path):  # as the store's connections are set
                connection.execute("PRAGMA wal_autocheckpoint=0")
            seconds = _write_plan(connection, plan, turn, per_transaction)
            started = time.perf_counter()
            if index_at_end:
                with turn:
                    connection.execute(f'CREATE INDEX "{time_index}" ON "{CryptoPair1mKdata.__tablename__}" '
                                       '("timestamp")')
        seconds += time.perf_counter() - started  # the build, and with the thread its last copy
        connection.close()
    return series * rows_each / seconds


def _write_plan(connection: sqlite3.Connection, plan: list[tuple[int, int, int]], turn: threading.Lock,
                per_transaction: int) -> float:
    """Write the batches of ``plan`` in the writer's ``turn``; the seconds of the writes alone."""
    from zvt_ccxt.domain import CryptoPair1mKdata
    from zvt_ccxt.store import sqlite_records

    rng = np.random.default_rng(7)
    seconds = 0.0
    for number, (s, start, count) in enumerate(plan, 1):
        code = f"s{s:02d}usdt"
        entity_id = f"cryptopair_binance_{code}"
        ts_ms = START_MS + 60_000 * np.arange(start, start + count, dtype="int64")
        values = {c: np.round(rng.random(count) * 1000, 2) for c in COLUMNS}
        constants = {"entity_id": entity_id, "provider": "ccxt", "code": code, "name": code, "level": "1m"}
        statement, parameters = sqlite_records.prepare(CryptoPair1mKdata, ts_ms, values, constants, entity_id, False)
        started = time.perf_counter()
        with turn:
            if (number - 1) % per_transaction == 0:
                connection.execute("BEGIN")
            connection.execute(statement, parameters)
            if number % per_transaction == 0 or number == len(plan):
                connection.execute("COMMIT")
        seconds += time.perf_counter() - started
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sqlite_series", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    os.environ.setdefault("ZVT_HOME", tempfile.mkdtemp(prefix="zvt-ccxt-bench-home-"))
    total = 20 * SERIES_ROWS
    shapes = (
        ("1 series, in time order", 1, total, 1, 1),
        ("20 series, 8 at a time, a batch a transaction", 20, SERIES_ROWS, 8, 1),
        ("20 series, 8 at a time, 8 batches of a span a transaction", 20, SERIES_ROWS, 8, 8),
    )
    print(f"| shape ({total:,} rows, {BATCH:,} a batch) | rows/s |\n|---|---|")
    for label, series, rows_each, at_once, per_transaction in shapes:
        print(f"| {label} | {write(series, rows_each, at_once, per_transaction):,.0f} |", flush=True)
    label = "20 series, 8 at a time, a batch a transaction, the time index built after the last (counted)"
    print(f"| {label} | {write(20, SERIES_ROWS, 8, 1, index_at_end=True):,.0f} |", flush=True)
    label = "the same, the WAL copied by a thread, not at the writer's commits (its last copy counted)"
    print(f"| {label} | {write(20, SERIES_ROWS, 8, 1, index_at_end=True, wal_thread=True):,.0f} |", flush=True)


if __name__ == "__main__":
    main()
