"""Statements tried again while the database turns them away for now: a busy SQLite file, or a PostgreSQL
server restarting (connections broken, then refused until it accepts again).

Writes retry inside the dialect (``dialect.PostgreSQL._transaction``, one transaction redone whole); the reads a
recorder or a planner makes, and the shared budget's statements, go through :func:`retried` here, for as long as
a write would (``dialect.RETRY_SECONDS``), so a job survives a database restart instead of failing its symbol.
A read is safe to repeat; the work given must be a whole transaction (or none), never part of one.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from zvt_ccxt.errors import StorageError
from zvt_ccxt.store.dialect import RETRY_FIRST_PAUSE, RETRY_MAX_PAUSE, RETRY_SECONDS

T = TypeVar("T")
log = logging.getLogger(__name__)
#: tries of a statement the database turns away for now, at least (then until ``RETRY_SECONDS`` have passed)
ATTEMPTS = 6


def transient(error: BaseException) -> bool:
    """True for an error that trying again later can cure: the database busy, the connection lost, the server
    restarting or refusing connections; not a bad statement or a missing table."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    text = str(error.orig if error.orig is not None else error).lower()
    # SQLite names a missing table or column an OperationalError too: that one lasts
    return not ("no such table" in text or "no such column" in text or "syntax error" in text)


def retried(work: Callable[[], T], doing: str) -> T:
    """``work()``, tried again while it fails with a :func:`transient` error, pausing 50 ms doubling to 2 s, for
    at least ``ATTEMPTS`` tries and up to ``RETRY_SECONDS``; then ``StorageError`` naming ``doing``."""
    deadline = time.monotonic() + RETRY_SECONDS
    pause = RETRY_FIRST_PAUSE
    for attempt in itertools.count():
        try:
            return work()
        except DBAPIError as error:
            if not transient(error):
                raise
            if attempt >= ATTEMPTS - 1 and time.monotonic() + pause > deadline:
                raise StorageError(f"{doing} failed: {_first_line(error)}") from error
            if attempt == 0:
                log.warning("%s: %s, retrying", doing, _first_line(error))
            time.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_PAUSE)
    raise AssertionError("unreachable")


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
