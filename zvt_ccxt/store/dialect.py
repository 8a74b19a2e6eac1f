"""What differs from one database to the next, and nothing else: the seam a second database plugs into.

The rest of ``zvt_ccxt.store`` writes SQL that SQLite and PostgreSQL both speak: text statements with named
bound parameters (``:entity_id``) that SQLAlchemy compiles for the engine at hand, identifiers only from the
schemas, double-quoted, and ``INSERT ... ON CONFLICT (id) DO UPDATE`` (SQLite's own bar statement, in
``sqlite_records.py``, is used by this module only). Timestamps travel as SQLAlchemy's
DATETIME text in UTC (``YYYY-MM-DD HH:MM:SS.ffffff``): what SQLite stores, and what PostgreSQL reads into a
``timestamp`` column. A dialect supplies the rest:

- ``tune``: per-connection settings (SQLite: WAL, a busy timeout, ``synchronous=NORMAL``);
- ``writing``: how the writers of one process take turns (SQLite admits one writer per database file);
- ``upsert_rows``: the bulk write of row tuples, one transaction per call; ``upsert_tables``: rows of several
  tables of one database in one transaction (a stream's flush: one commit where it was one a table);
- ``Together``: rows of a second table (the coverage ledger's windows) that ``upsert_rows`` and ``prepare_bars``
  write in the same transaction as their own, so a window is never marked done without its rows nor the
  other way round (SQLite attaches the second table's file when it is another one);
- ``prepare_bars``: the bulk write of bars given as columns (one array per column), encoded in the calling
  thread and written later, in any thread. The default builds row tuples for ``upsert_rows``; SQLite's own
  path (``store/sqlite_records.py``) is measured in BENCHMARKS.md ("Write paths").

- ``create_schema``: the tables and indexes of the provider's schemas in a database zvt did not create them in
  (a URL from ``zvt_ccxt.config.database_url``), safe when several processes start at once;
- ``epoch_ms``: where the database turns a time into epoch milliseconds cheaper than its driver hands back
  timestamps (PostgreSQL), the SQL that does it;
- ``text_compares_bytewise``: whether ids of fixed-width time text sort by time (SQLite), so bars can be counted
  by time on the primary key alone;
- ``bulk_loading``: what a backfill about to write many rows of several series holds around its run (SQLite: its
  time index built once at the end, ``deferred_indexes.py``; its WAL copied by a thread, ``wal_checkpoints.py``).

``PostgreSQL`` copies each batch into a temporary staging table (``COPY``, the server's bulk path) and moves it
with one ``INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE`` in id order, so concurrent writers of overlapping
rows lock them in the same order and cannot deadlock; ids are deduplicated within a batch first (the last row of
an id wins: PostgreSQL refuses a statement that touches one row twice). A dropped connection, a restarting
server or a deadlock victim retries the whole transaction, which, being an upsert, stores each row once.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.schema import CreateTable

from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store import deferred_indexes, pg_binary, sqlite_records, wal_checkpoints
from zvt_ccxt.store.rows import sql_datetimes

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's busy handler alone orders writers of several processes
    fcntl = None  # type: ignore[assignment]

#: how long an SQLite connection waits for another writer's lock before failing
BUSY_TIMEOUT_MS = 30_000
log = logging.getLogger(__name__)
#: how long a PostgreSQL write keeps retrying a dropped connection or a restarting server, in seconds
RETRY_SECONDS = 60.0
#: the first pause between retries, doubled each time up to ``RETRY_MAX_PAUSE``
RETRY_FIRST_PAUSE = 0.05
RETRY_MAX_PAUSE = 2.0
#: up to this many rows a PostgreSQL upsert is one ``INSERT ... VALUES`` statement; more go through COPY and staging
VALUES_ROWS = 200
#: ... and up to this many parameters: psycopg parses a statement's placeholders again on every call beyond 50
#: (its cache's limit), which for 100 stream rows cost 4x the client CPU of the staging path's three statements
VALUES_PARAMETERS = 50
#: the advisory lock key held while creating the provider's tables ("zvtccxt" in ASCII)
SCHEMA_LOCK_KEY = int.from_bytes(b"zvtccxt", "big")
#: bars as ``prepare_bars`` takes them: integer ms open times, a column array per value, a value per constant
Bars = tuple[np.ndarray, Mapping[str, np.ndarray], Mapping[str, object]]
#: rows of one table as ``upsert_tables`` takes them: (schema, columns, row tuples in ``columns`` order)
Part = tuple[Schema, tuple[str, ...], list[Sequence]]
#: the schema name a second SQLite file is attached under, for a transaction spanning both (a plain identifier,
#: written unquoted: quoted names in the package's SQL are the schemas' own)
ATTACHED = "zvt_ccxt_together"


@dataclass(frozen=True)
class Together:
    """Rows of another table (``schema``, in ``engine``'s database) written in the same transaction as a batch."""

    engine: Engine
    schema: Schema
    columns: tuple[str, ...]
    rows: list[Sequence]


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
def upsert_text(schema: Schema, columns: tuple[str, ...], attached: str = "") -> str:
    """``INSERT ... ON CONFLICT (id) DO UPDATE`` of ``columns``, one named parameter per column (``:p0``...);
    into the table of the database attached as ``attached``, if given."""
    names, updates = column_clauses(schema, columns)
    marks = ", ".join(f":p{i}" for i in range(len(columns)))
    table = f'{attached}."{schema.__tablename__}"' if attached else f'"{schema.__tablename__}"'
    return f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {updates}"


def last_per_id(columns: Sequence[str], rows: list[Sequence]) -> list[Sequence]:
    """``rows`` with one row per id, the last one given (in the order ids first appear)."""
    position = list(columns).index("id")
    unique = {row[position]: row for row in rows}
    return rows if len(unique) == len(rows) else list(unique.values())


def index_statements(table) -> list[str]:
    """``CREATE INDEX IF NOT EXISTS`` for the reads the store and zvt make on ``table`` (a SQLAlchemy ``Table``):
    a series by time (``entity_id`` with ``timestamp``, and with ``ts_ms`` where the table has it), all series by
    time (``timestamp``), and the coverage ledger by series and window start."""
    known = set(table.columns.keys())
    wanted: list[tuple[str, ...]] = []
    if {"data_table", "entity_id", "start_ms"} <= known:
        wanted.append(("data_table", "entity_id", "start_ms"))
    if {"entity_id", "timestamp"} <= known:
        wanted.append(("entity_id", "timestamp"))
    if {"entity_id", "ts_ms"} <= known:
        wanted.append(("entity_id", "ts_ms"))
    if "timestamp" in known:
        wanted.append(("timestamp",))
    statements = []
    table = table.name
    for columns in wanted:  # named {table}_{columns}_idx (PostgreSQL cuts names beyond 63 bytes, the same each time)
        names = ", ".join(f'"{c}"' for c in columns)
        statements.append(f'CREATE INDEX IF NOT EXISTS "{table}_{"_".join(columns)}_idx" ON "{table}" ({names})')
    return statements


def engine_from_url(url: str) -> Engine:
    """An engine for a store URL (``sqlite:///FILE`` or ``postgresql+psycopg://...``), as the store uses it."""
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"check_same_thread": False})
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StorageError(
            "a PostgreSQL store needs psycopg 3: pip install 'zvt-ccxt[postgresql]' (or pip install 'psycopg[binary]')"
        ) from None
    # pre-ping: after a server restart the pool hands out fresh connections instead of dead ones
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


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
    #: whether text compares byte by byte (so ids of fixed-width time text sort by time); a server database's
    #: collation may compare by language rules instead
    text_compares_bytewise = False

    def __init__(self) -> None:
        self._tuned: set[int] = set()
        self._guard = threading.Lock()

    def tune(self, engine: Engine) -> None:
        """Apply connection settings to ``engine`` once (called for every engine the store uses)."""
        if id(engine) in self._tuned:
            return
        with self._guard:
            if id(engine) in self._tuned:
                return
            self._tune_once(engine)
            self._tuned.add(id(engine))
        self._first_use(engine)

    def _tune_once(self, engine: Engine) -> None:
        """The settings ``tune`` applies, run once per engine under the guard."""

    def _first_use(self, engine: Engine) -> None:
        """Run once per engine and process after it is tuned, outside the guard (it may take the write lock)."""

    def bulk_loading(self, engine: Engine, schema: Schema, series: int,
                     count_rows: Callable[[], int]) -> contextlib.AbstractContextManager:
        """Held around a backfill about to write ``series`` series into ``schema``'s table, about ``count_rows()``
        rows (asked only if it matters): whatever makes such a write faster on this database. Nothing, unless a
        dialect says otherwise."""
        return contextlib.nullcontext()

    def forget_inherited_locks(self) -> None:
        """In a forked process: locks of its own. The copies fork made are as the parent's were, held if one of its
        threads held them, and no thread here would ever release them."""
        self._guard = threading.Lock()

    def writing(self, engine: Engine) -> contextlib.AbstractContextManager:
        """Held around each write; the database's own locking is enough unless a dialect says otherwise."""
        return contextlib.nullcontext()

    def epoch_ms(self, column: str) -> str | None:
        """SQL for the time in ``column`` (a quoted ``DateTime`` column) as whole ms since the epoch, rounded down,
        where the database computes it cheaper than the driver hands back timestamps; None: read the timestamps."""
        return None

    def upsert_rows(self, engine: Engine, schema: Schema, columns: tuple[str, ...], rows: list[Sequence],
                    together: Together | None = None) -> None:
        """Insert or update ``rows`` (tuples in ``columns`` order), and ``together``'s, in one transaction; raise
        ``StorageError``."""
        raise NotImplementedError

    def upsert_tables(self, engine: Engine, parts: Sequence[Part]) -> None:
        """Insert or update the rows of each ``(schema, columns, rows)`` part, all tables of ``engine``'s database,
        in one transaction, in order; raise ``StorageError``."""
        raise NotImplementedError

    def create_schema(self, engine: Engine, bases: Sequence) -> None:
        """Create the tables of ``bases`` (declarative bases) and their indexes where missing."""
        with engine.begin() as connection:
            for base in bases:
                base.metadata.create_all(connection)
                for table in base.metadata.tables.values():
                    for statement in index_statements(table):
                        connection.exec_driver_sql(statement)

    def empty(self, engine: Engine, tables: Sequence[str]) -> None:
        """Delete every row of ``tables`` (tests, between cases)."""
        with engine.begin() as connection:
            for table in tables:
                connection.exec_driver_sql(f'DELETE FROM "{table}"')

    def prepare_bars(self, engine: Engine, schema: Schema, bars: Bars, id_prefix: str,
                     daily_ids: bool, together: Together | None = None) -> Callable[[], int]:
        """Encode ``bars`` now and return their write (one transaction, ``together``'s rows in it), to run in any
        thread."""
        columns, rows = bar_rows(*bars, id_prefix, daily_ids)
        return functools.partial(self._write_all, engine, schema, tuple(columns), rows, together)

    def _write_all(self, engine: Engine, schema: Schema, columns: tuple[str, ...], rows: list[Sequence],
                   together: Together | None = None) -> int:
        self.upsert_rows(engine, schema, columns, rows, together)
        return len(rows)


class _FileWriteLock:
    """One writer at a time per SQLite file: a thread lock in this process, then ``flock`` on ``FILE-writer``
    beside the database across processes (where the platform has ``fcntl``; in-memory databases need none)."""

    def __init__(self, database: str | None) -> None:
        self._thread_lock = threading.Lock()
        self._path = database
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        if self._path is None or fcntl is None:
            return
        try:
            if self._fd is None:
                self._fd = os.open(self._path + "-writer", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError:  # no lock file here (read-only directory): SQLite's own locking still holds
            self._fd = None

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._fd is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close_copy(self) -> None:
        """Close a forked copy's descriptor without unlocking: the parent's lock, if held, stays held."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class SQLite(Dialect):
    """SQLite: WAL and a busy timeout, one writer per file at a time, ``executemany`` on the driver's cursor,
    and bars as one statement over fixed-width records (``sqlite_records``) where this SQLite can decode them."""

    name = "sqlite"
    text_compares_bytewise = True  # BINARY, SQLite's default collation, and zvt's columns declare no other

    def __init__(self) -> None:
        super().__init__()
        self._locks: dict[str, _FileWriteLock] = {}
        self._compiled: dict[str, str] = {}

    def forget_inherited_locks(self) -> None:
        # new file locks on descriptors of this process's own: flock locks belong to an open file description,
        # which fork shares, so on the parent's copies this process would take the parent's turn as its own
        super().forget_inherited_locks()
        inherited, self._locks = self._locks, {}
        for lock in inherited.values():
            lock.close_copy()

    def _tune_once(self, engine: Engine) -> None:
        # zvt's register_schema leaves its databases in DELETE mode: in WAL a reader (a notebook) and a writer
        # do not block each other, and a second writer process waits up to the busy timeout instead of failing
        database = deferred_indexes.database_file(engine)

        def on_connect(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            if wal_checkpoints.copied_by_thread(database):  # a backfill's thread copies the WAL, not the commits
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "handle_error", _discard_connection_left_stepping)
        engine.dispose()
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")

    def _first_use(self, engine: Engine) -> None:
        # a backfill killed while it held its table's time index back left a note of it: built here
        deferred_indexes.restore(engine, functools.partial(self.writing, engine))

    def bulk_loading(self, engine: Engine, schema: Schema, series: int,
                     count_rows: Callable[[], int]) -> contextlib.AbstractContextManager:
        # SQLite's one writer is the backfill's pace. It pays for each series' rows landing between the others' in
        # the time index: built once at the end, that costs a fraction (deferred_indexes). And it copies the WAL
        # into the database in its turn: a thread of this process does it instead (wal_checkpoints), the index
        # build at the end included
        table = schema.__tablename__
        writing = functools.partial(self.writing, engine)
        deferred_indexes.restore(engine, writing)
        stack = contextlib.ExitStack()
        with stack:
            stack.enter_context(wal_checkpoints.checkpointing(engine, writing))
            if deferred_indexes.should_defer(engine, table, series, count_rows):
                stack.enter_context(deferred_indexes.deferred(engine, table, writing))
            return stack.pop_all()

    def writing(self, engine: Engine) -> contextlib.AbstractContextManager:
        # threads queued on a lock wake the moment it is free; SQLite's busy handler polls in steps up to 100 ms,
        # so writers in other processes (stream shards sharing one store) queue on an advisory lock of the file
        # too, which the kernel hands over at once, instead of sleeping in SQLite's busy handler
        key = str(engine.url)
        lock = self._locks.get(key)
        if lock is None:
            with self._guard:
                lock = self._locks.get(key)
                if lock is None:
                    lock = self._locks[key] = _FileWriteLock(deferred_indexes.database_file(engine))
        return lock

    def upsert_rows(self, engine: Engine, schema: Schema, columns: tuple[str, ...], rows: list[Sequence],
                    together: Together | None = None) -> None:
        # a schema class is hashable; mypy does not know it of a class whose base it cannot see (zvt's)
        sql = upsert_text(schema, columns)  # type: ignore[arg-type]
        statement = self._positional(engine, sql, len(columns))
        # the driver's own executemany: SQLAlchemy's costs a dict per row, twice the time of the insert
        self._transaction(engine, together, f"writing {len(rows)} rows to {schema.__tablename__}",
                          lambda connection: connection.cursor().executemany(statement, rows))

    def upsert_tables(self, engine: Engine, parts: Sequence[Part]) -> None:
        works = []
        for schema, columns, rows in parts:
            statement = self._positional(engine, upsert_text(schema, columns), len(columns))  # type: ignore[arg-type]
            works.append(functools.partial(_executemany, statement, rows))
        self._transaction(engine, None, _writing_parts(parts), functools.partial(_in_turn, works))

    def _transaction(self, engine: Engine, together: Together | None, doing: str, work: Callable) -> None:
        """``work(connection)`` and ``together``'s rows in one transaction, on this process's turn at both files.

        A pooled connection can come back with a statement of an earlier user still stepping (a ``PRAGMA
        journal_mode`` whose row nobody read, say): SQLite then refuses every COMMIT on it ("SQL statements in
        progress"). Such a connection is discarded (closing it ends the statement) and the transaction redone
        once on a fresh one."""
        with self._writing_both(engine, together):
            for attempt in range(2):
                connection = engine.raw_connection()
                try:
                    self._attach(engine, connection, together)
                    work(connection)
                    self._write_together(engine, connection, together)
                    connection.commit()
                    return
                except (sqlite3.Error, DBAPIError, OverflowError) as error:  # OverflowError: beyond 64 bits
                    with contextlib.suppress(sqlite3.Error):
                        connection.rollback()
                    if attempt == 0 and left_stepping(error):
                        log.warning("%s: %s; retrying on a fresh connection", doing, error)
                        connection.invalidate()
                        continue
                    raise StorageError(f"{doing} failed: {error}") from error
                finally:
                    connection.close()

    @contextlib.contextmanager
    def _writing_both(self, engine: Engine, together: Together | None):
        """This process's turn at both files, always the batch's first (no two writers wait on each other)."""
        with self.writing(engine):
            if together is None or _same_database(engine, together.engine):
                yield
            else:
                with self.writing(together.engine):
                    yield

    def _attach(self, engine: Engine, connection, together: Together | None) -> None:
        """Attach ``together``'s file to ``connection`` (once per pooled connection; outside any transaction)."""
        if together is None or _same_database(engine, together.engine):
            return
        attached = {row[1]: row[2] for row in connection.execute("PRAGMA database_list").fetchall()}
        path = together.engine.url.database
        if attached.get(ATTACHED) == path:
            return
        if ATTACHED in attached:
            connection.execute(f"DETACH DATABASE {ATTACHED}")
        connection.execute(f"ATTACH DATABASE ? AS {ATTACHED}", (path,))

    def _write_together(self, engine: Engine, connection, together: Together | None) -> None:
        if together is None or not together.rows:
            return
        attached = "" if _same_database(engine, together.engine) else ATTACHED
        sql = upsert_text(together.schema, together.columns, attached)  # type: ignore[arg-type]
        statement = self._positional(engine, sql, len(together.columns))
        connection.cursor().executemany(statement, together.rows)

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
                     daily_ids: bool, together: Together | None = None) -> Callable[[], int]:
        ts_ms, values, constants = bars
        if not sqlite_records.encodable(ts_ms):
            return super().prepare_bars(engine, schema, bars, id_prefix, daily_ids, together)
        statement, parameters = sqlite_records.prepare(schema, ts_ms, values, constants, id_prefix, daily_ids)
        if together is not None:
            return functools.partial(self._execute_together, engine, schema, statement, parameters, len(ts_ms),
                                     together)
        return functools.partial(self._execute_alone, engine, schema, statement, parameters, len(ts_ms))

    def _execute_together(self, engine: Engine, schema: Schema, statement: str, parameters: tuple, count: int,
                          together: Together) -> int:
        """Run the bars' statement and write ``together``'s rows in one transaction; return ``count``."""
        self._transaction(engine, together, f"writing {count} rows to {schema.__tablename__}",
                          lambda connection: connection.cursor().execute(statement, parameters))
        return count

    def _execute_alone(self, engine: Engine, schema: Schema, statement: str, parameters: tuple, count: int) -> int:
        """Run one statement as its own transaction (atomic like any SQLite statement) and return ``count``.

        No BEGIN and COMMIT around it, each of which would hand the GIL over and wait to get it back: the
        statement takes the GIL only to start and to finish, so another thread parses meanwhile. Without a COMMIT
        to refuse, a connection with an earlier statement still stepping would keep the rows uncommitted (and the
        file's write lock) until that statement ends: such a connection is swapped for a fresh one first."""
        with self.writing(engine):
            connection = engine.raw_connection()
            if _statement_left_stepping(connection.driver_connection):
                connection.invalidate()
                connection.close()
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


class PostgreSQL(Dialect):
    """PostgreSQL through psycopg 3: UTC sessions, COPY into a staging table then one upsert, retried whole when
    the connection drops (see the module's docstring)."""

    name = "postgresql"

    def _tune_once(self, engine: Engine) -> None:
        # DateTime columns are "timestamp without time zone": with the server's default zone (Asia/Shanghai, say)
        # a naive UTC time would be read back shifted wherever the server converts
        event.listen(engine, "connect", _utc_session)
        engine.dispose()

    def epoch_ms(self, column: str) -> str | None:
        # psycopg makes a datetime of each timestamp, pandas an integer of it again: 2.9 s for 1.3 million bars,
        # 1.1 s as integers from the server (EXTRACT's numeric is exact; the column holds naive UTC)
        return f"floor(extract(epoch from {column}) * 1000)::bigint"

    def create_schema(self, engine: Engine, bases: Sequence) -> None:
        # processes starting at once would race on CREATE TABLE IF NOT EXISTS (a unique violation in the
        # catalog): the first takes the lock and creates, the others wait and find everything there
        def create(connection) -> None:
            cursor = connection.cursor()
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            bind = engine.dialect
            for base in bases:
                for table in base.metadata.sorted_tables:
                    ddl = str(CreateTable(table, if_not_exists=True).compile(dialect=bind))
                    cursor.execute(ddl)
                    for statement in index_statements(table):
                        cursor.execute(statement)

        self._transaction(engine, "creating the tables", create)

    def empty(self, engine: Engine, tables: Sequence[str]) -> None:
        if tables:
            names = ", ".join(f'"{t}"' for t in tables)
            self._transaction(engine, "emptying the tables", lambda c: c.cursor().execute(f"TRUNCATE {names}"))

    def upsert_rows(self, engine: Engine, schema: Schema, columns: tuple[str, ...], rows: list[Sequence],
                    together: Together | None = None) -> None:
        table = schema.__tablename__
        self._transaction(engine, f"writing {len(rows)} rows to {table}", self._upsert_work(schema, columns, rows),
                          together=together)

    def upsert_tables(self, engine: Engine, parts: Sequence[Part]) -> None:
        works = [self._upsert_work(schema, columns, rows) for schema, columns, rows in parts]
        self._transaction(engine, _writing_parts(parts), functools.partial(_in_turn, works))

    def _upsert_work(self, schema: Schema, columns: tuple[str, ...], rows: list[Sequence]) -> Callable:
        """The staged upsert of ``rows``, as a function of a psycopg connection inside a transaction."""
        rows = last_per_id(columns, rows)
        table = schema.__tablename__
        names, updates = column_clauses(schema, columns)
        if len(rows) <= VALUES_ROWS and len(rows) * len(columns) <= VALUES_PARAMETERS:
            # a few rows (a ledger's windows, a stream's flush): one statement, one round trip, no staging table
            position = columns.index("id")
            # id order, as the staging path's ORDER BY (a missing id sorts first: the statement refuses it)
            rows = sorted(rows, key=lambda row: "" if row[position] is None else str(row[position]))
            marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
            statement = (f'INSERT INTO "{table}" ({names}) VALUES {", ".join([marks] * len(rows))} '
                         f"ON CONFLICT (id) DO UPDATE SET {updates}")
            cells = [cell for row in rows for cell in row]
            return lambda connection: connection.cursor().execute(statement, cells)
        statements = (
            f'CREATE TEMP TABLE IF NOT EXISTS "zvt_ccxt_stage_{table}" (LIKE "{table}") ON COMMIT DELETE ROWS',
            f'COPY "zvt_ccxt_stage_{table}" ({names}) FROM STDIN',
            f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "zvt_ccxt_stage_{table}" ORDER BY "id" '
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
        )

        def write(connection) -> None:
            cursor = connection.cursor()
            cursor.execute(statements[0])
            with cursor.copy(statements[1]) as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(statements[2])

        return write

    def prepare_bars(self, engine: Engine, schema: Schema, bars: Bars, id_prefix: str,
                     daily_ids: bool, together: Together | None = None) -> Callable[[], int]:
        ts_ms, values, constants = bars
        if not pg_binary.encodable(schema, values, constants):
            return super().prepare_bars(engine, schema, bars, id_prefix, daily_ids, together)
        ts_ms, values = _last_per_time(ts_ms, values)
        columns, payload = pg_binary.encode(schema, ts_ms, values, constants, id_prefix, daily_ids)
        span = (constants.get("entity_id"), int(ts_ms.min()), int(ts_ms.max()))
        return functools.partial(self._write_bars, engine, schema, tuple(columns), payload, span, len(ts_ms),
                                 together)

    def _write_bars(self, engine: Engine, schema: Schema, columns: tuple[str, ...], payload: Sequence,
                    span: tuple, count: int, together: Together | None = None) -> int:
        """Bars of one series, as a binary COPY payload (buffers sent in order): straight into the table when it
        holds none of the series' bars in their time span (a backfill reaching new ground, PostgreSQL's fastest
        path), else through the staging table and the upsert. A writer racing for the same new bars makes the
        straight COPY fail on the primary key; the transaction is then redone through the upsert."""
        import psycopg

        table = schema.__tablename__
        names, updates = column_clauses(schema, columns)
        entity_id, first_ms, last_ms = span
        through_stage = [entity_id is None or "entity_id" not in columns]

        def write(connection) -> None:
            cursor = connection.cursor()
            if not through_stage[0]:
                cursor.execute(
                    f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE "entity_id" = %s AND "timestamp" >= %s '
                    'AND "timestamp" <= %s)',
                    (entity_id, _pg_time(first_ms), _pg_time(last_ms)),
                )
                if not cursor.fetchone()[0]:
                    try:
                        with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN (FORMAT BINARY)') as copy:
                            _send(copy, payload)
                        return
                    except psycopg.errors.UniqueViolation:
                        through_stage[0] = True
                        raise
                through_stage[0] = True
            cursor.execute(
                f'CREATE TEMP TABLE IF NOT EXISTS "zvt_ccxt_stage_{table}" (LIKE "{table}") ON COMMIT DELETE ROWS'
            )
            with cursor.copy(f'COPY "zvt_ccxt_stage_{table}" ({names}) FROM STDIN (FORMAT BINARY)') as copy:
                _send(copy, payload)
            cursor.execute(
                f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "zvt_ccxt_stage_{table}" ORDER BY "id" '
                f"ON CONFLICT (id) DO UPDATE SET {updates}"
            )

        self._transaction(engine, f"writing {count} bars to {table}", write, retry_unique=True, together=together)
        return count

    def _transaction(self, engine: Engine, doing: str, work: Callable, retry_unique: bool = False,
                     together: Together | None = None) -> None:
        """Run ``work(psycopg connection)``, then the upsert of ``together``'s rows, and commit; retry it whole on
        a lost connection, a restarting server or a deadlock (each retry a fresh pooled connection) for up to
        ``RETRY_SECONDS``; raise ``StorageError``."""
        import psycopg

        if together is not None:
            if not _same_database(engine, together.engine):
                raise StorageError(f"{doing}: {together.schema.__tablename__} is in another database")
            work = functools.partial(_in_turn, (work, self._upsert_work(together.schema, together.columns,
                                                                        together.rows)))

        deadline = time.monotonic() + RETRY_SECONDS
        pause = RETRY_FIRST_PAUSE
        while True:
            try:
                connection = engine.raw_connection()
            except (SQLAlchemyError, psycopg.OperationalError) as error:  # the server is not accepting connections
                if time.monotonic() + pause > deadline:
                    raise StorageError(f"{doing} failed: cannot connect: {_first_line(error)}") from error
                log.warning("%s: cannot connect (%s), retrying", doing, _first_line(error))
                time.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_PAUSE)
                continue
            try:
                work(connection.driver_connection)
                connection.commit()
                return
            except psycopg.errors.UniqueViolation as error:
                if not retry_unique:
                    with contextlib.suppress(psycopg.Error):
                        connection.rollback()
                    raise StorageError(f"{doing} failed: {_first_line(error)}") from error
                connection.rollback()  # another writer stored some of these rows first: redo as an upsert
                retry_unique = False
            except psycopg.OperationalError as error:  # also deadlocks and serialisation failures
                connection.invalidate()
                if time.monotonic() + pause > deadline:
                    raise StorageError(f"{doing} failed: {_first_line(error)}") from error
                log.warning("%s: %s, retrying", doing, _first_line(error))
                time.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_PAUSE)
            except (psycopg.Error, OverflowError, ValueError, TypeError) as error:
                with contextlib.suppress(psycopg.Error):
                    connection.rollback()
                raise StorageError(f"{doing} failed: {_first_line(error)}") from error
            finally:
                connection.close()


def left_stepping(error: BaseException) -> bool:
    """True for SQLite refusing a COMMIT because a statement on the connection still steps."""
    return "statements in progress" in str(getattr(error, "orig", None) or error)


#: False once this SQLite turned out to be built without the ``sqlite_stmt`` table (SQLITE_ENABLE_STMTVTAB)
_statement_table = True


def _statement_left_stepping(dbapi_connection) -> bool:
    """True when a statement that writes still steps on ``dbapi_connection`` (where SQLite can tell)."""
    global _statement_table
    if not _statement_table or dbapi_connection is None:
        return False
    try:
        found = dbapi_connection.execute("SELECT 1 FROM sqlite_stmt WHERE busy AND NOT ro LIMIT 1").fetchone()
        return found is not None
    except sqlite3.Error:
        _statement_table = False
        return False


def _discard_connection_left_stepping(context) -> None:
    # a connection SQLite refuses to commit on stays unusable: treated as lost, the pool replaces it (and a
    # retried statement, ``store.retrying``, gets a fresh one)
    if left_stepping(context.original_exception):
        # its transaction ends first: closed with a statement still alive, the connection would linger, holding
        # the write lock, until that statement is finalized
        dbapi_connection = getattr(getattr(context.connection, "connection", None), "dbapi_connection", None)
        if dbapi_connection is not None:
            with contextlib.suppress(sqlite3.Error):
                dbapi_connection.rollback()
        context.is_disconnect = True


def _in_turn(works: Sequence[Callable], connection) -> None:
    for work in works:
        work(connection)


def _executemany(statement: str, rows: list[Sequence], connection) -> None:
    connection.cursor().executemany(statement, rows)


def _writing_parts(parts: Sequence[Part]) -> str:
    """What a several-table write is doing, for its error: "writing 3 rows to a, 1 rows to b"."""
    return "writing " + ", ".join(f"{len(rows)} rows to {schema.__tablename__}" for schema, _, rows in parts)


def _same_database(engine: Engine, other: Engine) -> bool:
    return engine is other or str(engine.url) == str(other.url)


def _send(copy, buffers: Sequence) -> None:
    for buffer in buffers:
        copy.write(buffer)


def _pg_time(ms: int):
    """A naive UTC datetime of ``ms`` (a timestamp parameter, unambiguous in any session zone)."""
    import datetime

    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=int(ms))


def _last_per_time(ts_ms: np.ndarray, values: Mapping[str, np.ndarray]) -> tuple[np.ndarray, Mapping]:
    """Bars with one per open time, the last one given of each (PostgreSQL refuses to upsert a row twice)."""
    if len(ts_ms) < 2 or bool((np.diff(ts_ms) > 0).all()):
        return ts_ms, values
    reversed_first = np.unique(ts_ms[::-1], return_index=True)[1]
    keep = np.sort(len(ts_ms) - 1 - reversed_first)
    return ts_ms[keep], {name: np.asarray(array)[keep] for name, array in values.items()}


def _utc_session(dbapi_connection, _record) -> None:
    dbapi_connection.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


_DIALECTS: dict[str, Dialect] = {SQLite.name: SQLite(), PostgreSQL.name: PostgreSQL()}


def forget_inherited_locks() -> None:
    """In a forked process: every dialect's locks of its own (``Dialect.forget_inherited_locks``)."""
    for dialect in _DIALECTS.values():
        dialect.forget_inherited_locks()


def dialect_for(engine: Engine) -> Dialect:
    """The dialect of ``engine``'s database; a database without one is refused by name."""
    dialect = _DIALECTS.get(engine.dialect.name)
    if dialect is None:
        known = ", ".join(_DIALECTS)
        raise StorageError(f"zvt-ccxt cannot store into {engine.dialect.name} databases (it knows: {known})")
    return dialect
