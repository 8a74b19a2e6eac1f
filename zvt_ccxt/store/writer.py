"""Every write of the package: row tuples, DataFrames and bars, each call one transaction.

A write can carry ``together``: rows of another table written in the same transaction (the coverage ledger's
windows of a batch: ``store.coverage.entries``), so a window is marked done exactly when its rows are stored.

``upsert`` inserts rows or updates them by id (a row fetched twice is stored once, with its latest values),
so re-running any recorder or stream over the same data changes nothing; a failed call leaves the table as
it was and raises ``StorageError`` naming the table. Table and column names come only from the schema,
values only as bound parameters. How a database takes a batch is its dialect's business (``store/dialect.py``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.store.dialect import Dialect, Part, Together
from zvt_ccxt.store.engines import engine_and_dialect
from zvt_ccxt.store.rows import sql_datetime


def upsert(schema: Schema, columns: Sequence[str], rows: Iterable[Sequence], provider: str = PROVIDER,
           together: Together | None = None) -> int:
    """Insert or update ``rows`` (tuples in ``columns`` order), and ``together``'s in the same transaction; return
    how many of ``rows`` were written."""
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return _together_only(together, provider)
    engine, dialect = engine_and_dialect(schema, provider)
    dialect.upsert_rows(engine, schema, tuple(columns), rows, together)
    return len(rows)


def bulk_loading(schema: Schema, series: int, count_rows: Callable[[], int],
                 provider: str = PROVIDER) -> contextlib.AbstractContextManager:
    """Held around a backfill about to write ``series`` series into ``schema``'s table, about ``count_rows()`` rows
    (asked only where the database's answer depends on it): what makes such a write faster on the database in use
    (SQLite: ``store.deferred_indexes``), undone when it ends."""
    engine, dialect = engine_and_dialect(schema, provider)
    return dialect.bulk_loading(engine, schema, series, count_rows)


def upsert_many(parts: Sequence[tuple[Schema, Sequence[str], Sequence[Sequence]]], provider: str = PROVIDER) -> int:
    """``upsert`` of several tables' rows, ``(schema, columns, rows)`` each: one transaction per database, the
    parts of a database in their order (several parts of one table are one, the last row of an id winning); return
    how many rows were written. One commit for what was one a table: a stream's flush on a server database."""
    by_database: dict[int, tuple[Engine, Dialect, dict[tuple, Part]]] = {}
    for schema, columns, rows in parts:
        if not rows:
            continue
        engine, dialect = engine_and_dialect(schema, provider)
        _, _, tables = by_database.setdefault(id(engine), (engine, dialect, {}))
        key = (schema, tuple(columns))
        if key in tables:
            tables[key][2].extend(rows)
        else:
            tables[key] = (schema, tuple(columns), list(rows))
    for engine, dialect, tables in by_database.values():
        dialect.upsert_tables(engine, list(tables.values()))
    return sum(len(rows) for _, _, tables in by_database.values() for _, _, rows in tables.values())


def upsert_frame(schema: Schema, frame: pd.DataFrame, provider: str = PROVIDER) -> int:
    """``upsert`` for a DataFrame whose columns are schema columns; datetimes become the store's time text."""
    if frame is None or frame.empty:
        return 0
    columns = list(frame.columns)
    data = frame.copy()
    for column in columns:
        if pd.api.types.is_datetime64_any_dtype(data[column]):
            data[column] = [sql_datetime(v) for v in data[column]]
    data = data.astype(object).where(pd.notna(data), None)
    return upsert(schema, columns, list(data.itertuples(index=False, name=None)), provider)


def prepare_bars(
    schema: Schema,
    ts_ms: np.ndarray,
    values: Mapping[str, np.ndarray],
    constants: Mapping[str, object],
    id_prefix: str,
    daily_ids: bool = False,
    provider: str = PROVIDER,
    together: Together | None = None,
) -> Callable[[], int]:
    """Upsert one bar per ``ts_ms`` (open time, integer ms) in two steps: encode now, and return the write (one
    transaction, returning the rows written) to run in any thread, so one batch is stored while the next is
    prepared. ``values`` hold a column each (NaN stores NULL, bool arrays 0/1), ``constants`` one value for
    every row; ids are ``{id_prefix}_{YYYY-MM-DD}`` with ``daily_ids``, else to the millisecond. ``together``'s
    rows are written in the same transaction."""
    if not len(ts_ms):
        return functools.partial(_together_only, together, provider)
    engine, dialect = engine_and_dialect(schema, provider)
    bars = (np.asarray(ts_ms, dtype="int64"), values, constants)
    return dialect.prepare_bars(engine, schema, bars, id_prefix, daily_ids, together)


def _together_only(together: Together | None, provider: str) -> int:
    """A batch without rows of its own: ``together``'s rows alone (its windows were empty or failed)."""
    if together is not None and together.rows:
        upsert(together.schema, together.columns, together.rows, provider)
    return 0
