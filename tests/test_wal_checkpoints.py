"""While a backfill holds SQLite's bulk load, its WAL is copied into the database by a thread of the process and
not at the writers' commits (``store/wal_checkpoints.py``): new connections do not checkpoint, the thread copies
what they commit, starts the WAL over once it is long, truncates it at the end, and a process forked meanwhile
connects as usual."""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
import time

import pytest
from sqlalchemy import create_engine

from zvt_ccxt.domain import CryptoPair1mKdata
from zvt_ccxt.store import wal_checkpoints
from zvt_ccxt.store.dialect import dialect_for
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt.store.processes import can_fork

PAGE = 4096
#: SQLite's own wal_autocheckpoint, what a connection keeps when no thread copies its WAL
SQLITE_DEFAULT = 1000


@pytest.fixture
def store(tmp_path):
    """A WAL-mode SQLite file tuned as the store tunes its engines, with a table of page-sized rows."""
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    dialect = dialect_for(engine)
    dialect.tune(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE pages (n INTEGER PRIMARY KEY, body BLOB)")
    yield engine, dialect, str(tmp_path / "store.db")
    engine.dispose()


def _write_pages(engine, first: int, count: int) -> None:
    """One transaction of ``count`` rows of about a page each."""
    with engine.begin() as connection:
        connection.exec_driver_sql("WITH RECURSIVE s(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM s WHERE n < ?) "
                                   "INSERT INTO pages (n, body) SELECT n, randomblob(3000) FROM s",
                                   (first, first + count - 1))


def _wal_bytes(database: str) -> int:
    """The size of the database's WAL file; 0 without one (the last connection to close removes it)."""
    return os.path.getsize(database + "-wal") if os.path.exists(database + "-wal") else 0


def _autocheckpoint(engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()


def _checkpointing(engine, dialect):
    return wal_checkpoints.checkpointing(engine, functools.partial(dialect.writing, engine))


def _wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_connections_do_not_checkpoint_while_the_thread_copies_the_wal_and_do_again_after(store):
    engine, dialect, _database = store
    assert _autocheckpoint(engine) == SQLITE_DEFAULT
    with _checkpointing(engine, dialect):
        assert _autocheckpoint(engine) == 0
        assert any(t.name == "zvt-ccxt-checkpoints" for t in threading.enumerate())
    assert _autocheckpoint(engine) == SQLITE_DEFAULT


def test_what_writers_commit_is_copied_into_the_database_by_the_thread_and_the_wal_truncated_at_the_end(store):
    engine, dialect, database = store
    before = os.path.getsize(database)
    with _checkpointing(engine, dialect):
        for batch in range(10):
            _write_pages(engine, batch * 100, 100)
        # the writers no longer copy it: only the thread can grow the database file by a thousand pages
        assert _wait_for(lambda: os.path.getsize(database) >= before + 900 * PAGE)
    assert _wal_bytes(database) == 0
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*), MIN(n), MAX(n) FROM pages").one() == (1000, 0, 999)


def test_a_long_wal_is_started_over(store, monkeypatch):
    engine, dialect, database = store
    monkeypatch.setattr(wal_checkpoints, "RESTART_PAGES", 200)
    with _checkpointing(engine, dialect):
        for batch in range(30):
            _write_pages(engine, batch * 50, 50)  # 1,500 pages in all, 50 a transaction
            time.sleep(0.02)
        longest = _wal_bytes(database)  # a restart reuses the file from its start: its size is the longest WAL
    # never started over, the WAL would hold every page written; started over, it stays near the bound
    assert longest < 600 * PAGE
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM pages").scalar() == 1500


def test_a_reader_on_an_older_snapshot_holds_up_no_write(store, monkeypatch):
    engine, dialect, database = store
    monkeypatch.setattr(wal_checkpoints, "RESTART_PAGES", 100)
    _write_pages(engine, 0, 10)
    with _checkpointing(engine, dialect), engine.connect() as reader:
        reader.exec_driver_sql("BEGIN")
        assert reader.exec_driver_sql("SELECT COUNT(*) FROM pages").scalar() == 10  # its snapshot from now on
        started = time.monotonic()
        for batch in range(1, 21):
            _write_pages(engine, batch * 50, 50)
            time.sleep(0.01)
        writing = time.monotonic() - started
        assert reader.exec_driver_sql("SELECT COUNT(*) FROM pages").scalar() == 10
        reader.exec_driver_sql("COMMIT")
    # each restart the reader refuses waits at most RESTART_WAIT_MS, and is tried once the WAL grew as much again
    assert writing < 20 * 0.01 + 12 * wal_checkpoints.RESTART_WAIT_MS / 1000
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM pages").scalar() == 1010


def _child_writes(database: str, first: int) -> None:
    import sqlite3

    connection = sqlite3.connect(database, timeout=30)
    with connection:
        connection.execute("INSERT INTO pages (n, body) VALUES (?, randomblob(3000))", (first,))
    connection.close()


@pytest.mark.skipif(not can_fork(), reason="needs fork")
def test_processes_forked_while_the_thread_copies_connect_and_write(store, monkeypatch):
    engine, dialect, database = store
    monkeypatch.setattr(wal_checkpoints, "IDLE_SECONDS", 0)  # the thread is in SQLite nearly all the time
    context = multiprocessing.get_context("fork")
    with _checkpointing(engine, dialect):
        for n in range(30):
            _write_pages(engine, 1000 + n * 40, 40)  # the thread has pages to copy at every fork
            child = context.Process(target=_child_writes, args=(database, n))
            child.start()
            child.join(20)
            alive = child.is_alive()
            if alive:
                child.kill()
            assert not alive and child.exitcode == 0, f"fork {n}: the child hung connecting"
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM pages WHERE n < 30").scalar() == 30


def test_a_backfill_of_the_store_copies_its_wal_in_a_thread(sim):
    """The recorders' bulk load holds it: during the run no connection to the kdata file checkpoints, and after
    it they do again, with the WAL truncated."""
    engine = engine_for(CryptoPair1mKdata)
    seen: list[int] = []
    summary = CryptoPair1mKdata.record_data(
        provider="ccxt", exchange="binance", symbols=["BTC/USDT", "ETH/USDT"], start_timestamp="2025-05-31",
        progress=lambda result, done, total: seen.append(_autocheckpoint(engine)))
    assert summary.ok and seen and set(seen) == {0}
    assert _autocheckpoint(engine) == SQLITE_DEFAULT
    assert _wal_bytes(engine.url.database) == 0
