"""Trades, funding, open interest and order books recorded from the local exchange simulator through ccxt:
resume, repair, exchange limits, missing capabilities, and the candles-from-trades check."""

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

import zvt_ccxt
from zvt_ccxt import clock, levels, store
from zvt_ccxt.backfill import coverage
from zvt_ccxt.domain import CryptoFunding, CryptoOpenInterest, CryptoOrderbook, CryptoTrade
from zvt_ccxt.errors import CapabilityNotSupportedError, UnknownSymbolError, UnsupportedLevelError
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt_testkit.simulator import derivatives, tape
from zvt_ccxt_testkit.simulator.venues.common import Formats

from conftest import SIM_NOW, statements_sent

#: every case runs on each store (zvt's SQLite files, PostgreSQL)
pytestmark = pytest.mark.usefixtures("database")

H = levels.HOUR_MS
MINUTE_END = levels.bar_start(SIM_NOW, "1m")
START = MINUTE_END - 3 * H
SPOT = {"binance": "BTC/USDT", "okx": "BTC/USDT", "coinbase": "BTC/USD", "bybit": "BTC/USDT"}


def trades(exchange, symbols=None, **kwargs):
    return CryptoTrade.record_data(provider="ccxt", exchange=exchange, symbols=symbols or [SPOT[exchange]], **kwargs)


def stored(schema, entity_id):
    return schema.query_data(provider="ccxt", entity_id=entity_id, order=schema.ts_ms.asc())


def truth(sim, exchange, symbol, start, end, now):
    """The simulator's trades in [start, end): ids as the exchange sends them."""
    return [str(i) for i in tape.between(sim.market(exchange, symbol).series, start, end, now).id.tolist()]


def later(sim, ms):
    sim.set_now(ms)
    return clock.frozen(ms)


def entity_id(exchange, kind="cryptopair"):
    return f"{kind}_{exchange}_{'btcusd' if exchange == 'coinbase' else 'btcusdt'}"


@pytest.mark.parametrize("exchange", ["binance", "okx", "coinbase"])
def test_backfill_then_resume_stores_every_trade_exactly_once(sim, exchange):
    first = trades(exchange, start_timestamp=START)
    assert first.ok and first.results[0].requests >= 2
    eid = entity_id(exchange)
    assert list(stored(CryptoTrade, eid).trade_id) == truth(sim, exchange, SPOT[exchange], START, MINUTE_END, SIM_NOW)

    now = SIM_NOW + 2 * H + 17_000
    with later(sim, now):
        resumed = trades(exchange)
    new_end = levels.bar_start(now, "1m")
    expected = truth(sim, exchange, SPOT[exchange], START, new_end, now)
    frame = stored(CryptoTrade, eid)
    assert resumed.ok and resumed.results[0].rows >= len(expected) - first.results[0].rows
    assert list(frame.trade_id) == expected and frame.id.is_unique
    windows = store.coverage.windows("crypto_trade", eid)
    assert coverage.missing_ranges(START, new_end, windows) == [] and coverage.failed_ranges(windows) == []


def test_a_rerun_fetches_nothing_and_an_earlier_start_fills_only_the_earlier_range(sim):
    trades("okx", start_timestamp=START)
    before = stored(CryptoTrade, entity_id("okx"))
    assert trades("okx", start_timestamp=START).results[0].requests == 0
    earlier = trades("okx", start_timestamp=START - H)
    expected = truth(sim, "okx", "BTC/USDT", START - H, MINUTE_END, SIM_NOW)
    after = stored(CryptoTrade, entity_id("okx"))
    assert earlier.results[0].rows == len(expected) - len(before)
    assert list(after.trade_id) == expected


def test_without_a_start_the_first_run_takes_the_latest_page_and_the_next_continues(sim):
    first = trades("binance")
    assert first.ok and first.results[0].requests == 1 and first.results[0].rows == 999
    with later(sim, SIM_NOW + H):
        assert trades("binance").ok
    frame = stored(CryptoTrade, entity_id("binance"))
    expected = truth(sim, "binance", "BTC/USDT", frame.ts_ms.iloc[0], levels.bar_start(SIM_NOW + H, "1m"), SIM_NOW + H)
    assert list(frame.trade_id) == expected


def test_a_failure_mid_history_keeps_what_came_before_and_a_rerun_equals_a_clean_run(sim):
    from conftest import empty_store

    assert trades("binance", start_timestamp=START).ok
    reference = stored(CryptoTrade, entity_id("binance")).drop(columns=["created_timestamp"], errors="ignore")
    empty_store()

    sim.inject("binance", "fromId=", 503, "<html>down for maintenance</html>", times=None)
    broken = trades("binance", start_timestamp=START)
    assert not broken.ok and "binance BTC/USDT" in broken.results[0].error
    kept = stored(CryptoTrade, entity_id("binance"))
    assert 0 < len(kept) < len(reference) and kept.ts_ms.max() < START + H
    windows = store.coverage.windows("crypto_trade", entity_id("binance"))
    assert coverage.failed_ranges(windows) == [(START + H, MINUTE_END)]

    sim.clear_faults()
    assert zvt_ccxt.repair(CryptoTrade, exchange="binance").ok  # re-fetches only the failed range
    repaired = stored(CryptoTrade, entity_id("binance")).drop(columns=["created_timestamp"], errors="ignore")
    pd.testing.assert_frame_equal(reference, repaired)


def okx_page(sim, trades, price=None):
    """An okx history-trades answer holding ``trades`` (newest first), as the exchange would send them."""
    formats = Formats(sim.market("okx", "BTC/USDT"))
    rows = [
        {
            "instId": "BTC-USDT",
            "side": "buy" if buy else "sell",
            "sz": formats.contracts(lots, True),
            "px": price or formats.price(units, True),
            "tradeId": str(trade_id),
            "ts": str(ts),
        }
        for trade_id, ts, units, lots, buy in zip(
            trades.id.tolist(),
            trades.ts.tolist(),
            trades.price.tolist(),
            trades.lots.tolist(),
            trades.buy.tolist(),
            strict=True,
        )
    ]
    return {"code": "0", "msg": "", "data": rows[::-1]}


def test_refused_trades_leave_their_window_failed_and_a_rerun_fetches_it_again(sim):
    real = tape.between(sim.market("okx", "BTC/USDT").series, START, MINUTE_END, SIM_NOW)
    page = okx_page(sim, real.take(slice(len(real) - 100, len(real))))
    page["data"][0]["sz"] = "0"  # the newest trade of the first page comes with no amount
    sim.inject("okx", "history-trades", 200, page, times=1)
    summary = trades("okx", start_timestamp=START)
    assert not summary.ok and summary.results[0].rejected == 1 and summary.results[0].windows["failed"] == 1
    assert str(real.id[-1]) not in set(stored(CryptoTrade, entity_id("okx")).trade_id)
    assert trades("okx").ok  # the failed window is fetched again
    frame = stored(CryptoTrade, entity_id("okx"))
    assert list(frame.trade_id) == [str(i) for i in real.id.tolist()]
    assert frame.amount.iloc[-1] == float(Formats(sim.market("okx", "BTC/USDT")).contracts(int(real.lots[-1])))


def test_an_answer_ccxt_cannot_parse_fails_its_range_for_repair(sim):
    real = tape.between(sim.market("okx", "BTC/USDT").series, START, MINUTE_END, SIM_NOW)
    sim.inject("okx", "history-trades", 200, okx_page(sim, real.take(slice(0, 5)), price="NaN"), times=1)
    summary = trades("okx", start_timestamp=START)
    assert not summary.ok and "malformed" in summary.results[0].error
    windows = store.coverage.windows("crypto_trade", entity_id("okx"))
    assert coverage.failed_ranges(windows) == [(START, MINUTE_END)]
    assert trades("okx").ok
    assert list(stored(CryptoTrade, entity_id("okx")).trade_id) == [str(i) for i in real.id.tolist()]


def test_candles_from_trades_report_lost_and_altered_trades(sim):
    assert trades("coinbase", start_timestamp=START).ok
    eid = entity_id("coinbase")
    assert zvt_ccxt.check_candles_from_trades(eid, "5m").ok
    frame = stored(CryptoTrade, eid)
    minute = START + 30 * levels.MINUTE_MS
    altered = frame[frame.ts_ms >= START + 70 * levels.MINUTE_MS].iloc[3]
    with engine_for(CryptoTrade).begin() as connection:
        connection.execute(
            text("DELETE FROM crypto_trade WHERE entity_id = :e AND ts_ms >= :start AND ts_ms < :end"),
            {"e": eid, "start": minute, "end": minute + levels.MINUTE_MS},
        )
        connection.execute(text("UPDATE crypto_trade SET amount = amount * 2 WHERE id = :id"), {"id": altered.id})
    check = zvt_ccxt.check_candles_from_trades(eid, "1m", tolerance=1e-9)
    assert not check.ok
    diffs = check.differences
    lost = diffs[diffs.kind == "missing_in_trades"]
    assert list(lost.timestamp) == [pd.Timestamp(minute, unit="ms")]
    volume = diffs[(diffs.kind == "mismatch") & (diffs.field == "volume")]
    assert list(volume.timestamp) == [pd.Timestamp(levels.bar_start(int(altered.ts_ms), "1m"), unit="ms")]
    assert volume.relative.iloc[0] > 1e-6
    coarse = zvt_ccxt.check_candles_from_trades(eid, "1h")
    assert not coarse.ok and set(coarse.differences.field) >= {"volume"}


def test_bybit_serves_recent_trades_only(sim):
    with pytest.raises(CapabilityNotSupportedError, match="bybit does not support historical trades"):
        trades("bybit", start_timestamp=START)
    first = trades("bybit", ["BTC/USDT:USDT"])
    assert first.ok and first.results[0].rows == 999
    with later(sim, SIM_NOW + 30 * H):
        gap = trades("bybit", ["BTC/USDT:USDT"])
    assert not gap.ok and "out of reach" in gap.results[0].error and gap.results[0].rows == 1000
    windows = store.coverage.windows("crypto_trade", entity_id("bybit", "cryptoperp"))
    assert [w.status for w in windows] == ["fetched", "failed", "fetched"]
    assert stored(CryptoTrade, entity_id("bybit", "cryptoperp")).id.is_unique


def test_codes_resolve_to_spot_unless_told_perp(sim):
    assert trades("okx", ["btcusdt"], start_timestamp=MINUTE_END - 600_000).results[0].entity_id == entity_id("okx")
    perp = CryptoTrade.record_data(
        provider="ccxt", exchange="okx", codes=["btcusdt"], market="perp", start_timestamp=MINUTE_END - 600_000
    )
    assert perp.results[0].entity_id == "cryptoperp_okx_btcusdt" and perp.ok
    frame = stored(CryptoTrade, "cryptoperp_okx_btcusdt")
    assert list(frame.trade_id) == truth(sim, "okx", "BTC/USDT:USDT", MINUTE_END - 600_000, MINUTE_END, SIM_NOW)
    with pytest.raises(UnknownSymbolError, match="perpetual"):
        CryptoFunding.record_data(provider="ccxt", exchange="okx", symbols=["BTC/USDT"])


# -- funding ---------------------------------------------------------------------------------------------


def intervals_of(sim, exchange, symbol, frame):
    market = sim.market(exchange, symbol)
    return [derivatives.funding_interval_ms(market, int(t)) / H for t in frame.ts_ms]


@pytest.mark.parametrize("exchange", ["binance", "okx", "bybit"])
def test_funding_intervals_follow_the_schedule_through_a_change_to_1h(sim, exchange):
    summary = CryptoFunding.record_data(
        provider="ccxt", exchange=exchange, symbols=["ETH/USDT:USDT"], start_timestamp="2025-05-01"
    )
    frame = stored(CryptoFunding, f"cryptoperp_{exchange}_ethusdt")
    market = sim.market(exchange, "ETH/USDT:USDT")
    expected = derivatives.funding_times(market, levels.to_utc_ms("2025-05-01"), MINUTE_END, SIM_NOW)
    assert summary.ok and frame.ts_ms.tolist() == expected.tolist() and frame.id.is_unique
    assert frame.funding_interval_hours.tolist() == intervals_of(sim, exchange, "ETH/USDT:USDT", frame)
    assert set(frame.funding_interval_hours) == {8.0, 1.0}
    np.testing.assert_allclose(frame.funding_rate, derivatives.funding_rates(market, expected), atol=1e-12)


def test_funding_resumes_and_a_failed_page_is_repaired_with_its_interval(sim):
    market = sim.market("okx", "BTC/USDT:USDT")
    events = derivatives.funding_times(market, SIM_NOW - 90 * levels.DAY_MS, MINUTE_END, SIM_NOW)
    second_page = f"after={events[-100]}"
    sim.inject("okx", second_page, 500, {"code": "50001", "msg": "Service temporarily unavailable"}, times=None)
    broken = CryptoFunding.record_data(provider="ccxt", exchange="okx", codes=["btcusdt"])
    assert not broken.ok
    frame = stored(CryptoFunding, "cryptoperp_okx_btcusdt")
    assert frame.ts_ms.tolist() == events[-100:].tolist()
    assert pd.isna(frame.funding_interval_hours.iloc[0])  # its predecessor was on the page that failed

    sim.clear_faults()
    now = SIM_NOW + 2 * levels.DAY_MS
    with later(sim, now), statements_sent(CryptoFunding) as sent:
        assert CryptoFunding.record_data(provider="ccxt", exchange="okx", codes=["btcusdt"]).ok
    assert not any(sql.startswith("UPDATE") for sql in sent)  # intervals computed before writing, never patched
    frame = stored(CryptoFunding, "cryptoperp_okx_btcusdt")
    served = derivatives.funding_times(market, now - 90 * levels.DAY_MS, levels.bar_start(now, "1m"), now)
    assert frame.ts_ms.tolist() == served.tolist()
    assert pd.isna(frame.funding_interval_hours.iloc[0])  # the oldest event served: no predecessor
    assert frame.funding_interval_hours.iloc[1:].tolist() == intervals_of(sim, "okx", "BTC/USDT:USDT", frame)[1:]


def test_funding_and_open_interest_are_refused_where_not_offered(sim):
    with pytest.raises(CapabilityNotSupportedError, match="coinbase does not support historical funding rates"):
        CryptoFunding.record_data(provider="ccxt", exchange="coinbase", codes=["btcusd"])
    with pytest.raises(CapabilityNotSupportedError, match="coinbase does not support historical open interest"):
        CryptoOpenInterest.record_data(provider="ccxt", exchange="coinbase")
    assert sim.requests == []


# -- open interest ---------------------------------------------------------------------------------------


def test_open_interest_keeps_to_what_each_exchange_serves(sim):
    binance = CryptoOpenInterest.record_data(provider="ccxt", exchange="binance", codes=["btcusdt"])
    frame = stored(CryptoOpenInterest, "cryptoperp_binance_btcusdt")
    end = levels.bar_start(SIM_NOW, "1h")
    assert binance.ok and frame.ts_ms.iloc[-1] == end - H and len(frame) == 30 * 24 - 1
    windows = store.coverage.windows("crypto_open_interest_1h", "cryptoperp_binance_btcusdt")
    assert windows[0].status == "empty" and "30 days" in windows[0].error
    assert (
        CryptoOpenInterest.record_data(provider="ccxt", exchange="binance", codes=["btcusdt"]).results[0].requests == 0
    )

    bybit = CryptoOpenInterest.record_data(
        provider="ccxt", exchange="bybit", codes=["btcusdt"], start_timestamp=end - 10 * levels.DAY_MS, period="1h"
    )
    assert bybit.ok and bybit.results[0].requests == 2  # 240 hours: two pages by cursor
    assert len(stored(CryptoOpenInterest, "cryptoperp_bybit_btcusdt")) == 240

    # okx: per instrument, daily statistics from 2024-01-01 on, in UTC days, 100 a request
    okx = CryptoOpenInterest.record_data(provider="ccxt", exchange="okx", symbols=["BTC/USD:BTC"], period="1d")
    frame = stored(CryptoOpenInterest, "cryptoperp_okx_btcusd")
    first_day = levels.to_utc_ms("2024-01-01")
    days = np.arange(first_day, levels.bar_start(SIM_NOW, "1d"), levels.DAY_MS)
    assert okx.ok and okx.results[0].requests == -(-len(days) // 100)
    assert frame.ts_ms.tolist() == days.tolist()
    assert (frame.scope == "instrument").all() and (frame.period == "1d").all()
    contracts, _, usd = derivatives.open_interest(sim.market("okx", "BTC/USD:BTC"), days)
    assert frame.open_interest_amount.tolist() == contracts.tolist()  # contracts of 100 USD
    np.testing.assert_allclose(frame.open_interest_value, usd, rtol=0, atol=0.005)
    windows = store.coverage.windows("crypto_open_interest_1d", "cryptoperp_okx_btcusd")
    assert windows[0].status == "empty" and "before 2024-01-01" in windows[0].error


def okx_open_interest_pages(sim) -> list[tuple[int, int]]:
    """The ``(begin, end)`` of every okx open interest history request, bounds exclusive as okx reads them."""
    return [
        (int(r["query"]["begin"]), int(r["query"]["end"]))
        for r in sim.requests
        if r["path"].endswith("/rubik/stat/contracts/open-interest-history")
    ]


def periods_in(pages: list[tuple[int, int]], truth: np.ndarray) -> list[int]:
    """Every period of ``truth`` each page asks for, page after page (a period asked twice appears twice)."""
    return [int(t) for begin, end in pages for t in truth[(truth > begin) & (truth < end)]]


def test_okx_open_interest_pages_every_period_exactly_once(sim):
    end = levels.bar_start(SIM_NOW, "1h")
    start = end - 250 * H - 30 * 60_000  # mid-hour: the first period is the next whole hour
    first = CryptoOpenInterest.record_data(
        provider="ccxt", exchange="okx", symbols=["BTC/USDT:USDT"], start_timestamp=start, period="1h"
    )
    hours = np.arange(end - 250 * H, end, H)
    frame = stored(CryptoOpenInterest, "cryptoperp_okx_btcusdt")
    assert first.ok and first.results[0].rows == len(frame) and frame.ts_ms.tolist() == hours.tolist()
    pages = okx_open_interest_pages(sim)
    assert len(pages) == first.results[0].requests == 3  # 100 periods a request at most
    assert periods_in(pages, hours) == hours.tolist()  # none missed, none asked twice
    contracts, _, usd = derivatives.open_interest(sim.market("okx", "BTC/USDT:USDT"), hours)
    assert frame.scope.eq("instrument").all()
    np.testing.assert_allclose(frame.open_interest_amount, contracts, rtol=0, atol=1e-6)  # contracts of 0.01 BTC
    np.testing.assert_allclose(frame.open_interest_value, usd, rtol=0, atol=0.005)  # USD, to the cent

    sim.requests.clear()
    now = SIM_NOW + 7 * H + 5_000
    with later(sim, now):
        resumed = CryptoOpenInterest.record_data(
            provider="ccxt", exchange="okx", symbols=["BTC/USDT:USDT"], period="1h"
        )
    new_hours = np.arange(end, levels.bar_start(now, "1h"), H)
    assert resumed.ok and resumed.results[0].rows == len(new_hours) == 7
    assert periods_in(okx_open_interest_pages(sim), np.r_[hours, new_hours]) == new_hours.tolist()
    assert stored(CryptoOpenInterest, "cryptoperp_okx_btcusdt").ts_ms.tolist() == [*hours, *new_hours]


def test_okx_open_interest_keeps_to_the_latest_1440_periods_and_its_bar_sizes(sim):
    end = levels.bar_start(SIM_NOW, "5m")
    summary = CryptoOpenInterest.record_data(
        provider="ccxt", exchange="okx", symbols=["ETH/USDT:USDT"], start_timestamp=end - 8 * levels.DAY_MS, period="5m"
    )
    served = np.arange(end - 1439 * 5 * 60_000, end, 5 * 60_000)  # the 1,440 latest but the forming one
    frame = stored(CryptoOpenInterest, "cryptoperp_okx_ethusdt")
    assert summary.ok and frame.ts_ms.tolist() == served.tolist() and summary.results[0].requests == 15
    assert periods_in(okx_open_interest_pages(sim), served) == served.tolist()
    windows = store.coverage.windows("crypto_open_interest_5m", "cryptoperp_okx_ethusdt")
    assert windows[0].status == "empty" and "5 days of 5m" in windows[0].error

    sim.requests.clear()
    with pytest.raises(UnsupportedLevelError, match="okx serves open interest at 5m, 1h, 1d only, not '4h'"):
        CryptoOpenInterest.record_data(provider="ccxt", exchange="okx", symbols=["ETH/USDT:USDT"], period="4h")
    assert sim.requests == []


# -- order books -----------------------------------------------------------------------------------------


def test_order_book_depth_follows_the_exchange_limits(sim):
    summary = CryptoOrderbook.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT:USDT"], depth=25)
    assert summary.ok
    asked = [r["query"].get("limit") for r in sim.requests if r["path"].endswith("/depth")]
    assert asked == ["50"]  # binance futures accept 5, 10, 20, 50...: the smallest holding 25
    book = CryptoOrderbook.query_data(provider="ccxt").iloc[0]
    assert book.depth == 25 and len(book.bids) == len(book.asks) == 25
    assert book.timestamp == pd.Timestamp(SIM_NOW - 3, unit="ms")  # the exchange's time of the book


def test_a_crossed_book_is_refused(sim):
    body = {"lastUpdateId": 1, "bids": [["101.0", "1"], ["100.0", "1"]], "asks": [["100.5", "1"], ["102", "1"]]}
    sim.inject("binance", "/depth", 200, body, times=1)
    summary = CryptoOrderbook.record_data(provider="ccxt", exchange="binance", codes=["btcusdt"])
    assert not summary.ok and "crossed book" in summary.results[0].error and summary.results[0].rejected == 1
    assert CryptoOrderbook.query_data(provider="ccxt").empty
