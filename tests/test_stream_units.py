"""The stream's parts on their own: cache cursors, gap detection, candle building, book checks, writer, watchdog."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from ccxt.async_support.base.ws.cache import ArrayCache
from hypothesis import given
from hypothesis import strategies as st

from zvt_ccxt import levels
from zvt_ccxt.backfill.instruments import Instrument
from zvt_ccxt.domain import CryptoOrderbook, CryptoTrade
from zvt_ccxt.store import writer as store_writer
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt.store.rows import BOOK_COLUMNS, book_row, trade_rows
from zvt_ccxt.stream import writer as writer_module
from zvt_ccxt.stream.books import ConnectionSequence, OkxChecksum, UpdateIdSequence, crossed
from zvt_ccxt.stream.candles import NativeCandles, TradeCandles
from zvt_ccxt.stream.gaps import CacheCursor, Gap, TradeSequence, trade_pages
from zvt_ccxt.stream.metrics import StreamMetrics
from zvt_ccxt.stream.rows import TRADES_TABLE
from zvt_ccxt.stream.subscriptions import Backoff, BackoffPolicy
from zvt_ccxt.stream.watchdog import EventClock, StallWatchdog
from zvt_ccxt.stream.writer import StreamWriter, Table
from zvt_ccxt_testkit.simulator.ws import okx_checksum

M = levels.MINUTE_MS
T0 = 1_748_774_040_000  # a minute start


def trade(i: int, ts: int | None = None, price: float = 100.0, amount: float = 1.0) -> dict:
    return {
        "id": str(i),
        "timestamp": T0 + i * 1000 if ts is None else ts,
        "price": price,
        "amount": amount,
        "symbol": "BTC/USDT",
        "side": "buy",
    }


# -- reading ccxt's caches ----------------------------------------------------------------------------


def test_cursor_reads_only_new_entries_and_notices_eviction():
    cache, cursor = ArrayCache(10), CacheCursor()
    for i in range(5):
        cache.append(trade(i))
    fresh, evicted = cursor.take(cache)
    assert [t["id"] for t in fresh] == ["0", "1", "2", "3", "4"] and not evicted
    assert cursor.take(cache) == ([], False)
    for i in range(5, 8):
        cache.append(trade(i))
    fresh, evicted = cursor.take(cache)
    assert [t["id"] for t in fresh] == ["5", "6", "7"] and not evicted
    for i in range(8, 30):  # the consumer fell behind: 22 new entries, the cache holds 10
        cache.append(trade(i))
    fresh, evicted = cursor.take(cache)
    assert [t["id"] for t in fresh] == [str(i) for i in range(20, 30)] and evicted


def test_sequence_finds_skipped_ids_and_drops_repeats():
    sequence = TradeSequence("BTC/USDT", sequential=True)
    fresh, gaps = sequence.check([trade(i) for i in range(1, 6)], evicted=False)
    assert len(fresh) == 5 and gaps == []
    fresh, [gap] = sequence.check([trade(4), trade(5), trade(9), trade(10)], evicted=False)
    assert [t["id"] for t in fresh] == ["9", "10"]
    assert (gap.after_id, gap.before_id, gap.expected, gap.reason) == (5, 9, 3, "skipped ids")
    assert (gap.start_ms, gap.end_ms) == (T0 + 5000, T0 + 9000)


def test_sequence_finds_holes_inside_what_the_cache_still_holds():
    """An evicting cache can keep 20..24 and 27..30 of what arrived: both holes are gaps, with their bounds."""
    sequence = TradeSequence("BTC/USD", sequential=True)
    sequence.check([trade(i) for i in range(1, 11)], evicted=False)
    fresh, gaps = sequence.check([trade(i) for i in (*range(20, 25), *range(27, 31))], evicted=True)
    assert len(fresh) == 9
    assert [(g.after_id, g.before_id, g.expected, g.reason) for g in gaps] == [
        (10, 20, 9, "evicted from cache"), (24, 27, 2, "evicted from cache")]
    assert [(g.start_ms, g.end_ms) for g in gaps] == [(T0 + 10_000, T0 + 20_000), (T0 + 24_000, T0 + 27_000)]
    assert gaps[1].edge_ids == {"24", "27"}
    assert sequence.check([trade(31)], evicted=False)[1] == []


@given(st.lists(st.lists(st.tuples(st.integers(1, 40), st.integers(0, 3)), max_size=8), max_size=8),
       st.lists(st.booleans(), min_size=8, max_size=8))
def test_the_quick_path_for_consecutive_ids_answers_as_the_general_one(batches, evictions):
    """Batches of (id, time step) pairs, each in the stream's order (time, then id): the sequence that may take
    the quick path for ids that continue the last one answers every batch as one held to the general path."""
    quick, general = TradeSequence("BTC/USDT", sequential=True), TradeSequence("BTC/USDT", sequential=True)
    general._continues = lambda trades: False  # type: ignore[method-assign]
    for batch, evicted in zip(batches, evictions, strict=False):
        trades = sorted((trade(i, T0 + i * 1000 + step) for i, step in batch),
                        key=lambda t: (t["timestamp"], int(t["id"])))
        answers = [s.check(trades, evicted) for s in (quick, general)]
        assert [[t["id"] for t in fresh] for fresh, _ in answers][0] == [[t["id"] for t in fresh]
                                                                        for fresh, _ in answers][1]
        assert answers[0][1] == answers[1][1]
        assert (quick.last_id, quick.last_ms, quick.edge_ids) == (general.last_id, general.last_ms, general.edge_ids)


def test_sequence_without_ids_marks_reconnects_by_time():
    sequence = TradeSequence("BTC/USDT:USDT", sequential=False)
    uuid_trade = {**trade(1), "id": "9a1c-…"}
    assert sequence.check([uuid_trade], evicted=False)[1] == []
    assert sequence.check([{**trade(2), "id": "b2"}], evicted=False)[1] == []
    sequence.reconnected()
    _, [gap] = sequence.check([{**trade(7), "id": "c7"}], evicted=False)
    assert gap is not None and gap.reason == "reconnect" and gap.expected is None
    assert (gap.start_ms, gap.end_ms) == (T0 + 2000, T0 + 7000) and {"b2", "c7"} <= gap.edge_ids


# -- candles ------------------------------------------------------------------------------------------


class FakeRest:
    """Answers ``fetch_trades`` like binance: by ``fromId`` (ids ``skip`` left out), else by time from ``since``
    (until ``until``, inclusive)."""

    exchange_id = "binance"

    def __init__(self, trades: list[dict], skip: frozenset[int] = frozenset()) -> None:
        self.trades, self.skip = trades, skip
        self.requests: list[dict] = []

    def market(self, symbol):
        return {"symbol": symbol, "type": "spot"}

    def call(self, method, _symbol, since, limit, params, **_):
        self.requests.append(dict(params, since=since))
        if "fromId" in params:
            rows = [t for t in self.trades if int(t["id"]) >= params["fromId"] and int(t["id"]) not in self.skip]
        else:
            until = params.get("until", float("inf"))
            rows = [t for t in self.trades if since <= t["timestamp"] <= until]
        return [dict(t) for t in rows[:limit]]


def test_a_repair_comes_page_by_page_with_exactly_the_missing_trades():
    rest = FakeRest([trade(i, T0 + i) for i in range(5_000)])
    gap = Gap("BTC/USDT", T0 + 99, T0 + 2_600, "evicted from cache", after_id=99, before_id=2_600)
    pages = list(trade_pages(rest, gap, limit=1_000))
    # one page a request, walked by id from the last trade seen; the trade sharing a page's last timestamp
    # goes with the next page (more trades at that instant may follow)
    assert len(pages) == 3 and all(len(p) <= 1_000 for p in pages)
    assert [int(t["id"]) for p in pages for t in p] == list(range(100, 2_600))
    assert [r.get("fromId") for r in rest.requests] == [100, 1_100, 2_100]


def test_a_repair_and_the_trade_recorder_page_through_the_same_pager(monkeypatch):
    from zvt_ccxt.backfill import trade_pager as pagers

    walks = []
    real = pagers.AggTradesPager._walk

    def spying(self, start_ms, end_ms, after_id):
        walks.append((type(self).__name__, start_ms, end_ms, after_id))
        return real(self, start_ms, end_ms, after_id)

    monkeypatch.setattr(pagers.AggTradesPager, "_walk", spying)
    rest = FakeRest([trade(i, T0 + i) for i in range(500)])
    gap = Gap("BTC/USDT", T0 + 99, T0 + 200, "skipped ids", after_id=99, before_id=200)
    repaired = [int(t["id"]) for p in trade_pages(rest, gap) for t in p]
    recorded = [
        int(t["id"])
        for b in pagers.trade_pager(rest, rest.market("BTC/USDT")).pages(T0 + 100, T0 + 200)
        for t in b.rows
    ]
    assert repaired == recorded == list(range(100, 200))
    assert walks == [("AggTradesPager", T0 + 99, T0 + 201, 99), ("AggTradesPager", T0 + 100, T0 + 200, None)]


def test_a_repair_by_id_that_comes_short_is_completed_by_time_without_repeats():
    rest = FakeRest([trade(i, T0 + i) for i in range(3_000)], skip=frozenset({150, 151}))
    gap = Gap("BTC/USDT", T0 + 99, T0 + 400, "skipped ids", after_id=99, before_id=400)
    ids = [int(t["id"]) for p in trade_pages(rest, gap, limit=1_000) for t in p]
    assert sorted(ids) == list(range(100, 400)) and len(ids) == len(set(ids))


def test_rows_queued_in_chunks_are_written_in_order_across_batches(store, monkeypatch):
    real_upsert, batches = store_writer.upsert_many, []

    def recording_upsert(parts):
        batches.extend([row[0] for row in rows] for _, _, rows in parts)
        return real_upsert(parts)

    monkeypatch.setattr(store_writer, "upsert_many", recording_upsert)
    metrics = StreamMetrics().of("test", "binance", "trades")
    writer = StreamWriter(batch_rows=40)
    chunks = [[trade(i) for i in range(start, start + 30)] for start in range(0, 150, 30)]

    async def scenario():
        for batch in chunks:
            rows = trade_rows(ENTITY, batch, "stream")
            await writer.add(TRADES_TABLE, rows, metrics, [t["timestamp"] for t in batch])
        await writer.flush()

    asyncio.run(scenario())
    expected = [row[0] for batch in chunks for row in trade_rows(ENTITY, batch, "stream")]
    assert [len(b) for b in batches] == [40, 40, 40, 30]
    assert [i for b in batches for i in b] == expected and metrics.rows == 150 and writer.pending_rows == 0
    assert count(CryptoTrade) == 150


def test_trade_candles_wait_for_a_repair_then_close_with_every_trade():
    builder = TradeCandles("1m")
    early = [trade(i, T0 + i * 10_000, price=100 + i) for i in range(4)]  # 0..30 s of the first minute
    late = [trade(i, T0 + i * 10_000, price=100 + i) for i in range(8, 14)]  # 80..130 s: the next minute
    builder.add(early)
    builder.hold("gap", T0 + 30_000, T0 + 80_000)  # trades 4..7 are missing and being repaired
    builder.add(late)
    assert builder.close_ready() == [], "the first minute closed while trades of it were missing"
    builder.add([trade(i, T0 + i * 10_000, price=100 + i) for i in (7, 5, 4, 6)])  # repairs arrive unordered
    builder.release("gap")
    first, second = builder.close_ready()
    assert (first.start, first.open, first.high, first.low, first.close, first.volume) == (T0, 100, 105, 100, 105, 6)
    assert first.turnover == sum(100 + i for i in range(6)) and first.trades == 6
    assert (second.start, second.open, second.close, second.volume) == (T0 + M, 106, 111, 6)
    assert builder.close_ready(exchange_now_ms=T0 + 3 * M + 1_000) == []  # still inside the grace period
    (third,) = builder.close_ready(exchange_now_ms=T0 + 3 * M + 5_000)
    assert (third.start, third.open, third.close, third.volume) == (T0 + 2 * M, 112, 113, 2)


def test_native_candles_close_regular_bars_and_repair_irregular_ones():
    tracker = NativeCandles("1m")
    update = tracker.update([[T0, 1, 2, 0.5, 1.5, 10], [T0 + M, 1.5, 3, 1, 2, 5]])
    assert [b.start for b in update.closed] == [T0] and update.forming.start == T0 + M and update.repair is None
    update = tracker.update([[T0 + M, 1.5, 4, 1, 3, 7]])
    assert update.closed == [] and update.forming.high == 4 and update.forming.volume == 7
    update = tracker.update([[T0 + 4 * M, 3, 3, 3, 3, 1]])  # minutes 2 and 3 never came
    assert update.closed == [] and update.repair == (T0 + M, T0 + 4 * M)
    tracker.interrupted()
    update = tracker.update([[T0 + 5 * M, 3, 3, 3, 3, 1]])  # regular, but the connection dropped in between
    assert update.closed == [] and update.repair == (T0 + 4 * M, T0 + 5 * M)


# -- order book checks --------------------------------------------------------------------------------


def okx_frame(action: str, bids, asks, checksum: int) -> dict:
    return {
        "arg": {"channel": "books", "instId": "BTC-USDT"},
        "action": action,
        "data": [
            {
                "bids": [[p, s, "0", "1"] for p, s in bids],
                "asks": [[p, s, "0", "1"] for p, s in asks],
                "checksum": checksum,
            }
        ],
    }


def test_okx_checksum_accepts_the_real_book_and_refuses_a_corrupted_one():
    bids, asks = [("100.5", "2"), ("100.4", "1.25")], [("100.6", "3"), ("100.9", "0.5")]
    check = OkxChecksum()
    check.inspect(None, okx_frame("snapshot", bids, asks, okx_checksum(bids, asks)))
    after_bids = [("100.5", "2"), ("100.45", "7")]  # 100.4 removed, 100.45 added
    check.inspect(None, okx_frame("update", [("100.4", "0"), ("100.45", "7")], [], okx_checksum(after_bids, asks)))
    assert check.take() == set()
    check.inspect(None, okx_frame("update", [("100.3", "1")], [], okx_checksum(after_bids, asks)))
    assert check.take() == {"BTC-USDT"}


def test_bybit_update_ids_and_coinbase_sequence_numbers_must_be_consecutive():
    bybit = UpdateIdSequence()
    for kind, u in (("snapshot", 10), ("delta", 11), ("delta", 12)):
        bybit.inspect("conn", {"topic": "orderbook.50.BTCUSDT", "type": kind, "data": {"s": "BTCUSDT", "u": u}})
    assert bybit.take() == set()
    bybit.inspect("conn", {"topic": "orderbook.50.BTCUSDT", "type": "delta", "data": {"s": "BTCUSDT", "u": 14}})
    assert bybit.take() == {"BTCUSDT"}
    coinbase = ConnectionSequence()
    book = {"channel": "l2_data", "events": [{"type": "update", "product_id": "BTC-USD", "updates": []}]}
    for number in (0, 1, 2):
        coinbase.inspect("conn", {**book, "sequence_num": number})
    assert coinbase.take() == set()
    coinbase.inspect("conn", {"channel": "market_trades", "sequence_num": 4, "events": []})
    assert coinbase.take() == {"BTC-USD"}


def test_crossed_books_are_refused():
    assert crossed({"bids": [[101.0, 1]], "asks": [[100.0, 1]]})
    assert crossed({"bids": [[100.0, 1]], "asks": [[100.0, 1]]})
    assert not crossed({"bids": [[99.0, 1]], "asks": [[100.0, 1]]}) and not crossed({"bids": [], "asks": []})


# -- writer -------------------------------------------------------------------------------------------

ENTITY = Instrument("cryptopair_binance_btcusdt", "cryptopair", "binance", "btcusdt", "BTC/USDT")


def count(schema) -> int:
    with engine_for(schema).connect() as connection:
        return connection.exec_driver_sql(f'SELECT COUNT(*) FROM "{schema.__tablename__}"').scalar()


def test_a_slow_database_blocks_trades_but_never_drops_them(store, monkeypatch):
    real_upsert = store_writer.upsert_many

    def slow_upsert(parts):
        time.sleep(0.02)
        return real_upsert(parts)

    monkeypatch.setattr(store_writer, "upsert_many", slow_upsert)
    metrics = StreamMetrics().of("test", "binance", "trades")
    books = StreamMetrics().of("books", "binance", "orderbook")
    writer = StreamWriter(max_pending_rows=200, batch_rows=50, flush_interval=0.01)
    peak = 0

    async def produce():
        nonlocal peak
        for start in range(0, 2_000, 25):
            batch = [trade(i) for i in range(start, start + 25)]
            await writer.add(
                TRADES_TABLE, trade_rows(ENTITY, batch, "stream"), metrics, [t["timestamp"] for t in batch]
            )
            peak = max(peak, writer.pending_rows)
            row = book_row(ENTITY, [[99.0, 1.0]], [[101.0, 1.0]], start, T0 + start, "stream")
            writer.put_latest(Table(CryptoOrderbook, BOOK_COLUMNS), ENTITY.entity_id, row, books, T0 + start)

    async def scenario():
        runner = asyncio.ensure_future(writer.run())
        await produce()
        await writer.flush()
        runner.cancel()

    asyncio.run(scenario())
    assert count(CryptoTrade) == 2_000 and metrics.rows == 2_000 and metrics.drops == 0
    assert peak <= 200 + 1, "the queue grew past its bound"
    assert books.coalesced > 0 and count(CryptoOrderbook) + books.coalesced == 80


def test_repaired_rows_wait_for_a_half_empty_queue_and_live_rows_go_first(store):
    metrics = StreamMetrics().of("test", "binance", "trades")
    writer = StreamWriter(max_pending_rows=100, batch_rows=50)

    def add(start: int, n: int, repair: bool = False):
        batch = [trade(i) for i in range(start, start + n)]
        rows = trade_rows(ENTITY, batch, "stream")
        return writer.add(TRADES_TABLE, rows, metrics, [t["timestamp"] for t in batch], repair=repair)

    async def scenario():
        await add(0, 60)
        repair = asyncio.ensure_future(add(60, 10, repair=True))
        await add(70, 10)  # 70 rows of 100: a live row still gets in
        await asyncio.sleep(0)
        waited = not repair.done()
        await writer.flush()
        await repair
        await writer.flush()
        return waited

    assert asyncio.run(scenario()), "a repair took queue space a live row needed"
    assert count(CryptoTrade) == 80 and metrics.rows == 80


def test_a_failed_write_is_retried_not_lost(store, monkeypatch):
    real_upsert, failures = store_writer.upsert_many, [2]

    def flaky_upsert(parts):
        if failures[0]:
            failures[0] -= 1
            raise writer_module.StorageError("database is locked")
        return real_upsert(parts)

    monkeypatch.setattr(store_writer, "upsert_many", flaky_upsert)
    metrics = StreamMetrics().of("test", "binance", "trades")
    writer = StreamWriter(retry_wait=0.01)

    async def scenario():
        batch = [trade(i) for i in range(10)]
        await writer.add(TRADES_TABLE, trade_rows(ENTITY, batch, "stream"), metrics, [t["timestamp"] for t in batch])
        await writer.flush()

    asyncio.run(scenario())
    assert count(CryptoTrade) == 10 and writer.write_failures == 2 and metrics.rows == 10


def test_a_flush_writes_its_queued_and_coalesced_rows_in_one_write_queued_first(store, monkeypatch):
    real_upsert, tables = store_writer.upsert_many, []

    def recording_upsert(parts):
        tables.append([schema.__tablename__ for schema, _, _ in parts])
        return real_upsert(parts)

    monkeypatch.setattr(store_writer, "upsert_many", recording_upsert)
    metrics = StreamMetrics().of("test", "binance", "trades")
    books = StreamMetrics().of("books", "binance", "orderbook")
    writer = StreamWriter()

    async def scenario():
        row = book_row(ENTITY, [[99.0, 1.0]], [[101.0, 1.0]], 1, T0, "stream")
        writer.put_latest(Table(CryptoOrderbook, BOOK_COLUMNS), ENTITY.entity_id, row, books, T0)
        batch = [trade(i) for i in range(5)]
        await writer.add(TRADES_TABLE, trade_rows(ENTITY, batch, "stream"), metrics, [t["timestamp"] for t in batch])
        await writer.flush()

    asyncio.run(scenario())
    assert tables == [[CryptoTrade.__tablename__, CryptoOrderbook.__tablename__]]
    assert count(CryptoTrade) == 5 and count(CryptoOrderbook) == 1


def test_a_coalesced_row_landing_while_the_writer_is_cancelled_keeps_its_ledger_window(store, monkeypatch):
    """The snapshot was taken out of the waiting rows and written: the window saying so is saved at the end."""
    from zvt_ccxt import store as stored
    from zvt_ccxt.stream.rows import BOOKS_TABLE

    real_upsert, started = store_writer.upsert_many, threading.Event()

    def slow_write(parts):
        started.set()
        time.sleep(0.3)
        return real_upsert(parts)

    monkeypatch.setattr(store_writer, "upsert_many", slow_write)
    books = StreamMetrics().of("books", "binance", "orderbook")
    writer = StreamWriter(flush_interval=0.01)

    async def scenario():
        runner = asyncio.ensure_future(writer.run())
        writer.put_latest(BOOKS_TABLE, ENTITY.entity_id, book_row(ENTITY, [[99.0, 1.0]], [[101.0, 1.0]], 1, T0,
                                                                   "stream"), books, T0)
        while not started.is_set():
            await asyncio.sleep(0.005)
        runner.cancel()  # mid-write, as the stream's shutdown does; then its last flush
        await asyncio.gather(runner, return_exceptions=True)
        await writer.flush(attempts=5)

    asyncio.run(scenario())
    assert count(CryptoOrderbook) == 1
    windows = stored.coverage.windows(CryptoOrderbook.__tablename__, ENTITY.entity_id)
    assert [w.rows for w in windows] == [1], windows


# -- reconnects and stalls ----------------------------------------------------------------------------


def test_backoff_grows_with_jitter_up_to_a_ceiling_and_resets():
    backoff = Backoff(BackoffPolicy(initial=1.0, maximum=8.0))
    waits = [backoff.next() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    backoff.reset()
    assert 0.5 <= backoff.next() <= 1.0


def test_event_clock_judges_staleness_on_exchange_time():
    clock = EventClock()
    for i in range(10):  # events 100 ms apart, each arriving 40-60 ms after it happened
        clock.observe(1_000_000 + i * 100, arrival_ms=2_000_000 + i * 100 + (40 if i % 2 else 60))
    assert clock.interval_ms == pytest.approx(100)
    assert clock.exchange_now_ms(2_000_940) == 1_000_900
    assert clock.staleness_s(2_000_940) == pytest.approx(0.0)
    assert clock.staleness_s(2_003_940) == pytest.approx(3.0)


def test_watchdog_fires_only_for_a_silent_subscription():
    fired: list[str] = []
    watchdog = StallWatchdog(floor_s=0.2, factor=5)
    silent, busy = EventClock(), EventClock()

    async def scenario():
        now = time.time() * 1000
        for i in range(5):  # both show their normal rhythm (an event every 10 ms) before one goes silent
            silent.observe(int(now) - 60 + i * 10, now - 50 + i * 10)
            busy.observe(int(now) - 60 + i * 10, now - 50 + i * 10)

        async def on_stall_silent(stale):
            fired.append("silent")

        async def on_stall_busy(stale):
            fired.append("busy")

        watchdog.watch("silent", silent, on_stall_silent, lambda: True)
        watchdog.watch("busy", busy, on_stall_busy, lambda: True)
        task = asyncio.ensure_future(watchdog.run())
        for _ in range(20):
            await asyncio.sleep(0.025)
            now = time.time() * 1000
            busy.observe(int(now) - 10, now)
        task.cancel()

    asyncio.run(scenario())
    assert "silent" in fired and "busy" not in fired
    quiet = EventClock()
    quiet.observe(1_000, 2_000)
    assert not quiet.knows_its_rate, "one event tells nothing about a channel's normal rate"


@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(1, 20_000), st.floats(1, 100, allow_nan=False)),
        min_size=1,
        max_size=30,
        unique_by=lambda t: t[1],
    ),
    st.randoms(use_true_random=False),
)
def test_stream_bar_open_and_close_follow_numeric_trade_ids(trades, rnd):
    """Trades sharing a millisecond open and close the bar by numeric id ("999" before "1000"), whatever order
    they arrive in: the order candles rebuilt from stored trades use."""
    start = 1_700_000_040_000  # a minute boundary
    structures = [{"timestamp": start + ms, "id": str(i), "price": p, "amount": 1.0} for ms, i, p in trades]
    rnd.shuffle(structures)
    candles = TradeCandles("1m")
    candles.add(structures)
    [bar] = candles.forming({start})
    by_time_then_number = sorted(trades, key=lambda t: (t[0], t[1]))
    assert (bar.open, bar.close) == (by_time_then_number[0][2], by_time_then_number[-1][2])
