"""SQLite settings for zvt-ccxt's databases: WAL and a busy timeout, so a reader (a notebook) or a second
recorder process waits for a lock instead of failing. zvt's ``register_schema`` leaves them in DELETE mode."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine

BUSY_TIMEOUT_MS = 30_000
_tuned: set[int] = set()


def _on_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def tune_engine(engine: Engine) -> Engine:
    """Switch ``engine``'s database to WAL and set every connection's busy timeout (idempotent)."""
    if engine.dialect.name != "sqlite" or id(engine) in _tuned:
        return engine
    event.listen(engine, "connect", _on_connect)
    engine.dispose()
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    _tuned.add(id(engine))
    return engine
