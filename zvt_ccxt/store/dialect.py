"""What differs from one database to the next, and nothing else: the seam a second database plugs into.

The rest of ``zvt_ccxt.store`` writes SQL that SQLite and PostgreSQL both speak: text statements with named
bound parameters (``:entity_id``) that SQLAlchemy compiles for the engine at hand, identifiers only from the
schemas, double-quoted, and ``INSERT ... ON CONFLICT (id) DO UPDATE`` (SQLite's own bar statement, in
``sqlite_records.py``, is used by this module only). Timestamps travel as SQLAlchemy's
DATETIME text in UTC (``YYYY-MM-DD HH:MM:SS.ffffff``): what SQLite stores, and what PostgreSQL reads into a
``timestamp`` column. A dialect supplies the rest:

- ``tune``: per-connection settings (SQLite: WAL, a busy timeout, ``synchronous=NORMAL``);
- ``writing``: how the writers of one process take turns (SQLite admits one writer per database file);
- ``upsert_rows``: the bulk write of row tuples, one transaction per call;
- ``prepare_bars``: the bulk write of bars given as columns (one array per column), encoded in the calling
  thread and written later, in any thread. The default builds row tuples for ``upsert_rows``; SQLite's own
  path (``store/sqlite_records.py``) is measured in BENCHMARKS.md ("Write paths").

A PostgreSQL dialect would subclass ``Dialect``, register under its SQLAlchemy name in ``_DIALECTS``, and
must deduplicate ids within a batch (PostgreSQL refuses a statement that touches one row twice).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store import sqlite_records
from zvt_ccxt.store.rows import sql_datetimes

#: how long an SQLite connection waits for another writer's lock before failing
BUSY_TIMEOUT_MS = 30_000
#: bars as ``prepare_bars`` takes them: integer ms open times, a column array per value, a value per constant
Bars = tuple[np.ndarray, Mapping[str, np.ndarray], Mapping[str, object]]


def column_clauses(schema: Schema, columns: Sequence[str]) -> tuple[str, str]:
    """The quoted column list and the ``ON CONFLICT`` update list of ``columns`` (names checked against the schema)."""
    known = set(schema.__table__.columns.keys())
    unknown = [c for c in columns if c not in known]
    if unknown or "id" not in columns or len(set(columns)) != len(columns):
        raise StorageError(f"{schema.__tablename__}: unknown columns {unknown}, no id column, or one named twice")
    names = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != "id")
    return names, updates


@functools.cache
def upsert_text(schema: Schema, columns: tuple[str, ...]) -> str:
    """``INSERT ... ON CONFLICT (id) DO UPDATE`` of ``columns``, one named parameter per column (``:p0``...)."""
    names, updates = column_clauses(schema, columns)
    marks = ", ".join(f":p{i}" for i in range(len(columns)))
    return f'INSERT INTO "{schema.__tablename__}" ({names}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {updates}'


def bar_rows(ts_ms: np.ndarray, values: Mapping[str, np.ndarray], constants: Mapping[str, object], id_prefix: str,
             daily_ids: bool) -> tuple[list[str], list[Sequence]]:
    """Bars as ``(columns, row tuples)``: ids ``{id_prefix}_{YYYY-MM-DD}`` (daily and longer) or
    ``{id_prefix}_{YYYY-MM-DDTHH:MM:SS.mmm}``, NaN and infinities as NULL, bool arrays as 0/1."""
    stamps = sql_datetimes(ts_ms)
    suffixes = [s[:10] for s in stamps] if daily_ids else [s[:10] + "T" + s[11:23] for s in stamps]
    count = len(stamps)
    columns = ["id", "timestamp", *constants, *values]
    cells: list[list[Any]] = [[f"{id_prefix}_{s}" for s in suffixes], stamps]
    cells += [[value] * count for value in constants.values()]
    for array in values.values():
        array = np.asarray(array)
        if array.dtype.kind == "f":
            cells.append([v if np.isfinite(v) else None for v in array.tolist()])
        else:
            cells.append(array.tolist())
    return columns, list(zip(*cells, strict=True))


class Dialect:
    """The per-database part of the store (see the module's docstring); one instance serves every engine."""

    #: SQLAlchemy's name for the database (``engine.dialect.name``)
    name = ""

    def tune(self, engine: Engine) -> None:
        """Apply connection settings to ``engine`` (called for every engine the store uses; idempotent)."""

    def writing(self, engine: Engine) -> contextlib.AbstractContextManager:
        """Held around each write; the database's own locking is enough unless a dialect says otherwise."""
        return contextlib.nullcontext()

    def upsert_rows(self, engine: Engine, schema: Schema, columns: tuple[str, ...], rows: list[Sequence]) -> None:
        """Insert or update ``rows`` (tuples in ``columns`` order) in one transaction; raise ``StorageError``."""
        raise NotImplementedError

    def prepare_bars(self, engine: Engine, schema: Schema, bars: Bars, id_prefix: str,
                     daily_ids: bool) -> Callable[[], int]:
        """Encode ``bars`` now and return their write (one transaction), to run in any thread."""
        columns, rows = bar_rows(*bars, id_prefix, daily_ids)
        return functools.partial(self._write_all, engine, schema, tuple(columns), rows)

    def _write_all(self, engine: Engine, schema: Schema, columns: tuple[str, ...], rows: list[Sequence]) -> int:
        self.upsert_rows(engine, schema, columns, rows)
        return len(rows)


class SQLite(Dialect):
    """SQLite: WAL and a busy timeout, one writer per file at a time, ``executemany`` on the driver's cursor,
    and bars as one statement over fixed-width records (``sqlite_records``) where this SQLite can decode them."""

    name = "sqlite"

    def __init__(self) -> None:
        self._tuned: set[int] = set()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._compiled: dict[str, str] = {}

    def tune(self, engine: Engine) -> None:
        # zvt's register_schema leaves its databases in DELETE mode: in WAL a reader (a notebook) and a writer
        # do not block each other, and a second writer process waits up to the busy timeout instead of failing
        if id(engine) in self._tuned:
            return
        with self._guard:
            if id(engine) in self._tuned:
                return
            event.listen(engine, "connect", self._on_connect)
            engine.dispose()
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            self._tuned.add(id(engine))

    def _on_connect(self, dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    def writing(self, engine: Engine) -> contextlib.AbstractContextManager:
        # threads queued on a lock wake the moment it is free; SQLite's busy handler polls in steps up to 100 ms
        key = str(engine.url)
        lock = self._locks.get(key)
        if lock is None:
            with self._guard:
                lock = self._locks.setdefault(key, threading.Lock())
        return lock

    def upsert_rows(self, engine: Engine, schema: Schema, columns: tuple[str, ...], rows: list[Sequence]) -> None:
        # a schema class is hashable; mypy does not know it of a class whose base it cannot see (zvt's)
        sql = upsert_text(schema, columns)  # type: ignore[arg-type]
        statement = self._positional(engine, sql, len(columns))
        with self.writing(engine):
            connection = engine.raw_connection()
            try:
                # the driver's own executemany: SQLAlchemy's costs a dict per row, twice the time of the insert
                connection.cursor().executemany(statement, rows)
                connection.commit()
            except (sqlite3.Error, DBAPIError, OverflowError) as error:  # OverflowError: an integer beyond 64 bits
                connection.rollback()
                raise StorageError(f"writing {len(rows)} rows to {schema.__tablename__} failed: {error}") from error
            finally:
                connection.close()

    def _positional(self, engine: Engine, statement: str, count: int) -> str:
        """``statement`` compiled to the driver's placeholders, its parameters ``:p0``... in that order."""
        compiled = self._compiled.get(statement)
        if compiled is None:
            result = text(statement).compile(dialect=engine.dialect)
            if list(result.positiontup or []) != [f"p{i}" for i in range(count)]:
                raise StorageError(f"parameters out of order in {statement[:80]}")
            compiled = self._compiled.setdefault(statement, result.string)
        return compiled

    def prepare_bars(self, engine: Engine, schema: Schema, bars: Bars, id_prefix: str,
                     daily_ids: bool) -> Callable[[], int]:
        ts_ms, values, constants = bars
        if not sqlite_records.encodable(ts_ms):
            return super().prepare_bars(engine, schema, bars, id_prefix, daily_ids)
        statement, parameters = sqlite_records.prepare(schema, ts_ms, values, constants, id_prefix, daily_ids)
        return functools.partial(self._execute_alone, engine, schema, statement, parameters, len(ts_ms))

    def _execute_alone(self, engine: Engine, schema: Schema, statement: str, parameters: tuple, count: int) -> int:
        """Run one statement as its own transaction (atomic like any SQLite statement) and return ``count``.

        No BEGIN and COMMIT around it, each of which would hand the GIL over and wait to get it back: the
        statement takes the GIL only to start and to finish, so another thread parses meanwhile."""
        with self.writing(engine):
            connection = engine.raw_connection()
            driver = connection.driver_connection
            if driver is None:  # a pooled connection always has one; SQLAlchemy types it optional
                raise StorageError(f"writing {count} rows to {schema.__tablename__} failed: no driver connection")
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


_DIALECTS: dict[str, Dialect] = {SQLite.name: SQLite()}


def dialect_for(engine: Engine) -> Dialect:
    """The dialect of ``engine``'s database; a database without one is refused by name."""
    dialect = _DIALECTS.get(engine.dialect.name)
    if dialect is None:
        known = ", ".join(_DIALECTS)
        raise StorageError(f"zvt-ccxt cannot store into {engine.dialect.name} databases (it knows: {known})")
    return dialect
