"""The coverage ledger (``ccxt_coverage``): the outcome of every requested window, per data table and entity.

A window is half-open ``[start_ms, end_ms)`` and keyed ``{data_table}|{entity_id}|{start_ms}``, so saving a
window again (a repair) replaces the earlier outcome. What the windows mean for a range (covered, missing,
failed) is worked out in ``zvt_ccxt.backfill.coverage``. Each window keeps its ``source`` (``live``, ``replay``,
``simulator``: ``zvt_ccxt.provenance``); a ledger made before that column existed gets it added on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, NoSuchTableError

from zvt_ccxt import clock, provenance
from zvt_ccxt.domain.coverage import CcxtCoverage
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.store.dialect import Together
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt.store.retrying import retried
from zvt_ccxt.store.rows import sql_datetime, sql_datetimes
from zvt_ccxt.store.writer import upsert

_COLUMNS = (
    "id",
    "entity_id",
    "timestamp",
    "data_table",
    "start_ms",
    "end_ms",
    "status",
    "rows",
    "error",
    "updated_timestamp",
    "source",
)
#: the longest error text kept with a window
ERROR_CHARS = 500


@dataclass(frozen=True)
class Window:
    """The outcome of one requested window."""

    start_ms: int
    end_ms: int
    status: str
    rows: int = 0
    error: str | None = None
    #: where its data came from (``zvt_ccxt.provenance``); None: saved before sources were kept, or not saved yet
    source: str | None = None


def save(data_table: str, entity_id: str, windows: Sequence[Window]) -> None:
    """Record the outcome of ``windows`` (one transaction)."""
    save_many([(data_table, entity_id, w) for w in windows])


def save_many(entries: Sequence[tuple[str, str, Window]]) -> None:
    """Record the outcome of windows of several series, ``(data_table, entity_id, window)`` each, in one
    transaction: what a stream saves after each flush, whatever the number of series it touched."""
    if not entries:
        return
    ledger = _ledger_rows(entries)
    upsert(ledger.schema, ledger.columns, ledger.rows)


def entries(data_table: str, entity_id: str, windows: Sequence[Window]) -> Together:
    """The ledger rows of ``windows``, for a write of their data rows to store in the same transaction
    (``writer.upsert`` or ``writer.prepare_bars`` with ``together=``)."""
    return _ledger_rows([(data_table, entity_id, w) for w in windows])


def _ledger_rows(entries: Sequence[tuple[str, str, Window]]) -> Together:
    engine = _ledger_engine()
    source = provenance.current()
    starts = sql_datetimes([w.start_ms for _, _, w in entries])
    updated = sql_datetime(pd.Timestamp(clock.now_ms(), unit="ms"))
    rows: list[Sequence] = [
        (
            f"{data_table}|{entity_id}|{w.start_ms}",
            entity_id,
            start,
            data_table,
            int(w.start_ms),
            int(w.end_ms),
            w.status,
            int(w.rows),
            (w.error or "")[:ERROR_CHARS] or None,
            updated,
            w.source or source,
        )
        for (data_table, entity_id, w), start in zip(entries, starts, strict=True)
    ]
    return Together(engine, CcxtCoverage, _COLUMNS, rows)


def windows(data_table: str, entity_id: str) -> list[Window]:
    """Every window recorded for (``data_table``, ``entity_id``), by start."""
    statement = text(
        'SELECT "start_ms", "end_ms", "status", "rows", "error", "source" FROM "ccxt_coverage" '
        'WHERE "data_table" = :data_table AND "entity_id" = :entity_id ORDER BY "start_ms"'
    )

    def work() -> list[Window]:
        with _ledger_engine().connect() as connection:
            result = connection.execute(statement, {"data_table": data_table, "entity_id": entity_id})
            return [
                Window(int(r.start_ms), int(r.end_ms), r.status, int(r.rows or 0), r.error, r.source) for r in result
            ]

    return retried(work, "reading the coverage ledger")


def latest_by_entity(data_table: str, exchange: str | None = None) -> dict[str, Window]:
    """The latest window (by end) of every entity of ``data_table`` (of ``exchange`` only, if given)."""
    where, parameters = _table_filter(data_table, exchange)
    statement = text(
        'SELECT "entity_id", "start_ms", "end_ms", "status", "rows", "error", "source" FROM "ccxt_coverage" '
        f'WHERE {where} ORDER BY "end_ms"'
    )

    def work() -> dict[str, Window]:
        with _ledger_engine().connect() as connection:
            return {
                r.entity_id: Window(int(r.start_ms), int(r.end_ms), r.status, int(r.rows or 0), r.error, r.source)
                for r in connection.execute(statement, parameters)
            }

    return retried(work, "reading the coverage ledger")


def data_tables() -> list[str]:
    """Every data table (ledger key) with windows, sorted."""
    statement = text('SELECT DISTINCT "data_table" FROM "ccxt_coverage"')

    def work() -> list[str]:
        with _ledger_engine().connect() as connection:
            return sorted(r.data_table for r in connection.execute(statement))

    return retried(work, "reading the coverage ledger")


def discard(
    data_table: str,
    entity_id: str,
    windows: Sequence[Window],
    data_schema: Schema | None = None,
    rows_where: Mapping[str, object] | None = None,
) -> None:
    """Forget ``windows`` of (``data_table``, ``entity_id``) and, given ``data_schema``, the rows stored inside them
    (only those whose columns hold ``rows_where``'s values, if given): what a live run does to replayed or simulated
    windows before it fetches their range from the exchange.

    The rows go first, then the windows: cut in between, the windows still say synthetic, so the next live run
    fetches that range all the same."""
    if not windows:
        return
    filters = dict(rows_where or {})
    spans = [{"start": sql_datetime(pd.Timestamp(w.start_ms, unit="ms")),
              "end": sql_datetime(pd.Timestamp(w.end_ms, unit="ms")),
              "start_ms": int(w.start_ms), "entity_id": entity_id, "data_table": data_table,
              **{f"where_{i}": value for i, value in enumerate(filters.values())}} for w in windows]
    if data_schema is not None:
        table = data_schema.__tablename__
        known = set(data_schema.__table__.columns.keys())
        unknown = [name for name in filters if name not in known]
        if unknown:
            raise ValueError(f"{table} has no column {', '.join(unknown)}")
        extra = "".join(f' AND "{name}" = :where_{i}' for i, name in enumerate(filters))
        rows_statement = text(
            f'DELETE FROM "{table}" WHERE "entity_id" = :entity_id AND "timestamp" >= :start AND "timestamp" < :end'
            + extra
        )
        with engine_for(data_schema).begin() as connection:
            connection.execute(rows_statement, spans)
    windows_statement = text(
        'DELETE FROM "ccxt_coverage" WHERE "data_table" = :data_table AND "entity_id" = :entity_id '
        'AND "start_ms" = :start_ms'
    )
    with _ledger_engine().begin() as connection:
        connection.execute(windows_statement, spans)


_upgraded: set[str] = set()
_upgrade_lock = threading.Lock()


def _ledger_engine() -> Engine:
    """The ledger's engine, its table given the ``source`` column once per database (an older store upgrades in
    place: ``ALTER TABLE ... ADD COLUMN``, the same in SQLite and PostgreSQL)."""
    engine = engine_for(CcxtCoverage)
    key = str(engine.url)
    if key not in _upgraded:
        with _upgrade_lock:
            if key not in _upgraded:
                _add_source_column(engine)
                _upgraded.add(key)
    return engine


def _source_column_present(engine: Engine) -> bool:
    try:
        return "source" in {c["name"] for c in inspect(engine).get_columns("ccxt_coverage")}
    except NoSuchTableError:
        return True  # nothing to upgrade: the table is created with every column


def _add_source_column(engine: Engine) -> None:
    if _source_column_present(engine):
        return
    try:
        with engine.begin() as connection:
            connection.execute(text('ALTER TABLE "ccxt_coverage" ADD COLUMN "source" VARCHAR(16)'))
    except DBAPIError:
        if not _source_column_present(engine):  # another process adding it at the same moment is fine
            raise


def entity_ids(data_table: str, exchange: str | None = None) -> list[str]:
    """The entities with windows for ``data_table`` (of ``exchange`` only, if given), sorted."""
    where, parameters = _table_filter(data_table, exchange)
    statement = text(f'SELECT DISTINCT "entity_id" FROM "ccxt_coverage" WHERE {where}')

    def work() -> list[str]:
        with _ledger_engine().connect() as connection:
            return sorted(r.entity_id for r in connection.execute(statement, parameters))

    return retried(work, "reading the coverage ledger")


def _table_filter(data_table: str, exchange: str | None) -> tuple[str, dict[str, str]]:
    where = '"data_table" = :data_table'
    parameters = {"data_table": data_table}
    if exchange:
        # ids are {entity_type}_{exchange}_{code}, or {kind}_{exchange} for an account's rows and a stream's audit
        # log: "_" is a LIKE wildcard, escaped
        where += " AND (\"entity_id\" LIKE :pattern ESCAPE '\\' OR \"entity_id\" LIKE :suffix ESCAPE '\\')"
        parameters["pattern"] = f"%\\_{exchange}\\_%"
        parameters["suffix"] = f"%\\_{exchange}"
    return where, parameters
