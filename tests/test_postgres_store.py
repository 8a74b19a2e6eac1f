"""What only a server database has: session time zones, indexes, schema creation racing between processes, and
the server restarting or dropping connections under a backfill and a stream. The behaviour every store shares
runs on both through the ``database`` fixture in the other modules."""

from __future__ import annotations

import asyncio
import threading
import time

import pandas as pd
import psycopg
import pytest
from sqlalchemy import text
from test_stream import make_stream, started, trade_ids, until

import zvt_ccxt
from zvt_ccxt import levels
from zvt_ccxt.domain import CryptoPair1hKdata, CryptoPair1mKdata, CryptoTrade
from zvt_ccxt.store import dialect as dialect_module
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt_testkit import SIM_NOW_MS, simulated, simulated_streams
from zvt_ccxt_testkit.simulator.ws import TRADES

from conftest import FAST_RETRY, empty_store

START = "2025-05-28"
START_MS = levels.to_utc_ms(START)


@pytest.fixture
def pg(postgres_url, postgres_server, monkeypatch):
    """The store on the session's PostgreSQL server, empty."""
    from zvt_ccxt.config import DB_URL_ENV
    from zvt_ccxt.exchange.retry import set_default_policy

    monkeypatch.setenv(DB_URL_ENV, postgres_url)
    empty_store()
    previous = set_default_policy(FAST_RETRY)
    try:
        yield postgres_server
    finally:
        set_default_policy(previous)


def _server_default_zone(url: str) -> str:
    with psycopg.connect(url) as connection:
        return connection.execute("SHOW TimeZone").fetchone()[0]


def test_sessions_are_utc_on_a_server_in_another_zone_and_nothing_shifts(pg, postgres_url):
    assert _server_default_zone(postgres_url) == "Asia/Shanghai"  # the test kit's default, on purpose
    with engine_for(CryptoPair1hKdata).connect() as connection:
        assert connection.execute(text("SHOW TimeZone")).scalar() == "UTC"
    with simulated(SIM_NOW_MS):
        assert CryptoPair1hKdata.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"],
                                             start_timestamp=START).ok
    frame = CryptoPair1hKdata.query_data(provider="ccxt", order=CryptoPair1hKdata.timestamp.asc())
    assert frame.timestamp.iloc[0] == pd.Timestamp(START)
    # a zone-aware bound converts through the session zone: with UTC it selects exactly the bars after it
    aware = pd.Timestamp(START, tz="UTC") + pd.Timedelta(hours=5)
    bound = CryptoPair1hKdata.timestamp >= aware.to_pydatetime()
    later = CryptoPair1hKdata.query_data(provider="ccxt", filters=[bound])
    assert later.timestamp.iloc[0] == pd.Timestamp(START) + pd.Timedelta(hours=5)
    assert len(later) == len(frame) - 5


def test_the_provider_tables_have_their_composite_indexes(pg):
    with engine_for(CryptoPair1hKdata).connect() as connection:
        found = {
            (r.tablename, r.indexdef.split("(", 1)[1].rstrip(")"))
            for r in connection.execute(text("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
        }
    assert ("cryptopair_1h_kdata", "entity_id, \"timestamp\"") in found
    assert ("crypto_trade", "entity_id, ts_ms") in found
    assert ("ccxt_coverage", "data_table, entity_id, start_ms") in found


def test_processes_creating_the_schema_at_once_do_not_collide(pg, postgres_url):
    """Eight engines creating every table of the provider in a fresh database at the same moment."""
    from zvt.contract import zvt_context

    name = f"zvt_ccxt_race_{int(time.time() * 1000) % 10**9}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    bases = [zvt_context.dbname_map_base[n] for n in zvt_context.provider_map_dbnames["ccxt"]]
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        engine = dialect_module.engine_from_url(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            barrier.wait()
            dialect_module.dialect_for(engine).create_schema(engine, bases)
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    with psycopg.connect(url) as connection:
        tables = connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    assert tables == sum(len(base.metadata.tables) for base in bases)


def _restart_when(server, condition, timeout: float = 60.0) -> threading.Thread:
    """Restart ``server`` (immediate stop, like a crash) once ``condition()`` holds, in a thread."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not condition():
            time.sleep(0.01)
        server.restart("immediate")

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _count(schema) -> int:
    with engine_for(schema).connect() as connection:
        return connection.execute(text(f'SELECT count(*) FROM "{schema.__tablename__}"')).scalar()


def test_a_server_restart_mid_backfill_is_retried_and_nothing_is_lost_or_doubled(pg):
    with simulated(SIM_NOW_MS, page_cap=200, latency_ms=15) as sim:
        watcher = _restart_when(pg, lambda: _count(CryptoPair1mKdata) >= 1_000)
        summary = CryptoPair1mKdata.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"],
                                                start_timestamp=START)
        watcher.join(60)
        truth = sim.ohlcv("binance", "BTC/USDT", "1m", since=START_MS, until=levels.bar_start(SIM_NOW_MS, "1m") - 1)
    assert not watcher.is_alive() and summary.ok, summary
    frame = CryptoPair1mKdata.query_data(provider="ccxt", order=CryptoPair1mKdata.timestamp.asc())
    assert len(frame) == len(truth) == _count(CryptoPair1mKdata) and frame.id.is_unique
    assert frame[["open", "high", "low", "close", "volume"]].values.tolist() == [row[1:6] for row in truth]
    report = zvt_ccxt.coverage_report(CryptoPair1mKdata, exchange="binance")
    assert int(report.bars.iloc[0]) == int(report.expected_bars.iloc[0]) == len(truth)
    assert not report.failed_bars.any() and not report.unknown_bars.any()


def test_a_server_restart_mid_stream_loses_and_doubles_no_trade(pg):
    entity = "cryptopair_binance_btcusdt"
    with simulated_streams(SIM_NOW_MS) as ws:
        stream = make_stream("binance", ["BTC/USDT"], ["trades"])

        async def scenario():
            task = await started(stream, ws, "binance", TRADES)
            tape = ws.play("binance", "BTC/USDT", None, rate=400)
            await until(lambda: len(trade_ids(entity)) >= 200, what="first trades")
            restart = threading.Thread(target=pg.restart, args=("immediate",))
            restart.start()
            while restart.is_alive():
                await asyncio.sleep(0.05)
            await until(lambda: len(trade_ids(entity)) >= 800, timeout=60, what="trades after the restart")
            ws.pause("binance", "BTC/USDT")
            last = tape.first_id + tape.position - 1
            await until(lambda: max(trade_ids(entity)) == last, timeout=30, what="the last trade")
            stream.stop()
            return await task

        report = asyncio.run(scenario())
    ids = trade_ids(entity)
    assert sorted(ids) == list(range(min(ids), max(ids) + 1))  # nothing lost
    trades = next(s for s in report["subscriptions"] if s["channel"] == "trades")
    assert trades["rows"] >= len(ids) == _count(CryptoTrade)  # nothing doubled (the id is the key)


def test_a_dropped_connection_mid_write_is_retried(pg):
    """The server ends the writing session in the middle of a large batch; the batch is written once, whole."""
    from zvt_ccxt.store.writer import upsert
    from zvt_ccxt.stream.rows import TRADES_TABLE

    rows = [
        (f"cryptopair_binance_btcusdt_{i}", "cryptopair_binance_btcusdt", "2025-06-01 00:00:00.000000", "btcusdt",
         "binance", 1_748_736_000_000 + i, str(i), 100.0 + i, 1.0, 100.0 + i, "buy", "taker", "rest")
        for i in range(300_000)
    ]
    killed: list[int] = []

    def kill_writers() -> None:
        with psycopg.connect(str(engine_for(CryptoTrade).url.render_as_string(hide_password=False))
                             .replace("+psycopg", ""), autocommit=True) as admin:
            deadline = time.monotonic() + 30
            while not killed and time.monotonic() < deadline:
                found = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                    "AND datname = current_database() AND query LIKE 'COPY%'"
                ).fetchall()
                killed.extend(1 for r in found if r[0])
                time.sleep(0.002)

    killer = threading.Thread(target=kill_writers)
    killer.start()
    assert upsert(CryptoTrade, TRADES_TABLE.columns, rows) == len(rows)
    killer.join(30)
    assert killed, "no write was interrupted"
    assert _count(CryptoTrade) == len(rows)


@pytest.mark.parametrize("daily_ids", [False, True])
def test_bars_through_binary_copy_equal_the_row_path_nulls_and_doubles_included(pg, daily_ids):
    """The same bars written by the binary COPY path and by the generic row path leave identical rows, whether
    they reach new ground (COPY straight in) or overwrite stored bars (staging + upsert), repeated times included."""
    import numpy as np

    from zvt_ccxt.store.dialect import Dialect, dialect_for
    from zvt_ccxt.store.sqlite_records import HARD_FLOATS

    schema = CryptoPair1hKdata
    count = 400
    ts = SIM_NOW_MS - SIM_NOW_MS % 86_400_000 - np.arange(count, 0, -1, dtype="int64") * 86_400_000
    rng = np.random.default_rng(3)
    close = rng.standard_normal(count) * 1e4
    close[: len(HARD_FLOATS)] = HARD_FLOATS
    close[[5, 50, 77]] = [np.nan, np.inf, -np.inf]
    values = {"open": close * 1.5, "close": close, "high": rng.random(count), "low": rng.random(count),
              "volume": rng.random(count), "turnover": rng.random(count), "change_pct": rng.standard_normal(count),
              "turnover_estimated": rng.random(count) > 0.5}
    constants = {"entity_id": "cryptopair_test_x", "provider": "ccxt", "code": "x", "name": "X/Y", "level": "1h",
                 "timeframe": "1h", "derived": False, "closed": True}
    engine = engine_for(schema)
    postgres = dialect_for(engine)

    def table() -> list[tuple]:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(
                'SELECT * FROM "cryptopair_1h_kdata" WHERE entity_id = :e ORDER BY id'), {"e": "cryptopair_test_x"})]

    def write(dialect, part=slice(None)) -> None:
        bars = (ts[part], {k: v[part] for k, v in values.items()}, constants)
        dialect.prepare_bars(engine, schema, bars, "cryptopair_test_x", daily_ids)()

    # row path (the base class's) then binary path, over an empty table each time
    Dialect.prepare_bars(postgres, engine, schema, (ts, values, constants), "cryptopair_test_x", daily_ids)()
    by_rows = table()
    empty_store()
    write(postgres, slice(0, 100))  # new ground: COPY straight in
    write(postgres)  # partly stored: staging + upsert
    repeated = np.concatenate([ts, ts[:10]])
    doubled = {k: np.concatenate([v, v[:10]]) for k, v in values.items()}
    postgres.prepare_bars(engine, schema, (repeated, doubled, constants), "cryptopair_test_x", daily_ids)()
    by_copy = table()
    assert len(by_rows) == count and by_rows == by_copy
    nulls = [r for r in by_copy if r[schema.__table__.columns.keys().index("close")] is None]
    assert len(nulls) == 3


def test_a_few_rows_and_many_rows_are_stored_alike_through_their_two_statements(pg):
    """Up to ``VALUES_ROWS`` rows and ``VALUES_PARAMETERS`` values go as one ``INSERT ... VALUES``, more through
    COPY and staging: the same rows (an id given twice, the last winning; NULLs; text times) leave the same table
    either way."""
    from zvt_ccxt.store.writer import upsert
    from zvt_ccxt.stream.rows import TRADES_TABLE

    def rows(count: int, price: float) -> list[tuple]:
        made = [
            (f"cryptopair_binance_btcusdt_{i}", "cryptopair_binance_btcusdt", f"2025-06-01 00:00:{i % 60:02d}.000000",
             "btcusdt", "binance", 1_748_736_000_000 + i, str(i), price + i, None if i % 7 == 0 else 1.0,
             price + i, "buy", "taker", "rest")
            for i in range(count)
        ]
        return [*made, (*made[0][:7], -1.0, *made[0][8:])]  # the first id again, its later price winning

    def table(count: int) -> list[tuple]:
        with engine_for(CryptoTrade).connect() as connection:
            found = connection.execute(text(f'SELECT * FROM "{CryptoTrade.__tablename__}" ORDER BY id'))
            return [tuple(r) for r in found][:count]

    # rows(few) is few + 1 rows (one id twice), within both limits of one INSERT ... VALUES
    few = min(dialect_module.VALUES_ROWS // 2, dialect_module.VALUES_PARAMETERS // len(TRADES_TABLE.columns) - 1)
    assert few >= 2, "no room for a VALUES statement of several trades"
    upsert(CryptoTrade, TRADES_TABLE.columns, rows(few, 100.0))  # one INSERT ... VALUES
    upsert(CryptoTrade, TRADES_TABLE.columns, rows(few, 200.0))  # again: every row updated
    by_values = table(few)
    empty_store()
    # rows of another series (their ids sort after the few's), to pass the threshold
    padding = [(row[0].replace("btcusdt", "ethusdt"), *row[1:]) for row in rows(dialect_module.VALUES_ROWS * 2, 0.0)]
    padding = padding[:-1]
    upsert(CryptoTrade, TRADES_TABLE.columns, rows(few, 100.0) + padding)
    upsert(CryptoTrade, TRADES_TABLE.columns, rows(few, 200.0) + padding)  # staging + upsert
    by_staging = table(few)
    assert _count(CryptoTrade) == few + len(padding)
    assert len(by_values) == few and by_values == by_staging
    assert by_values[0][[c.name for c in CryptoTrade.__table__.columns].index("price")] == -1.0


def test_reads_wait_for_a_restarting_server_as_writes_do(pg):
    """A job reads the ledger and its neighbouring bars: while the server is down those reads wait for it."""
    from zvt_ccxt import store
    from zvt_ccxt.store.coverage import Window

    table = CryptoPair1mKdata.__tablename__
    entity = "cryptopair_binance_btcusdt"
    with simulated(SIM_NOW_MS):
        assert CryptoPair1mKdata.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"],
                                             start_timestamp=SIM_NOW_MS - 3_600_000).ok
    expected = (store.coverage.windows(table, entity), store.reads.last_bar_ms(CryptoPair1mKdata, entity),
                sorted(store.reads.bar_times_ms(CryptoPair1mKdata, entity).tolist()))
    assert expected[0] and expected[1] is not None and all(isinstance(w, Window) for w in expected[0])
    assert len(expected[2]) >= 59
    pg.stop("immediate")  # every pooled connection breaks, and new ones are refused until the start below
    outcome: dict = {}

    def read() -> None:
        try:
            # first the bar times, read through the driver's own cursor (the others go through SQLAlchemy)
            bar_times = sorted(store.reads.bar_times_ms(CryptoPair1mKdata, entity).tolist())
            ledger = store.coverage.windows(table, entity)
            outcome["read"] = (ledger, store.reads.last_bar_ms(CryptoPair1mKdata, entity), bar_times)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = error

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(1.0)
    assert reader.is_alive(), f"the read did not wait for the server: {outcome}"
    pg.start()
    reader.join(60)
    assert not reader.is_alive()
    assert outcome.get("read") == expected, outcome
