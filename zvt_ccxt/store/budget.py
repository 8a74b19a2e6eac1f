"""The shared request budgets (``ccxt_rate_budget``): each reservation and pause is one atomic statement.

A reservation moves the budget's ``next_free`` past the request's cost in one ``UPDATE ... RETURNING``, so
processes on any machine that share the database take turns without a lock of their own (SQLite serialises
writers; PostgreSQL re-reads a row another transaction just changed before updating it). Times are Unix seconds.
"""

from __future__ import annotations

from sqlalchemy import text

from zvt_ccxt.domain.budget import CcxtRateBudget
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt.store.retrying import retried

_ENSURE = text(
    'INSERT INTO "ccxt_rate_budget" ("id", "entity_id", "exchange", "egress", "next_free", "paused_until") '
    "VALUES (:id, :id, :exchange, :egress, 0, 0) ON CONFLICT (id) DO NOTHING"
)
# the next request starts when the budget is free, after a pause, and never before now; it spends ``interval``
_RESERVE = text(
    'UPDATE "ccxt_rate_budget" SET "next_free" = (CASE '
    'WHEN "next_free" >= :now AND "next_free" >= "paused_until" THEN "next_free" '
    'WHEN "paused_until" >= :now THEN "paused_until" ELSE :now END) + :interval '
    'WHERE "id" = :id RETURNING "next_free", "paused_until"'
)
_PAUSE = text(
    'UPDATE "ccxt_rate_budget" SET '
    '"paused_until" = CASE WHEN "paused_until" >= :until THEN "paused_until" ELSE :until END, '
    '"next_free" = CASE WHEN "next_free" >= :until THEN "next_free" ELSE :until END '
    'WHERE "id" = :id'
)
_ADVANCE = text(
    'UPDATE "ccxt_rate_budget" SET "next_free" = CASE WHEN "next_free" >= :position THEN "next_free" '
    'ELSE :position END WHERE "id" = :id'
)
_PAUSED = text('SELECT "paused_until" FROM "ccxt_rate_budget" WHERE "id" = :id')


def budget_id(exchange: str, egress: str) -> str:
    return f"{exchange}|{egress}"


def ensure(exchange: str, egress: str) -> str:
    """Create the budget of (``exchange``, ``egress``) unless it exists; return its id."""
    key = budget_id(exchange, egress)

    def work() -> None:
        with engine_for(CcxtRateBudget).begin() as connection:
            connection.execute(_ENSURE, {"id": key, "exchange": exchange, "egress": egress})

    retried(work, f"creating request budget {key!r}")
    return key


def reserve(key: str, now: float, interval: float) -> tuple[float, float]:
    """Spend ``interval`` seconds of budget ``key`` from no earlier than ``now`` (``limiter.budget_floor``); return
    (its new ``next_free``, its ``paused_until``)."""

    def work() -> list:
        with engine_for(CcxtRateBudget).begin() as connection:
            # every returned row read before the commit: SQLite refuses to commit while the statement still steps
            return list(connection.execute(_RESERVE, {"id": key, "now": now, "interval": interval}).fetchall())

    rows = retried(work, f"reserving from request budget {key!r}")
    if len(rows) != 1:
        raise StorageError(f"request budget {key!r} is missing from ccxt_rate_budget")
    return float(rows[0][0]), float(rows[0][1])


def pause(key: str, until: float) -> None:
    """Hold every request of budget ``key`` until ``until`` (kept if a later pause is already set)."""
    def work() -> None:
        with engine_for(CcxtRateBudget).begin() as connection:
            connection.execute(_PAUSE, {"id": key, "until": until})

    retried(work, f"pausing request budget {key!r}")


def advance(key: str, position: float) -> None:
    """Move budget ``key`` up to ``position`` (kept if it is already further)."""
    def work() -> None:
        with engine_for(CcxtRateBudget).begin() as connection:
            connection.execute(_ADVANCE, {"id": key, "position": position})

    retried(work, f"advancing request budget {key!r}")


def paused_until(key: str) -> float:
    def work() -> float:
        with engine_for(CcxtRateBudget).connect() as connection:
            return float(connection.execute(_PAUSED, {"id": key}).scalar() or 0.0)

    return retried(work, f"reading request budget {key!r}")
