"""SQLite: a backfill's WAL copied into the database by a thread of its own, outside the writers' turn.

In WAL mode every committed page goes to the ``-wal`` file first, and a checkpoint copies it into the database
later. SQLite runs one in the connection that committed, before its commit returns, whenever the WAL holds 1,000
pages (``wal_autocheckpoint``): in a backfill that is inside the writer's turn at the file (``SQLite.writing``),
which every other writer of the file waits for. A backfill of 20 series keeps that turn taken back to back, so
the copies add to the whole run: about a quarter of the time of its writes (``python -m
benchmarks.sqlite_series``).

While a backfill holds ``checkpointing(engine, writing)``:

- connections to its database made from then on (the recording processes forked later included) do not
  checkpoint (``wal_autocheckpoint=0``, set as they connect: ``copied_by_thread``; the engine's idle connections
  are closed first);
- a daemon thread of this process copies the WAL with passive checkpoints, which neither wait for a writer nor
  hold one up, on a connection of its own;
- once the WAL holds ``RESTART_PAGES`` pages, the thread takes a writer's turn and starts the WAL over from its
  beginning (``RESTART``), so it stays bounded in a long backfill; a reader still on an older snapshot makes
  that give up after ``RESTART_WAIT_MS``, and it is tried again when the WAL has grown as much again;
- when the block ends the thread stops, the WAL is copied whole and truncated in a writer's turn, and
  connections checkpoint as before.

Nothing here decides what is stored: a checkpoint copies committed pages, and a process killed at any point
leaves a WAL that the next connection reads, as always in WAL mode.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator

from sqlalchemy.engine import Engine

from zvt_ccxt.store.deferred_indexes import Writing, database_file

logger = logging.getLogger(__name__)

#: the WAL is started over once it holds this many pages (256 MB of 4 KB pages)
RESTART_PAGES = 65_536
#: how long a restart, or the copy at the end, waits for readers of older snapshots (in a writer's turn)
RESTART_WAIT_MS = 200
#: the pause between passes that found nothing left to copy
IDLE_SECONDS = 0.02

#: database files whose checkpoints a thread of this process runs, with how many blocks hold each
_held: dict[str, int] = {}
_held_lock = threading.Lock()

#: held around each SQLite call of a copier, and by a thread about to fork: a process forked while another
#: thread was inside SQLite inherits SQLite's locks held by nobody, and its first connection waits forever
_in_sqlite = threading.Lock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_in_sqlite.acquire, after_in_parent=_in_sqlite.release,
                        after_in_child=_in_sqlite.release)


def copied_by_thread(database: str | None) -> bool:
    """Whether a thread of this process copies ``database``'s WAL now: then a new connection to it does not
    checkpoint at its commits (``PRAGMA wal_autocheckpoint=0``); otherwise it keeps SQLite's default."""
    return database is not None and bool(_held.get(database))


@contextlib.contextmanager
def checkpointing(engine: Engine, writing: Writing) -> Iterator[None]:
    """Within the block, ``engine``'s database file is checkpointed by a thread of this process and not by its
    writers' connections (in memory: nothing to do)."""
    database = database_file(engine)
    if database is None:
        yield
        return
    with _held_lock:
        _held[database] = _held.get(database, 0) + 1
    engine.dispose()  # idle connections made before checkpoint as they always did: new ones will not
    copier = _Copier(database, writing)
    copier.start()
    try:
        yield
    finally:
        copier.stop()
        with _held_lock:
            _held[database] -= 1
            if not _held[database]:
                del _held[database]
        engine.dispose()  # back to checkpointing at their own commits
        copier.finish()


class _Copier:
    """The thread that copies one database's WAL while writers write."""

    def __init__(self, database: str, writing: Writing) -> None:
        self._database = database
        self._writing = writing
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zvt-ccxt-checkpoints", daemon=True)
        self._restart_at = RESTART_PAGES
        self._copied = 0  # pages the last pass found copied

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def finish(self) -> None:
        """Copy what is left and truncate the WAL, in a writer's turn (a reader still on it: left for later)."""
        try:
            with self._connection() as connection, self._writing():
                _call(connection, "PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as error:  # the WAL stays as it is; the next connection's checkpoints copy it
            logger.debug("%s: the WAL was left for later checkpoints: %s", self._database, error)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with _in_sqlite:
            connection = sqlite3.connect(self._database, timeout=RESTART_WAIT_MS / 1000, isolation_level=None,
                                         check_same_thread=False)
        try:
            yield connection
        finally:
            with _in_sqlite:
                connection.close()

    def _run(self) -> None:
        try:
            with self._connection() as connection:
                while not self._stop.is_set():
                    if not self._pass(connection):
                        self._stop.wait(IDLE_SECONDS)
        except sqlite3.Error as error:  # the writers do not checkpoint until the block ends: say so once
            logger.warning("%s: the WAL is no longer copied during this backfill (%s); it is copied when the "
                           "backfill ends", self._database, error)

    def _pass(self, connection: sqlite3.Connection) -> bool:
        """One passive checkpoint, and a restart when the WAL is long; True if it copied pages the last did not."""
        try:
            _busy, pages, copied = _call(connection, "PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.OperationalError:  # another checkpoint under way (another process's): try again later
            return False
        if pages >= self._restart_at:
            with self._writing():  # no write of ours is half-way while the WAL starts over
                busy, pages, copied = _call(connection, "PRAGMA wal_checkpoint(RESTART)")
            # held up by a reader of an older snapshot: tried again once the WAL has grown as much again
            self._restart_at = pages + RESTART_PAGES if busy else RESTART_PAGES
        moved, self._copied = copied != self._copied, copied
        return moved


def _call(connection: sqlite3.Connection, statement: str) -> tuple:
    """The first row of ``statement`` (a pragma), run where no fork can happen meanwhile."""
    with _in_sqlite:
        return connection.execute(statement).fetchone()
