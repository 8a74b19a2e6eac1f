"""SQLite: a table's time index left out while a large backfill of several series writes it, and built once at
its end.

An index on ``timestamp`` alone orders the rows of every series by time. One series recorded in time order adds
to its end; a second series over the same days puts each of its rows between rows already there, and SQLite splits
and rewrites those pages batch after batch. With 20 series of 90 days of 1m bars, the file's one writer stores
about half as many rows a second as without that index (``python -m benchmarks.sqlite_series``), while
``CREATE INDEX`` on the finished table sorts it once: about a microsecond a row of the table. So a backfill of two
series or more that writes at least ``MIN_ROWS`` rows, and at least half as many as the table holds, drops the
table's indexes on ``timestamp`` alone when it starts and builds them again when it ends, however it ends.

What keeps that safe:

- The statements that build them again are noted beside the database (``FILE-deferred-indexes``, JSON) before an
  index is dropped, and the note is removed once they ran. A process that dies in between (killed, a power cut)
  leaves the note; the next process to use the database builds them from it (``restore``, at the engine's first
  use in a process, and at the start of every recording run).
- Each deferring process holds a shared lock on ``FILE-deferred-indexes.lock`` until it ends, and only a process
  that gets that lock alone builds the indexes: one backfill ending, or another process starting, does not build
  them under a backfill still writing; the last one to end builds them.
- The primary key (the row ids every upsert looks up) and the other indexes stay, so writes and the reads of one
  series (``entity_id``) work as before; a read of all series by time scans the table until the index is back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator

from sqlalchemy.engine import Engine
from sqlalchemy.schema import DropIndex, Index

from zvt_ccxt.errors import StorageError

try:
    import fcntl
except ImportError:  # not POSIX: no way to tell a live deferral from a dead one, so indexes are never deferred
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: a backfill writing fewer rows keeps its indexes: it would save about half a second at most
MIN_ROWS = 100_000
#: beside the database file: the note of indexes to build again, and the lock of the processes deferring them
NOTE_SUFFIX = "-deferred-indexes"
LOCK_SUFFIX = NOTE_SUFFIX + ".lock"
#: SQLite's helper threads for the sort of CREATE INDEX: one per core (a pragma takes no bound parameter)
BUILD_THREADS = min(os.cpu_count() or 1, 8)

Writing = Callable[[], contextlib.AbstractContextManager]


def database_file(engine: Engine) -> str | None:
    """The SQLite file of ``engine``, beside which its write lock and this note sit; None in memory or by URI."""
    database = engine.url.database
    return None if not database or database == ":memory:" or database.startswith("file:") else database


def _database_file(engine: Engine) -> str | None:
    return None if fcntl is None else database_file(engine)


def should_defer(engine: Engine, table: str, series: int, count_rows: Callable[[], int]) -> bool:
    """Whether writing ``count_rows()`` rows of ``series`` series into ``table`` goes faster without its time index
    (the rows counted only when there are several series, into a file)."""
    if series < 2 or _database_file(engine) is None:
        return False
    rows = count_rows()
    if rows < MIN_ROWS:
        return False
    with engine.connect() as connection:  # the largest rowid: the table's size without counting it
        held = connection.exec_driver_sql(f'SELECT MAX(rowid) FROM "{table}"').scalar() or 0
    return 2 * rows >= held


@contextlib.contextmanager
def deferred(engine: Engine, table: str, writing: Writing) -> Iterator[None]:
    """Within the block ``table`` has no index on ``timestamp`` alone; they are built again when it ends, unless
    another process is deferring them too (the last to end builds them)."""
    database = _database_file(engine)
    if database is None:
        yield
        return
    descriptor = os.open(database + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH)  # waits while a process builds them: dropped right after
        try:
            with writing():
                _drop(engine, table, database + NOTE_SUFFIX)
        except Exception as error:  # slower with them, but the backfill itself is not at stake
            logger.warning("%s: the time index is kept during this backfill: %s", table, error)
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
        restore(engine, writing)


def restore(engine: Engine, writing: Writing) -> None:
    """Build the indexes the note beside ``engine``'s database names, unless a live process is deferring them."""
    database = _database_file(engine)
    if database is None or not os.path.exists(database + NOTE_SUFFIX):
        return
    descriptor = os.open(database + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a backfill is still writing without them: it builds them when it ends
            return
        try:
            with writing():
                _build(engine, database + NOTE_SUFFIX)
        except Exception as error:  # the rows are stored; the note stays, and the next use builds them
            logger.error("%s: the time index left out during a backfill could not be built again (%s); the next "
                         "use of the store tries again", os.path.basename(database), error)
    finally:
        os.close(descriptor)  # unlocks


def _time_indexes(connection, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of ``table``'s indexes on ``timestamp`` alone."""
    found = []
    listed = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,)
    ).fetchall()
    for name, sql in listed:
        columns = [row[2] for row in connection.exec_driver_sql("SELECT * FROM pragma_index_info(?)", (name,))]
        if columns == ["timestamp"]:
            found.append((name, sql))
    return found


def _read_note(path: str) -> dict[str, str]:
    """{index name: its CREATE statement}; an unreadable note (it is written whole or not at all, so only a hand
    could break it) is an error naming the file, and stays for whoever fixes it."""
    try:
        with open(path, encoding="utf-8") as file:
            note = json.load(file)
    except FileNotFoundError:
        return {}
    except ValueError as error:
        raise StorageError(f"{path}: not a note of indexes to build ({error})") from None
    if not isinstance(note, dict):
        raise StorageError(f"{path}: not a note of indexes to build (a JSON object of index name: statement)")
    return {str(name): str(sql) for name, sql in note.items()}


def _write_note(path: str, note: dict[str, str]) -> None:
    scratch = path + ".tmp"
    with open(scratch, "w", encoding="utf-8") as file:
        json.dump(note, file, indent=1, sort_keys=True)
        file.flush()
        os.fsync(file.fileno())
    os.replace(scratch, path)  # the old note or the new one, never half of one


def _drop(engine: Engine, table: str, note_path: str) -> None:
    with engine.begin() as connection:
        indexes = _time_indexes(connection, table)
        if not indexes:  # another live process deferred them: its note names them
            return
        note = _read_note(note_path)
        note.update(indexes)
        _write_note(note_path, note)  # noted before anything is dropped
        for name, _ in indexes:  # a name the database gave: quoted by SQLAlchemy's DDL, never by hand
            connection.execute(DropIndex(Index(name), if_exists=True))


def _build(engine: Engine, note_path: str) -> None:
    note = _read_note(note_path)
    with engine.begin() as connection:
        # CREATE INDEX sorts the whole table: with helper threads on every core (a fifth faster on two cores)
        connection.exec_driver_sql(f"PRAGMA threads = {BUILD_THREADS}")
        present = {row[0] for row in connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")}
        for name, sql in note.items():
            if name not in present and sql.upper().startswith("CREATE INDEX "):  # the note holds nothing else
                connection.exec_driver_sql(sql)
    os.unlink(note_path)
