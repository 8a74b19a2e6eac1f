"""The market-data cassettes replayed through the real recorders and ccxt: trades, funding, open interest, books."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import zvt_ccxt
from zvt_ccxt.backfill import coverage
from zvt_ccxt.domain import CryptoFunding, CryptoOpenInterest, CryptoOrderbook, CryptoTrade
from zvt_ccxt.errors import CapabilityNotSupportedError
from zvt_ccxt.recorders.orderbook import book_arrays
from zvt_ccxt.replay import replay
from zvt_ccxt.store import coverage as ledger
from zvt_ccxt_testkit.scenarios import SCENARIOS, market_data_times, run_market_data

#: every case runs on each store (zvt's SQLite files, PostgreSQL)
pytestmark = pytest.mark.usefixtures("database")

CASSETTES = Path(__file__).resolve().parents[1] / "zvt_ccxt" / "cassettes"
EXCHANGES = ["binance", "okx", "bybit", "coinbase"]
MINUTE = pd.Timedelta(minutes=1)


def rows(schema, entity_id):
    return schema.query_data(provider="ccxt", entity_id=entity_id, order=schema.ts_ms.asc())


def replayed(exchange):
    with replay(CASSETTES / f"{exchange}-market-data.json") as info:
        results = run_market_data(SCENARIOS[exchange])
        times = market_data_times()
    assert all(r.ok for r in results), [str(r) for r in results]
    return info, results, times


def entity(exchange, kind):
    code = "btcusd" if exchange == "coinbase" else "btcusdt"
    return f"{'cryptopair' if kind == 'spot' else 'cryptoperp'}_{exchange}_{code}"


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_trades_land_once_in_order_and_cover_the_requested_range(store, exchange):
    info, results, times = replayed(exchange)
    spot = rows(CryptoTrade, entity(exchange, "spot"))
    assert len(spot) > 0 and spot.id.is_unique and spot.trade_id.is_unique
    assert (spot.id == spot.entity_id + "_" + spot.trade_id).all()
    assert spot.ts_ms.is_monotonic_increasing
    assert (spot.price > 0).all() and (spot.amount > 0).all() and (spot.cost > 0).all()
    assert set(spot.side) <= {"buy", "sell"}
    assert (spot.timestamp == pd.to_datetime(spot.ts_ms, unit="ms")).all()
    end = pd.Timestamp(info.recorded_at_ms, unit="ms").floor("min")
    assert spot.timestamp.max() < end  # the forming minute is left to the next run
    windows = ledger.windows("crypto_trade", entity(exchange, "spot"))
    assert windows and all(w.status == "fetched" for w in windows)
    covered_end = max(w.end_ms for w in windows)
    assert covered_end == end.value // 1_000_000
    if exchange != "bybit":  # bybit serves only its latest trades; the others the whole range asked for
        assert coverage.missing_ranges(times["trades_start"].value // 1_000_000, covered_end, windows) == []
        assert spot.timestamp.min() < times["trades_start"] + 2 * MINUTE
        trade_results = [r for r in results if getattr(r, "data_table", "") == "crypto_trade"]
        assert trade_results[1].results[0].requests >= 2  # several pages
        per_minute = spot.set_index("timestamp").resample("1min").size()
        assert (per_minute.loc[times["trades_start"] + MINUTE : end - MINUTE] > 0).all()


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_candles_from_trades_equal_the_exchange_candles(store, exchange):
    _, results, times = replayed(exchange)
    checks = [r for r in results if isinstance(r, zvt_ccxt.backfill.trade_candles.CandleCheck)]
    assert [c.level for c in checks] == ["1m", "1h"]
    assert all(c.ok for c in checks) and checks[0].bars_compared > 0
    if exchange != "bybit":
        assert checks[0].bars_compared >= 200 and checks[1].bars_compared >= 3
    built = zvt_ccxt.candles_from_trades(entity(exchange, "spot"), "1m")
    complete = built[built.complete]
    assert len(complete) >= checks[0].bars_compared - 1
    assert (complete.high >= complete[["open", "close"]].max(axis=1)).all()
    assert (complete.low <= complete[["open", "close"]].min(axis=1)).all()
    if exchange != "bybit":
        minute_bars = zvt_ccxt.domain.kdata_schema("cryptopair", "1m").query_data(
            provider="ccxt", entity_id=entity(exchange, "spot"), index="timestamp"
        )
        ours = complete.set_index("timestamp").loc[minute_bars.index]
        for field in ["open", "high", "low", "close", "volume"]:
            np.testing.assert_allclose(ours[field], minute_bars[field], rtol=1e-9)


@pytest.mark.parametrize("exchange", ["binance", "okx", "bybit"])
def test_funding_history_with_intervals_changing_from_8h_to_4h(store, exchange):
    info, _, times = replayed(exchange)
    funding = rows(CryptoFunding, entity(exchange, "perp"))
    assert funding.id.is_unique and funding.ts_ms.is_monotonic_increasing and funding.settled.all()
    stamps = funding.timestamp
    assert (stamps.dt.hour % 4 == 0).all() and (stamps.dt.minute == 0).all()
    gaps = stamps.diff().dt.total_seconds().div(3600).iloc[1:]
    assert (funding.funding_interval_hours.iloc[1:].to_numpy() == gaps.to_numpy()).all()
    assert set(funding.funding_interval_hours.dropna()) == {4.0, 8.0}
    switch = stamps[funding.funding_interval_hours == 4.0].min()
    assert (funding.funding_interval_hours[stamps > switch] == 4.0).all()
    assert (funding.funding_interval_hours[stamps < switch].dropna() == 8.0).all()
    assert funding.funding_rate.abs().max() < 0.01
    if exchange == "okx":  # no start: everything okx serves (three months)
        assert stamps.min() <= pd.Timestamp(info.recorded_at_ms, unit="ms") - pd.Timedelta(days=88)
    else:
        assert stamps.min() == times["funding_start"] and funding.funding_interval_hours.iloc[0] == 8.0
    assert funding.mark_price.notna().all() if exchange == "binance" else funding.mark_price.isna().all()


@pytest.mark.parametrize("exchange", ["binance", "okx", "bybit"])
def test_open_interest_history(store, exchange):
    _, _, times = replayed(exchange)
    oi = rows(CryptoOpenInterest, entity(exchange, "perp"))
    hours = oi.timestamp.diff().dropna()
    assert oi.id.is_unique and (hours == pd.Timedelta(hours=1)).all() and (oi.period == "1h").all()
    assert oi.timestamp.min() == times["open_interest_start"] and len(oi) == 24 * 10
    assert (oi.scope == "instrument").all() and (oi.open_interest_amount > 0).all()
    if exchange != "bybit":  # bybit linear reports the amount only; binance the quote value, okx USD of contracts
        assert (oi.open_interest_value > oi.open_interest_amount).all()


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_order_book_snapshots(store, exchange):
    replayed(exchange)
    books = CryptoOrderbook.query_data(provider="ccxt", filters=[CryptoOrderbook.exchange == exchange])
    assert len(books) == (1 if exchange == "coinbase" else 2)
    bids, asks = book_arrays(books, "bids"), book_arrays(books, "asks")
    assert bids.shape == asks.shape == (len(books), 20, 2)
    assert (np.diff(bids[:, :, 0], axis=1) < 0).all() and (np.diff(asks[:, :, 0], axis=1) > 0).all()
    assert (books.best_bid == bids[:, 0, 0]).all() and (books.best_ask == asks[:, 0, 0]).all()
    assert np.allclose(books.spread, books.best_ask - books.best_bid) and (books.spread > 0).all()
    assert np.allclose(books.mid, (books.best_ask + books.best_bid) / 2) and (books.depth == 20).all()
    assert books.nonce.notna().all() if exchange == "binance" else books.nonce.isna().all()
    assert isinstance(books.bids.iloc[0], list)  # JSON comes back as lists, no string parsing


def test_a_missing_capability_is_refused_by_name(store):
    with replay(CASSETTES / "coinbase-market-data.json"), pytest.raises(CapabilityNotSupportedError) as refused:
        CryptoFunding.record_data(provider="ccxt", exchange="coinbase", codes=["btcusd"])
    assert refused.value.exchange == "coinbase" and "historical funding rates" in str(refused.value)
    with replay(CASSETTES / "bybit-market-data.json"), pytest.raises(CapabilityNotSupportedError, match="bybit"):
        CryptoTrade.record_data(provider="ccxt", exchange="bybit", codes=["btcusdt"], start_timestamp="2025-05-31")
    assert CryptoTrade.query_data(provider="ccxt").empty and CryptoFunding.query_data(provider="ccxt").empty


def test_a_second_replay_fetches_nothing_new(store):
    replayed("okx")
    before = CryptoTrade.query_data(provider="ccxt", order=CryptoTrade.id.asc())
    with replay(CASSETTES / "okx-market-data.json"):
        again = CryptoTrade.record_data(provider="ccxt", exchange="okx", codes=["btcusdt"])
        funding = CryptoFunding.record_data(provider="ccxt", exchange="okx", codes=["btcusdt"])
    assert again.results[0].requests == 0 and funding.results[0].requests == 0
    after = CryptoTrade.query_data(provider="ccxt", order=CryptoTrade.id.asc())
    pd.testing.assert_frame_equal(
        before.drop(columns="created_timestamp", errors="ignore"),
        after.drop(columns="created_timestamp", errors="ignore"),
    )
