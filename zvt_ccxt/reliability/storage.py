"""Storage faults: a database that fills up mid-run, and one that is read-only.

SQLite's ``max_page_count`` makes a database "full" a few pages beyond its size (no tiny filesystem is
needed); a read-only database is a file the process cannot write (mode 0444, or immutable when running as
root, since root ignores permission bits). Either way the run must end with a clear ``StorageError`` in its
summary, the table must hold only whole batches that its coverage accounts for, and a later run must
complete it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import event

from zvt_ccxt import levels
from zvt_ccxt.domain.coverage import FETCHED
from zvt_ccxt.reliability.faults import START_MS, FaultOutcome, record
from zvt_ccxt.reliability.harness import clear_tables, compare_rows, row_columns, table_rows
from zvt_ccxt.store import coverage
from zvt_ccxt.store.engines import engine_for


class ReadOnlyUnavailable(RuntimeError):
    """This machine cannot make a file read-only for the current user (root without ``chattr``)."""


@contextlib.contextmanager
def database_full(schema: type, spare_pages: int = 6) -> Iterator[None]:
    """Let ``schema``'s database grow by ``spare_pages`` pages only, for every connection opened in the block."""
    engine = engine_for(schema)
    with engine.connect() as connection:
        connection.exec_driver_sql("VACUUM")  # free pages would be filled first without growing the file
        limit = int(connection.exec_driver_sql("PRAGMA page_count").scalar()) + int(spare_pages)

    def on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={limit}")

    event.listen(engine, "connect", on_connect)
    engine.dispose()
    try:
        yield
    finally:
        event.remove(engine, "connect", on_connect)
        engine.dispose()


@contextlib.contextmanager
def database_read_only(schema: type) -> Iterator[None]:
    """Make ``schema``'s database file unwritable for this process for the block."""
    engine = engine_for(schema)
    engine.dispose()  # the last connection folds the write-ahead log back into the file
    path = Path(engine.url.database)
    as_root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
    if as_root:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            raise ReadOnlyUnavailable("running as root and chattr +i is not available here")
    else:
        mode = path.stat().st_mode
        path.chmod(0o444)
    try:
        yield
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(mode)
        engine.dispose()


def _accounted(outcome: FaultOutcome, schema: type, entity_id: str, reference: list[tuple]) -> None:
    """Stored rows must be exactly the reference bars inside the windows coverage calls fetched."""
    windows = [w for w in coverage.windows(schema.__tablename__, entity_id) if w.status == FETCHED]
    stored = table_rows(schema)
    at = row_columns(schema).index("timestamp")
    stamps = {row[0]: levels.to_utc_ms(row[at]) for row in reference}
    inside = {key for key, ms in stamps.items() if any(w.start_ms <= ms < w.end_ms for w in windows)}
    if {row[0] for row in stored} != inside:
        outcome.problems.append("the stored rows are not exactly the bars of the windows marked fetched")
    _, differing, extra = compare_rows(reference, stored)
    if differing or extra:
        outcome.problems.append(f"{differing} damaged and {extra} unexpected rows after the storage fault")


def run_storage_fault(kind: str, schema: type, exchange: str, reference: list[tuple]) -> FaultOutcome:
    """Record a first stretch, break the database (``"disk full"`` or ``"read-only"``), record on, check, repair."""
    outcome = FaultOutcome(kind, exchange, "storage", "repaired")
    started = time.perf_counter()
    clear_tables()
    first = record(schema, exchange, start_timestamp=START_MS, end_timestamp=START_MS + 5 * levels.DAY_MS)
    outcome.runs += 1
    outcome.survived += 1
    before = table_rows(schema)
    if not first.ok or not before:
        outcome.problems.append(f"the first stretch failed: {first}")
        return outcome
    breaker = database_full(schema) if kind == "disk full" else database_read_only(schema)
    wanted = "database or disk is full" if kind == "disk full" else "readonly database"
    outcome.injected = 1
    with breaker:
        broken = record(schema, exchange)
    outcome.runs += 1
    outcome.survived += 1  # record_data returned a summary instead of raising
    error = broken.results[0].error or ""
    if broken.ok or wanted not in error:
        outcome.problems.append(f"expected a storage error naming {wanted!r}, got: {error or 'none'}")
    after = table_rows(schema)
    if kind == "read-only" and after != before:
        outcome.problems.append("the read-only database changed")
    _accounted(outcome, schema, broken.results[0].entity_id, reference)
    repaired = record(schema, exchange)
    outcome.runs += 1
    outcome.survived += 1
    if not repaired.ok:
        outcome.problems.append(f"the run after the fault was lifted failed: {repaired.results[0].error}")
    outcome.rows_compared = len(reference)
    outcome.rows_lost, outcome.rows_differing, extra = compare_rows(reference, table_rows(schema))
    if extra:
        outcome.problems.append(f"{extra} rows not in the clean run")
    outcome.seconds = time.perf_counter() - started
    return outcome
