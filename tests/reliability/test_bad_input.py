"""Bad input refused by name, hostile payloads rejected and logged, and nothing already stored changes.

tests/test_kdata_simulated.py covers the plainest cases (a misspelt exchange, an unknown pair, a start in the
future or unparsable, a tick level); these go further."""

import datetime
import logging

import pytest

from zvt_ccxt.domain import CryptoPair, kdata_schema
from zvt_ccxt.errors import InvalidTimeRangeError, UnknownExchangeError, UnknownSymbolError, ZvtCcxtError
from zvt_ccxt.exchange.client import client_hook
from zvt_ccxt_testkit import simulated
from zvt_ccxt_testkit.reliability.faults import END_MS, PAGE_CAP, START_MS, record
from zvt_ccxt_testkit.reliability.harness import ccxt_schemas, clear_tables, retry_policy, table_rows
from zvt_ccxt_testkit.simulator.universe import build_universe

SCHEMA = kdata_schema("cryptopair", "1h")


@pytest.fixture(scope="module")
def exchange():
    with retry_policy(), simulated(page_cap=PAGE_CAP) as simulator:
        yield simulator


@pytest.fixture
def stored(exchange):
    """Some bars already stored; the test checks that none of them changes."""
    clear_tables()
    assert record(SCHEMA, "binance", start_timestamp=START_MS).ok
    before = {schema.__tablename__: table_rows(schema) for schema in ccxt_schemas()}
    yield exchange
    after = {schema.__tablename__: table_rows(schema) for schema in ccxt_schemas()}
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"bad input changed {changed}"


@pytest.mark.parametrize(
    "start, text",
    [
        (float("nan"), "nan"),
        (float("-inf"), "inf"),
        (True, "True"),
        ("2024-13-45", "2024-13-45"),
        ("", "''"),
        ("yesterday-ish", "yesterday-ish"),
        (b"2024-01-01", "2024"),
        ({"start": 1}, "start"),
        (10**18, "future"),
        ("2999-01-01T00:00:00+08:00", "future"),
        (datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC), "future"),
    ],
)
def test_an_unusable_start_is_refused_by_name(stored, start, text):
    with pytest.raises(InvalidTimeRangeError, match=text):
        record(SCHEMA, "binance", start_timestamp=start)


def test_an_end_before_the_start_is_refused(stored):
    with pytest.raises(InvalidTimeRangeError, match="not after"):
        record(SCHEMA, "binance", start_timestamp="2025-05-20", end_timestamp="2025-05-19")


@pytest.mark.parametrize(
    "symbol",
    ["BTC/ÜSDT", "𝔹𝕋ℂ/USDT", "BTC/USDT\x00", "'; DROP TABLE cryptopair; --", "B" * 10_000, "", "币安人生/USDT"],
)
def test_unknown_or_hostile_symbols_are_refused_by_name(stored, symbol):
    with pytest.raises(UnknownSymbolError) as failure:
        SCHEMA.record_data(provider="ccxt", exchange="binance", symbols=[symbol], start_timestamp=START_MS)
    assert repr(symbol)[:60] in str(failure.value) or symbol[:60] in str(failure.value)


@pytest.mark.parametrize("exchange_id", ["okx ", "OKX", "../binance", "binance'--", "bïnance"])
def test_unknown_exchange_ids_are_refused_by_name(stored, exchange_id):
    with pytest.raises(UnknownExchangeError, match="unknown exchange") as failure:
        SCHEMA.record_data(provider="ccxt", exchange=exchange_id, symbols=["BTC/USDT"])
    assert repr(exchange_id) in str(failure.value)


def test_no_exchange_at_all_is_refused_with_what_to_say(stored):
    with pytest.raises(ZvtCcxtError, match="say which exchange"):
        SCHEMA.record_data(provider="ccxt", exchange="", symbols=["BTC/USDT"])


def test_hostile_entity_ids_record_nothing(stored):
    summary = SCHEMA.record_data(provider="ccxt", entity_ids=["cryptopair_binance_'; DROP TABLE x; --", "?"])
    assert summary.results == [] and summary.rows == 0


def test_a_symbol_delisted_and_removed_from_the_exchange_is_unknown(exchange):
    clear_tables()
    assert record(SCHEMA, "binance", start_timestamp=START_MS).ok
    before = table_rows(SCHEMA)
    exchange.delist("binance", "ETH/USDT", hidden=True)
    try:
        CryptoPair.record_data(provider="ccxt", exchange="binance")  # the market list no longer has it
        summary = record(SCHEMA, "binance", symbols=["ETH/USDT"], start_timestamp=START_MS)
    finally:
        exchange.markets["binance"] = build_universe()["binance"]  # listed again for the other tests
    assert not summary.ok and "'ETH/USDT'" in summary.results[0].error
    assert table_rows(SCHEMA) == before


def test_a_level_the_exchange_cannot_serve_is_refused_in_the_summary(stored):
    def daily_only(exchange):
        exchange.timeframes = {"1d": "1d"}

    with client_hook(daily_only):
        summary = record(SCHEMA, "binance", start_timestamp=START_MS)
    assert not summary.ok and "serves no timeframe from which 1h bars can be built" in summary.results[0].error


def test_a_delisted_but_listed_market_records_its_history_then_empty(exchange):
    clear_tables()
    gone = START_MS + 5 * 24 * 3_600_000
    exchange.delist("okx", "ETH/USDT", at_ms=gone)
    summary = SCHEMA.record_data(provider="ccxt", exchange="okx", symbols=["ETH/USDT"], start_timestamp=START_MS)
    assert summary.ok and summary.rows == 5 * 24
    truth = exchange.ohlcv("okx", "ETH/USDT", "1h", since=START_MS, until=gone - 1)
    stored = SCHEMA.query_data(provider="ccxt", entity_id=summary.results[0].entity_id, order=SCHEMA.timestamp.asc())
    assert stored[["open", "high", "low", "close", "volume"]].values.tolist() == [r[1:6] for r in truth]
    again = SCHEMA.record_data(provider="ccxt", exchange="okx", symbols=["ETH/USDT"])
    assert again.ok and again.results[0].rows == 0


def test_hostile_market_lists_keep_codes_unique_and_symbols_intact(exchange):
    """An exchange listing unicode, quotes and separators in its symbols: entities are stored, codes stay
    [a-z0-9] and unique, and recording such a market fails (the exchange serves no candles for it) by name."""
    odd = [("币安人生", "USDT"), ("BTC'; --", "USDT"), ("B_T-C", "USDT"), ("ÅÄÖ", "USDT")]

    def more_markets(payload):
        template = next(s for s in payload["symbols"] if s["symbol"] == "BTCUSDT")
        for base, quote in odd:
            payload["symbols"].append({**template, "symbol": base + quote, "baseAsset": base, "quoteAsset": quote})
        return payload

    clear_tables()
    exchange.inject("binance", "/api/v3/exchangeInfo", 200, transform=more_markets)
    assert CryptoPair.record_data(provider="ccxt", exchange="binance").ok
    markets = CryptoPair.query_data(provider="ccxt", filters=[CryptoPair.exchange == "binance"])
    assert markets.code.is_unique and markets.code.str.fullmatch("[a-z0-9]+").all()
    assert {f"{b}/{q}" for b, q in odd} <= set(markets.symbol)
    summary = record(SCHEMA, "binance", symbols=["币安人生/USDT"], start_timestamp=START_MS)
    assert not summary.ok and "币安人生/USDT" in summary.results[0].error
    with pytest.raises(ZvtCcxtError):
        SCHEMA.record_data(provider="ccxt", exchange="binance", symbols=["币安人生/EUR"])


def test_hostile_payload_rows_are_rejected_logged_and_counted(exchange, caplog):
    """NaN, inf, negative, text, overflowing products: rejected with a log line, the window failed for repair,
    the other bars of the page stored with their exact values."""

    def spoiled(rows):
        spoilt = [list(r) for r in rows]
        spoilt[0][1] = "NaN"
        spoilt[1][2] = "-1"
        spoilt[2][4] = "1e400"
        spoilt[3][1] = spoilt[3][2] = spoilt[3][3] = spoilt[3][4] = "1e300"
        spoilt[3][5] = spoilt[3][7] = "1e300"
        spoilt[4][5] = "lots"
        return spoilt

    clear_tables()
    exchange.inject("binance", "klines", 200, transform=spoiled)
    caplog.set_level(logging.WARNING)
    summary = record(SCHEMA, "binance", start_timestamp=START_MS)
    result = summary.results[0]
    assert not summary.ok and result.rejected == 5 and result.windows["failed"] == 1
    assert "rejected 5 of" in caplog.text or "rejected" in caplog.text
    frame = SCHEMA.query_data(provider="ccxt", entity_id=result.entity_id, order=SCHEMA.timestamp.asc())
    truth = exchange.ohlcv("binance", "BTC/USDT", "1h", since=START_MS, until=END_MS - 1)
    assert len(frame) == len(truth) - 5  # every page stored, but for five bars of the first
    values = {int(t.timestamp() * 1000): v for t, *v in frame[["timestamp", "open", "high", "low", "close"]].values}
    assert all(values[row[0]] == row[1:5] for row in truth if row[0] in values)
    assert record(SCHEMA, "binance").ok  # the failed window is fetched again and fills in
