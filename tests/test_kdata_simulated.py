"""The kdata recorder against the local exchange simulator: gaps, faults, failures, repair, resume."""

import pandas as pd
import pytest

from zvt_ccxt import levels, store
from zvt_ccxt.backfill import coverage
from zvt_ccxt.domain import CryptoPair1hKdata, CryptoPerp1dKdata, kdata_schema
from zvt_ccxt.errors import InvalidTimeRangeError, UnknownExchangeError, UnknownSymbolError, UnsupportedLevelError

from conftest import SIM_NOW

#: every case runs on each store (zvt's SQLite files, PostgreSQL)
pytestmark = pytest.mark.usefixtures("database")

H = levels.HOUR_MS
START = "2025-05-20"
START_MS = levels.to_utc_ms(START)
END_MS = levels.bar_start(SIM_NOW, "1h")


def stored(schema, entity_id):
    return schema.query_data(provider="ccxt", entity_id=entity_id, order=schema.timestamp.asc())


def table(schema):
    return schema.query_data(provider="ccxt", order=schema.id.asc()).drop(
        columns=["created_timestamp"], errors="ignore"
    )


def record(exchange="binance", symbols=("BTC/USDT",), schema=CryptoPair1hKdata, **kwargs):
    return schema.record_data(provider="ccxt", exchange=exchange, symbols=list(symbols), **kwargs)


def test_values_equal_the_exchange_candles(sim):
    summary = record(start_timestamp=START)
    assert summary.ok
    frame = stored(CryptoPair1hKdata, "cryptopair_binance_btcusdt")
    truth = sim.ohlcv("binance", "BTC/USDT", "1h", since=START_MS, until=END_MS - 1)
    assert len(frame) == len(truth) == (END_MS - START_MS) // H
    assert frame.timestamp.iloc[0] == pd.Timestamp(START) and frame.timestamp.iloc[-1] == pd.Timestamp(
        END_MS - H, unit="ms"
    )
    assert frame[["open", "high", "low", "close", "volume"]].values.tolist() == [row[1:6] for row in truth]


def test_a_rerun_fetches_nothing_and_changes_nothing(sim):
    record(start_timestamp=START)
    before = table(CryptoPair1hKdata)
    again = record(start_timestamp=START)
    assert again.results[0].requests == 0 and again.results[0].rows == 0
    pd.testing.assert_frame_equal(before, table(CryptoPair1hKdata))


def test_an_earlier_start_fills_only_the_earlier_range(sim):
    record(start_timestamp=START)
    earlier = record(start_timestamp="2025-05-10")
    assert earlier.results[0].rows == 10 * 24
    frame = stored(CryptoPair1hKdata, "cryptopair_binance_btcusdt")
    assert frame.timestamp.diff().dropna().eq(pd.Timedelta(hours=1)).all() and frame.id.is_unique


@pytest.mark.parametrize(
    "exchange, symbol, schema",
    [("binance", "BTC/USDT", CryptoPair1hKdata), ("coinbase", "BTC/USD", kdata_schema("cryptopair", "4h"))],
)
def test_bars_filled_before_stored_ones_give_the_next_its_change_before_writing(sim, exchange, symbol, schema):
    from conftest import empty_store, statements_sent

    record(exchange, [symbol], schema, start_timestamp="2025-05-10")
    clean = table(schema)
    empty_store()
    record(exchange, [symbol], schema, start_timestamp=START)
    first = stored(schema, f"cryptopair_{exchange}_{symbol.replace('/', '').lower()}").iloc[0]
    assert first.timestamp == pd.Timestamp(START) and pd.isna(first.change_pct)  # nothing stored before it yet

    with statements_sent(schema) as sent:
        assert record(exchange, [symbol], schema, start_timestamp="2025-05-10").ok
    pd.testing.assert_frame_equal(clean, table(schema))  # the bar at START now links to the bar before it
    bars = f'"{schema.__tablename__}"'
    writes = [i for i, sql in enumerate(sent) if sql.startswith(("INSERT", "COPY")) and bars in sql]
    # PostgreSQL's bar write probes its span first (SELECT EXISTS, inside the write's transaction): not a read back
    reads = [i for i, sql in enumerate(sent)
             if sql.startswith("SELECT") and bars in sql and not sql.startswith("SELECT EXISTS")]
    assert writes and reads and max(reads) < min(writes)  # read once before the gap, never read back after
    assert not any(sql.startswith("UPDATE") for sql in sent)


def test_no_trading_gaps_are_empty_not_failed_and_not_refetched(sim):
    gap = (START_MS + 30 * H, START_MS + 40 * H)
    sim.add_gap("okx", "BTC/USDT", *gap)
    assert record("okx", start_timestamp=START).ok
    frame = stored(CryptoPair1hKdata, "cryptopair_okx_btcusdt")
    stamps = set(frame.timestamp.astype("int64") // 1_000_000)
    assert not any(gap[0] <= t < gap[1] for t in stamps)
    assert len(frame) == (END_MS - START_MS) // H - 10
    windows = store.coverage.windows("cryptopair_1h_kdata", "cryptopair_okx_btcusdt")
    assert coverage.missing_ranges(START_MS, END_MS, windows) == []
    assert record("okx", start_timestamp=START).results[0].requests == 0


def test_listing_date_bounds_the_first_run(sim):
    listed = sim.market("bybit", "BTC/USDT:USDT").listing_ms
    summary = record("bybit", ["BTC/USDT:USDT"], CryptoPerp1dKdata)
    frame = stored(CryptoPerp1dKdata, "cryptoperp_bybit_btcusdt")
    assert summary.ok and frame.timestamp.iloc[0] == pd.Timestamp(levels.bar_start(listed, "1d"), unit="ms")
    assert frame.timestamp.iloc[-1] == pd.Timestamp(levels.bar_start(SIM_NOW, "1d") - levels.DAY_MS, unit="ms")


def test_without_a_listing_date_the_first_bar_is_found(sim):
    truth = sim.ohlcv("coinbase", "ETH/USD", "1d", since=0, until=SIM_NOW)
    summary = record("coinbase", ["ETH/USD"], kdata_schema("cryptopair", "1d"))
    frame = stored(kdata_schema("cryptopair", "1d"), "cryptopair_coinbase_ethusd")
    assert summary.ok and frame.timestamp.iloc[0] == pd.Timestamp(truth[0][0], unit="ms")
    assert len(frame) == len(truth) - 1  # the forming day is not stored


def test_one_failing_symbol_does_not_stop_the_others_and_a_rerun_repairs_it(sim):
    sim.inject("binance", "symbol=ETHUSDT", 500, {"code": -1001, "msg": "Internal error"}, times=None)
    summary = record("binance", ["ETH/USDT", "BTC/USDT"], start_timestamp=START)
    assert not summary.ok and [r.symbol for r in summary.failed] == ["ETH/USDT"]
    assert "binance ETH/USDT" in summary.failed[0].error
    assert len(stored(CryptoPair1hKdata, "cryptopair_binance_btcusdt")) == (END_MS - START_MS) // H
    windows = store.coverage.windows("cryptopair_1h_kdata", "cryptopair_binance_ethusdt")
    assert coverage.failed_ranges(windows) == [(START_MS, END_MS)]

    sim.clear_faults()
    repaired = record("binance", ["ETH/USDT"])  # no start: repairs the failed range it knows of
    assert repaired.ok and repaired.results[0].rows == (END_MS - START_MS) // H
    windows = store.coverage.windows("cryptopair_1h_kdata", "cryptopair_binance_ethusdt")
    assert coverage.failed_ranges(windows) == [] and coverage.missing_ranges(START_MS, END_MS, windows) == []


def test_a_failure_mid_history_keeps_what_came_before_and_a_rerun_equals_a_clean_run(sim):
    from conftest import empty_store

    minute = kdata_schema("cryptopair", "1m")
    start_ms = levels.to_utc_ms("2025-05-25")
    assert record("bybit", schema=minute, start_timestamp=start_ms).ok
    reference = table(minute)
    empty_store()

    fifth_page = start_ms + 4 * 1000 * levels.MINUTE_MS
    sim.inject("bybit", f"start={fifth_page}", 503, "<html>down for maintenance</html>", times=None)
    broken = record("bybit", schema=minute, start_timestamp=start_ms)
    assert not broken.ok and broken.results[0].rows == 4000
    windows = store.coverage.windows("cryptopair_1m_kdata", "cryptopair_bybit_btcusdt")
    assert coverage.failed_ranges(windows) == [(fifth_page, levels.bar_start(SIM_NOW, "1m"))]

    sim.clear_faults()
    assert record("bybit", schema=minute).ok
    pd.testing.assert_frame_equal(reference, table(minute))


def test_html_with_status_200_is_retried_not_stored(sim):
    sim.inject("okx", "candles", 200, "<html><body>Just a moment...</body></html>", times=2)
    summary = record("okx", start_timestamp=START)
    assert summary.ok and len(stored(CryptoPair1hKdata, "cryptopair_okx_btcusdt")) == (END_MS - START_MS) // H


def test_rate_limit_answers_are_waited_out(sim):
    sim.inject(
        "binance", "klines", 429, {"code": -1003, "msg": "Too many requests."}, times=2, headers={"Retry-After": "0"}
    )
    assert record(start_timestamp=START).ok


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"exchange": "binanse"}, UnknownExchangeError, "binanse"),
        ({"exchange": "okx", "symbols": ["DOGE/XYZ"]}, UnknownSymbolError, "DOGE/XYZ"),
        ({"exchange": "okx", "start_timestamp": "2999-01-01"}, InvalidTimeRangeError, "future"),
        ({"exchange": "okx", "start_timestamp": "not a date"}, InvalidTimeRangeError, "not a date"),
        ({"exchange": "okx", "level": "tick"}, UnsupportedLevelError, "tick"),
    ],
)
def test_bad_input_is_refused_by_name_and_nothing_stored_changes(sim, kwargs, error, text):
    record("okx", start_timestamp=START)
    before = table(CryptoPair1hKdata)
    kwargs.setdefault("symbols", ["BTC/USDT"])
    with pytest.raises(error, match=text):
        CryptoPair1hKdata.record_data(provider="ccxt", **kwargs)
    pd.testing.assert_frame_equal(before, table(CryptoPair1hKdata))


def test_malformed_rows_are_rejected_and_their_window_repaired_later(sim):
    first = sim.ohlcv("binance", "BTC/USDT", "1h", since=START_MS, until=START_MS + 2 * H)
    hostile = [[START_MS, "NaN", "1e400", "-5", "x", "10", START_MS + H - 1, "15", 1, "0", "0", "0"]]
    hostile += [[int(r[0]), *map(str, r[1:6]), int(r[0]) + H - 1, "1", 1, "0", "0", "0"] for r in first[1:]]
    sim.inject("binance", "klines", 200, hostile, times=1)
    summary = record(start_timestamp=START)
    assert summary.results[0].rejected == 1 and not summary.ok
    frame = stored(CryptoPair1hKdata, "cryptopair_binance_btcusdt")
    assert pd.Timestamp(START) not in set(frame.timestamp)
    assert summary.results[0].windows["failed"] == 1

    repaired = record()
    assert repaired.ok
    frame = stored(CryptoPair1hKdata, "cryptopair_binance_btcusdt")
    assert len(frame) == (END_MS - START_MS) // H and frame.timestamp.iloc[0] == pd.Timestamp(START)


def test_coverage_report_separates_no_trading_failed_and_repair_fetches_only_what_is_missing(sim):
    import zvt_ccxt

    gap = (START_MS + 30 * H, START_MS + 40 * H)
    sim.add_gap("binance", "BTC/USDT", *gap)
    sim.inject("binance", "symbol=ETHUSDT", 502, "bad gateway", times=None)
    record("binance", ["BTC/USDT", "ETH/USDT"], start_timestamp=START)
    report = zvt_ccxt.coverage_report(CryptoPair1hKdata, exchange="binance").set_index("entity_id")
    btc, eth = report.loc["cryptopair_binance_btcusdt"], report.loc["cryptopair_binance_ethusdt"]
    assert btc.expected_bars == (END_MS - START_MS) // H and btc.bars == btc.expected_bars - 10
    assert btc.no_trading_bars == 10 and btc.failed_bars == 0 and btc.unknown_bars == 0
    assert eth.bars == 0 and eth.failed_bars == eth.expected_bars and eth.failed_ranges

    sim.clear_faults()
    sim.set_now(SIM_NOW + 5 * H)  # new bars exist now, but repair does not fetch them
    summary = zvt_ccxt.repair(CryptoPair1hKdata, exchange="binance")
    assert summary.ok
    by_symbol = {r.symbol: r for r in summary.results}
    assert by_symbol["BTC/USDT"].requests == 0 and by_symbol["ETH/USDT"].rows == (END_MS - START_MS) // H
    after = zvt_ccxt.coverage_report(CryptoPair1hKdata, exchange="binance").set_index("entity_id")
    assert after.loc["cryptopair_binance_ethusdt"].failed_bars == 0
    assert after.loc["cryptopair_binance_ethusdt"].bars == after.loc["cryptopair_binance_ethusdt"].expected_bars


def test_a_nan_and_text_payload_fails_its_window_for_repair(sim):
    # the window must end failed, not unknown or fetched, and a later run repairs it
    sim.inject(
        "okx",
        "candles",
        200,
        {"code": "0", "msg": "", "data": [["1747699200000", "NaN", "x", "1", "1", "1", "1", "1", "1"]]},
        times=1,
    )
    first = record("okx", start_timestamp=START)
    assert not first.ok and first.results[0].rejected == 1
    windows = store.coverage.windows("cryptopair_1h_kdata", "cryptopair_okx_btcusdt")
    assert coverage.failed_ranges(windows)
    assert record("okx").ok
    frame = stored(CryptoPair1hKdata, "cryptopair_okx_btcusdt")
    assert len(frame) == (END_MS - START_MS) // H and frame.id.is_unique


def test_coverage_report_and_repair_find_series_by_code_or_ccxt_symbol(sim):
    """A perpetual's ccxt symbol ``BTC/USDT:USDT`` names the series coded ``btcusdt``, as its code does."""
    import zvt_ccxt
    from zvt_ccxt.domain import CryptoPerp1hKdata

    summary = CryptoPerp1hKdata.record_data(
        provider="ccxt", exchange="binance", symbols=["BTC/USDT:USDT", "ETH/USDT:USDT"], start_timestamp=START
    )
    assert summary.ok
    for asked in (["BTC/USDT:USDT"], ["btcusdt"], ["BTCUSDT"]):
        report = zvt_ccxt.coverage_report(CryptoPerp1hKdata, exchange="binance", codes=asked)
        assert report.entity_id.tolist() == ["cryptoperp_binance_btcusdt"], asked
    assert zvt_ccxt.coverage_report(CryptoPerp1hKdata, exchange="binance", codes=["DOGE/USDT:USDT"]).empty
    assert zvt_ccxt.repair(CryptoPerp1hKdata, exchange="binance", codes=["BTC/USDT:USDT"]).ok
