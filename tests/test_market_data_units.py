"""Units under the market-data recorders: capabilities, the simulator's trade tape and exchange rules,
order book depths, funding intervals, trade ids."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import zvt_ccxt
from zvt_ccxt.backfill.history import Batch
from zvt_ccxt.backfill.instruments import Instrument
from zvt_ccxt.errors import CapabilityNotSupportedError, DataValidationError
from zvt_ccxt.exchange import capabilities
from zvt_ccxt.recorders.funding import with_intervals
from zvt_ccxt.recorders.orderbook import request_depth, snapshot_row
from zvt_ccxt.recorders.trades import trade_rows
from zvt_ccxt.store.rows import FUNDING_COLUMNS, funding_row, intraday_ids
from zvt_ccxt.stream.rows import predicted_funding_row
from zvt_ccxt_testkit.simulator import HOST_PREFIX, ExchangeSimulator, derivatives, tape
from zvt_ccxt_testkit.simulator.pricing import CLOSE, CONTRACTS, HIGH, LOW, OPEN, TS

from conftest import SIM_NOW

DOC = Path(__file__).resolve().parents[1] / "docs" / "capabilities.md"
MINUTE = 60_000
HOUR = 3_600_000
DAY = 24 * HOUR


# -- capabilities ----------------------------------------------------------------------------------------


def test_the_capability_table_says_what_each_exchange_offers():
    table = zvt_ccxt.capabilities().set_index(["exchange", "data_type"])
    assert set(table.index.get_level_values(0)) == {"binance", "okx", "bybit", "coinbase"}
    assert not table.loc[("bybit", "trades"), "historical"] and table.loc[("bybit", "trades"), "recent"]
    assert "most recent" in table.loc[("bybit", "trades"), "notes"]
    assert not table.loc[("coinbase", "funding")][["historical", "recent", "live"]].any()
    assert table.loc[("binance", "funding"), "live"]  # ccxt's has says no; the mark price stream carries it
    assert "1,440 periods" in table.loc[("okx", "open_interest"), "notes"]
    assert not table.xs("orderbook", level=1).historical.any() and table.xs("orderbook", level=1).recent.all()
    from zvt.contract.api import get_schemas

    assert {"crypto_trade", "crypto_funding", "crypto_orderbook", "crypto_open_interest"} <= {
        schema.__tablename__ for schema in get_schemas("ccxt")
    }
    every = capabilities.capabilities("all")
    assert {"kraken", "binance"} <= set(every.exchange) and len(every) == 5 * every.exchange.nunique()


def test_require_names_the_exchange_and_the_capability():
    with pytest.raises(CapabilityNotSupportedError) as refused:
        capabilities.require("coinbase", "open_interest")
    assert refused.value.exchange == "coinbase" and refused.value.capability == "historical open interest"
    assert "fetchOpenInterestHistory" in str(refused.value)
    capabilities.require("okx", "funding")  # offered: no error
    with pytest.raises(ValueError, match="data type"):
        capabilities.require("okx", "candles")


def test_the_published_capability_table_is_current():
    assert DOC.read_text(encoding="utf-8") == capabilities.to_markdown(), (
        "docs/capabilities.md is stale: run python -m zvt_ccxt_testkit.write_capabilities"
    )


# -- the simulator's trade tape --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exchange, symbol",
    [("binance", "BTC/USDT"), ("binance", "BTC/USD:BTC"), ("okx", "ETH/USDT:USDT"), ("coinbase", "BTC/USD")],
)
def test_trades_aggregate_exactly_to_the_minute_candles(exchange, symbol):
    sim = ExchangeSimulator(now_ms=SIM_NOW)
    series = sim.market(exchange, symbol).series
    m1 = SIM_NOW // MINUTE
    trades = tape.trades(series, m1 - 180, m1 + 5, SIM_NOW)
    minutes = series.minute_rows(m1 - 180, m1, SIM_NOW)
    keys = trades.ts // MINUTE * MINUTE
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    last = np.r_[first[1:], keys.size] - 1
    assert keys.max() < m1 * MINUTE  # the forming minute has no trades yet
    assert (np.diff(trades.id) > 0).all() and (np.diff(trades.ts) >= 0).all()
    np.testing.assert_array_equal(keys[first], minutes[:, TS])
    np.testing.assert_array_equal(trades.price[first], minutes[:, OPEN])
    np.testing.assert_array_equal(trades.price[last], minutes[:, CLOSE])
    np.testing.assert_array_equal(np.maximum.reduceat(trades.price, first), minutes[:, HIGH])
    np.testing.assert_array_equal(np.minimum.reduceat(trades.price, first), minutes[:, LOW])
    np.testing.assert_array_equal(np.add.reduceat(trades.lots, first), minutes[:, CONTRACTS])


def test_trade_ids_do_not_depend_on_now():
    series = ExchangeSimulator(now_ms=SIM_NOW).market("okx", "BTC/USDT").series
    early = tape.between(series, SIM_NOW - 2 * HOUR, SIM_NOW - HOUR, SIM_NOW)
    late = tape.between(series, SIM_NOW - 2 * HOUR, SIM_NOW - HOUR, SIM_NOW + 5 * HOUR)
    np.testing.assert_array_equal(early.id, late.id)
    np.testing.assert_array_equal(early.price, late.price)
    newest = tape.backward(series, SIM_NOW, 10, before_id=int(early.id[50]))
    np.testing.assert_array_equal(newest.id, early.id[40:50])


def test_funding_schedule_switches_interval():
    market = ExchangeSimulator(now_ms=SIM_NOW).market("bybit", "BTC/USDT:USDT")
    times = derivatives.funding_times(market, derivatives.FUNDING_SWITCH_4H_MS - 2 * 8 * HOUR, SIM_NOW, SIM_NOW)
    gaps = np.diff(times) // HOUR
    assert gaps[:2].tolist() == [8, 8] and set(gaps[2:].tolist()) == {4}
    assert derivatives.funding_interval_ms(market, derivatives.FUNDING_SWITCH_4H_MS) == 8 * HOUR
    assert derivatives.funding_interval_ms(market, derivatives.FUNDING_SWITCH_4H_MS + 4 * HOUR) == 4 * HOUR


# -- the simulator keeps the exchanges' rules --------------------------------------------------------------


@pytest.fixture(scope="module")
def running():
    with ExchangeSimulator(now_ms=SIM_NOW) as simulator:
        yield simulator


def get(sim, host, path):
    try:
        with urllib.request.urlopen(f"{sim.base_url}{HOST_PREFIX}{host}{path}", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_binance_agg_trades_rules(running):
    start = SIM_NOW - 3 * HOUR
    status, body = get(
        running, "api.binance.com", f"/api/v3/aggTrades?symbol=BTCUSDT&startTime={start}&endTime={start + 2 * HOUR}"
    )
    assert status == 400 and body["code"] == -1127
    _, window = get(
        running,
        "api.binance.com",
        f"/api/v3/aggTrades?symbol=BTCUSDT&startTime={start}&endTime={start + HOUR}&limit=10",
    )
    _, everything = get(
        running,
        "api.binance.com",
        f"/api/v3/aggTrades?symbol=BTCUSDT&startTime={start}&endTime={start + HOUR}&limit=1000",
    )
    assert len(window) == 10 and window == everything[-10:]  # a truncated window answers with its last trades
    _, following = get(
        running, "api.binance.com", f"/api/v3/aggTrades?symbol=BTCUSDT&fromId={everything[0]['a']}&limit=5"
    )
    assert following == everything[:5]
    status, _ = get(running, "fapi.binance.com", "/fapi/v1/depth?symbol=BTCUSDT&limit=25")
    assert status == 400  # futures books come in 5, 10, 20, 50, ... levels only


def test_okx_bybit_coinbase_limits(running):
    _, body = get(running, "www.okx.com", "/api/v5/market/history-trades?instId=BTC-USDT&limit=500")
    assert len(body["data"]) == 100
    _, body = get(running, "api.bybit.com", "/v5/market/recent-trade?category=spot&symbol=BTCUSDT&limit=61")
    assert body["retCode"] != 0
    _, body = get(running, "api.bybit.com", "/v5/market/recent-trade?category=linear&symbol=BTCUSDT&limit=1000")
    assert len(body["result"]["list"]) == 1000
    status, _ = get(running, "api.coinbase.com", "/api/v3/brokerage/market/products/BTC-USD/ticker")
    assert status == 400  # limit is required
    _, body = get(running, "www.okx.com", "/api/v5/rubik/stat/contracts/open-interest-volume?ccy=BTC&period=1D")
    assert 170 <= len(body["data"]) <= 181  # one currency, all its contracts, 180 days back


def test_okx_contract_open_interest_history_rules(running):
    path = "/api/v5/rubik/stat/contracts/open-interest-history?instId=BTC-USDT-SWAP"
    hour = SIM_NOW // HOUR * HOUR
    _, body = get(running, "www.okx.com", f"{path}&period=1H&limit=500")
    stamps = [int(row[0]) for row in body["data"]]
    assert len(stamps) == 100 and stamps[0] == hour and stamps == sorted(stamps, reverse=True)  # newest first
    assert all(len(row) == 4 for row in body["data"])  # ts, contracts, base currency, USD
    _, body = get(running, "www.okx.com", f"{path}&period=1H&begin={hour - 5 * HOUR}&end={hour - HOUR}")
    assert [int(row[0]) for row in body["data"]] == [hour - k * HOUR for k in (2, 3, 4)]  # both bounds exclusive
    _, body = get(running, "www.okx.com", f"{path}&period=5m&end={hour - 10 * DAY}")
    assert body["data"] == []  # only the latest 1,440 periods
    _, body = get(running, "www.okx.com", f"{path}&period=1D&limit=1")
    _, utc = get(running, "www.okx.com", f"{path}&period=1Dutc&limit=1")
    assert int(body["data"][0][0]) % DAY == 16 * HOUR and int(utc["data"][0][0]) % DAY == 0  # 1D opens at UTC+8
    status, body = get(running, "www.okx.com", f"{path}&period=1h")
    assert status == 400 and body["code"] == "51000"
    status, body = get(running, "www.okx.com", "/api/v5/rubik/stat/contracts/open-interest-history?instId=BTC-USDT")
    assert status == 400 and body["code"] == "51000"  # futures and swaps only


# -- mapping ---------------------------------------------------------------------------------------------

BTC = Instrument("cryptopair_okx_btcusdt", "cryptopair", "okx", "btcusdt", "BTC/USDT")


def test_trades_without_an_exchange_id_get_a_stable_one_and_bad_ones_are_refused():
    trade = {"timestamp": 1_700_000_000_123, "price": 100.0, "amount": 2.0, "cost": 200.0, "side": "buy"}
    rows, rejected = trade_rows(BTC, [trade, dict(trade), {**trade, "amount": 0.0}, {**trade, "price": float("nan")}])
    assert rejected == 2 and len(rows) == 2 and rows[0][0] == rows[1][0] and rows[0][0].startswith(BTC.entity_id + "_h")
    other, _ = trade_rows(BTC, [{**trade, "side": "sell"}])
    assert other[0][0] != rows[0][0]
    assert intraday_ids(BTC.entity_id, [1_700_000_000_123])[0] == ["cryptopair_okx_btcusdt_2023-11-14T22:13:20.123"]


def test_funding_intervals_come_from_the_event_before():
    def event(hours):
        return {"timestamp": int(hours * HOUR), "fundingRate": 0.0001}

    context = [event(0)]
    older, newer = [event(8), event(16)], [event(20), event(24), event(25)]
    batches = [Batch(None, newer), Batch(None, older, context)]  # newest first, as a backward pager yields
    with_intervals(batches)
    hours = [r["_zvt_ccxt_interval_hours"] for r in [*older, *newer]]
    assert hours == [8.0, 8.0, 4.0, 4.0, 1.0]


def test_a_funding_event_is_one_row_whether_a_stream_predicted_it_or_the_history_settled_it():
    perp = Instrument("cryptoperp_binance_btcusdt", "cryptoperp", "binance", "btcusdt", "BTC/USDT:USDT")
    ts = 1_700_006_400_000
    predicted = {"fundingTimestamp": ts, "fundingRate": 0.0001, "markPrice": 37_000.5, "interval": "8h"}
    settled = {"timestamp": ts, "fundingRate": 0.00012, "info": {"markPrice": "37001.5"}}
    streamed = predicted_funding_row(perp, predicted, "stream")
    recorded = funding_row(perp, settled, ts, 8.0, settled=True, source="rest", mark_field="markPrice")
    assert streamed is not None and recorded is not None and len(streamed) == len(recorded) == len(FUNDING_COLUMNS)
    assert streamed[:6] == recorded[:6] and streamed[0] == intraday_ids(perp.entity_id, [ts])[0][0]
    assert streamed[6:] == (0.0001, 8.0, 37_000.5, None, False, "stream")
    assert recorded[6:] == (0.00012, 8.0, 37_001.5, None, True, "rest")
    assert predicted_funding_row(perp, {**predicted, "fundingRate": None}, "stream") is None


def test_order_book_depth_requests_and_validation():
    assert request_depth("binance", "swap", 25) == 50 and request_depth("binance", "swap", 5000) == 1000
    assert request_depth("binance", "spot", 25) == 25 and request_depth("bybit", "spot", 300) == 200
    assert request_depth("coinbase", "spot", 20) == 20
    book = {"bids": [[100.0, 1.0], [99.0, 2.0]], "asks": [[101.0, 1.0], [102.0, 3.0]], "timestamp": None, "nonce": 7}
    row = snapshot_row(BTC, book, 20, 1_700_000_000_000)
    assert row[5] == 1_700_000_000_000 and row[6] == 7 and row[7] == 2 and row[14] == 1.0 and row[15] == 100.5
    with pytest.raises(DataValidationError, match="sorted"):
        snapshot_row(BTC, {**book, "bids": [[99.0, 1.0], [100.0, 1.0]]}, 20, 0)
