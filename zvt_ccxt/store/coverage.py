"""The coverage ledger (``ccxt_coverage``): the outcome of every requested window, per data table and entity.

A window is half-open ``[start_ms, end_ms)`` and keyed ``{data_table}|{entity_id}|{start_ms}``, so saving a
window again (a repair) replaces the earlier outcome. What the windows mean for a range (covered, missing,
failed) is worked out in ``zvt_ccxt.backfill.coverage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import text

from zvt_ccxt import clock
from zvt_ccxt.domain.coverage import CcxtCoverage
from zvt_ccxt.store.engines import engine_for
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


def save(data_table: str, entity_id: str, windows: Sequence[Window]) -> None:
    """Record the outcome of ``windows`` (one transaction)."""
    if not windows:
        return
    starts = sql_datetimes([w.start_ms for w in windows])
    updated = sql_datetime(pd.Timestamp(clock.now_ms(), unit="ms"))
    rows = [
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
        )
        for w, start in zip(windows, starts, strict=True)
    ]
    upsert(CcxtCoverage, _COLUMNS, rows)


def windows(data_table: str, entity_id: str) -> list[Window]:
    """Every window recorded for (``data_table``, ``entity_id``), by start."""
    statement = text(
        'SELECT "start_ms", "end_ms", "status", "rows", "error" FROM "ccxt_coverage" '
        'WHERE "data_table" = :data_table AND "entity_id" = :entity_id ORDER BY "start_ms"'
    )
    with engine_for(CcxtCoverage).connect() as connection:
        result = connection.execute(statement, {"data_table": data_table, "entity_id": entity_id})
        return [Window(int(r.start_ms), int(r.end_ms), r.status, int(r.rows or 0), r.error) for r in result]


def entity_ids(data_table: str, exchange: str | None = None) -> list[str]:
    """The entities with windows for ``data_table`` (of ``exchange`` only, if given), sorted."""
    where = '"data_table" = :data_table'
    parameters = {"data_table": data_table}
    if exchange:
        # ids are {entity_type}_{exchange}_{code}: "_" is a LIKE wildcard, escaped
        where += " AND \"entity_id\" LIKE :pattern ESCAPE '\\'"
        parameters["pattern"] = f"%\\_{exchange}\\_%"
    statement = text(f'SELECT DISTINCT "entity_id" FROM "ccxt_coverage" WHERE {where}')
    with engine_for(CcxtCoverage).connect() as connection:
        return sorted(r.entity_id for r in connection.execute(statement, parameters))
