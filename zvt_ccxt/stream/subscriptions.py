"""Subscriptions: one channel on one group of symbols, multiplexed over the exchange's ccxt.pro client.

ccxt's ``watch_*_for_symbols`` resolves with one symbol per call while the others wait in ccxt's cache, so
a busy symbol can starve a quiet one. Every wake-up here therefore drains *every* symbol's cache, and keeps
draining until a pass finds nothing new before the next watch is issued, so nothing waits for a wake-up
that already happened. Connection losses back off exponentially with jitter before the next watch (ccxt
itself would reconnect at once), and mark the symbols so the gap they leave is repaired from REST.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import ccxt

from zvt_ccxt import levels
from zvt_ccxt.backfill.instruments import Instrument
from zvt_ccxt.errors import DataValidationError, ZvtCcxtError
from zvt_ccxt.exchange.client import ExchangeClient
from zvt_ccxt.store.rows import book_row, trade_rows, valid_trade
from zvt_ccxt.stream.books import crossed, top_levels
from zvt_ccxt.stream.candles import BarValues, NativeCandles, TradeCandles
from zvt_ccxt.stream.client import ProClient
from zvt_ccxt.stream.decoders import Signal
from zvt_ccxt.stream.gaps import CacheCursor, Gap, TradeSequence, fetch_bars_between, trade_pages
from zvt_ccxt.stream.metrics import StreamMetrics, SubscriptionMetrics
from zvt_ccxt.stream.rows import (
    BOOKS_TABLE,
    FUNDING_TABLE,
    TRADES_TABLE,
    candle_row,
    kdata_table,
    predicted_funding_row,
)
from zvt_ccxt.stream.watchdog import EventClock, StallWatchdog
from zvt_ccxt.stream.writer import StreamWriter
from zvt_ccxt.trade_order import trade_key

logger = logging.getLogger(__name__)

#: errors no reconnect can fix: the subscription stops and says why
PERMANENT_ERRORS = (
    ccxt.AuthenticationError,
    ccxt.PermissionDenied,
    ccxt.AccountSuspended,
    ccxt.BadSymbol,
    ccxt.BadRequest,
    ccxt.NotSupported,
    ccxt.ArgumentsRequired,
)


@dataclass(frozen=True)
class BackoffPolicy:
    """Reconnect waits: exponential from ``initial`` to ``maximum`` seconds, each drawn in [half, full]."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0


class Backoff:
    def __init__(self, policy: BackoffPolicy) -> None:
        self.policy = policy
        self.attempt = 0

    def next(self) -> float:
        ceiling = min(self.policy.maximum, self.policy.initial * self.policy.factor**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class StreamContext:
    """What every subscription of one stream shares."""

    pro: ProClient
    rest: Callable[[], ExchangeClient]
    writer: StreamWriter
    metrics: StreamMetrics
    watchdog: StallWatchdog
    entities: dict[str, Instrument]
    level: str
    write_trades: bool = True
    book_depth: int = 20
    snapshot_interval: float = 1.0
    funding_poll_interval: float = 60.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    repairs: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    background: set = field(default_factory=set)

    def spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)


#: what the stream never reads of a ccxt trade: ``info`` (the raw message) is about half a cached trade's memory
UNREAD_TRADE_KEYS = ("info", "datetime", "fee", "fees")


def _lighten(trades: list[dict]) -> None:
    """Drop the unread parts of trades just taken from ccxt's cache, where they stay until evicted."""
    for trade in trades:
        for key in UNREAD_TRADE_KEYS:
            trade.pop(key, None)


class Subscription:
    """The watch loop shared by every channel: reconnect with backoff, stop on permanent errors."""

    channel = ""
    #: words that name this channel in ccxt's subscription hashes (to find the connection carrying it)
    hints: tuple[str, ...] = ()

    def __init__(self, ctx: StreamContext, symbols: list[str], group: str) -> None:
        self.ctx = ctx
        self.symbols = list(symbols)
        #: each symbol's place in the group: a wake-up reads the symbols with news in the group's order
        self._position = {s: i for i, s in enumerate(self.symbols)}
        self.exchange = ctx.pro.exchange
        self.name = f"{ctx.pro.exchange_id} {self.channel} {group}"
        self.metrics: SubscriptionMetrics = ctx.metrics.of(self.name, ctx.pro.exchange_id, self.channel)
        self.clock = EventClock()
        self.backoff = Backoff(ctx.backoff)
        self.connected = False
        self.failed: str | None = None
        #: set when the client's decoder takes a frame of this subscription's markets (``register``)
        self.signal = Signal()
        self.decoded = False
        self._pending_watch: asyncio.Future | None = None
        ctx.watchdog.watch(self.name, self.clock, self.on_stall, lambda: self.connected)

    def register(self, kind: str, symbol: str, interval: str | None = None, timeframe: str | None = None) -> None:
        """Have the client's decoder deliver ``kind`` frames of ``symbol`` to this subscription."""
        if self.ctx.pro.feed.register(kind, self.exchange.market(symbol), self.signal, interval, timeframe):
            self.decoded = True

    async def watch(self) -> None:
        raise NotImplementedError

    async def watch_or_decoded(self, start_watch: Callable[[], Any]) -> None:
        """ccxt's watch (it subscribes, and resolves on frames ccxt parsed), or a decoded frame, whichever
        comes first. The watch stays pending across decoded wake-ups: its errors (a lost connection) still
        surface here, and ccxt subscribes once."""
        if self._pending_watch is None:
            self._pending_watch = asyncio.ensure_future(start_watch())
            if self.decoded:  # the watch ending wakes the same waiter a decoded frame does (cheaper than asyncio.wait)
                self._pending_watch.add_done_callback(self._wake_on_watch)
        watching = self._pending_watch
        if self.decoded and not watching.done():
            await self.signal.wait()
            self.signal.clear()  # what arrives from now on, while the wake-up drains, wakes the next watch
            if not watching.done():
                return
        self._pending_watch = None
        await watching

    def _wake_on_watch(self, _watch: asyncio.Future) -> None:
        self.signal.set()

    def _with_news(self, parsed: Collection[str]) -> list[str]:
        """This group's symbols with something new, in the group's order: those the decoder touched, and those
        in ``parsed`` (ccxt's cache for the channel, which holds only the symbols ccxt parsed frames of, in any
        group of the client). A group of hundreds of symbols is not read through at every frame."""
        waiting = self.signal.take_touched()
        if len(parsed) < len(self.symbols):
            waiting.update(symbol for symbol in parsed if symbol in self._position)
        else:
            waiting.update(symbol for symbol in self.symbols if symbol in parsed)
        return sorted(waiting, key=self._position.__getitem__)

    def _cancel_watch(self) -> None:
        if self._pending_watch is not None:
            self._pending_watch.cancel()
            self._pending_watch.add_done_callback(_retrieve)
            self._pending_watch = None

    async def wake(self) -> None:
        raise NotImplementedError

    def interrupted(self) -> None:
        """The connection dropped: whatever was in flight is lost."""

    async def tick(self) -> None:
        """Called about once a second, data or not."""

    async def run(self) -> None:
        while True:
            try:
                await self.watch()
                if not self.connected:
                    self.connected = True
                await self.wake()
                self.backoff.reset()
            except asyncio.CancelledError:
                self._cancel_watch()
                raise
            except ccxt.InvalidNonce as error:  # ccxt's own book sequence check: it resubscribes by itself
                self.metrics.resyncs += 1
                logger.warning("%s: %s: resyncing from a fresh snapshot", self.name, error)
            except PERMANENT_ERRORS as error:
                self.failed = f"{type(error).__name__}: {error}"
                self.metrics.errors += 1
                self.connected = False
                logger.error("%s: stopped: %s", self.name, self.failed)
                return
            except (ccxt.BaseError, ConnectionError, OSError) as error:
                self.connected = False
                self.metrics.reconnects += 1
                self.interrupted()
                delay = self.backoff.next()
                logger.warning("%s: %s: %s; reconnecting in %.2fs", self.name, type(error).__name__, error, delay)
                await asyncio.sleep(delay)

    async def on_stall(self, stale_s: float) -> None:
        self.metrics.stalls += 1
        clients = self.ctx.pro.connections(self.hints, self.symbols) or list((self.exchange.clients or {}).values())
        self.ctx.pro.drop_connections(clients, f"{self.name}: no data for {stale_s:.1f}s")


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class CandleOutput:
    """Writes one symbol's bars: the forming bar coalesced, every closed bar queued (never dropped)."""

    def __init__(
        self, ctx: StreamContext, entity: Instrument, metrics: SubscriptionMetrics, timeframe: str, derived: bool
    ) -> None:
        self.ctx = ctx
        self.entity = entity
        self.metrics = metrics
        self.table = kdata_table(entity.entity_type, ctx.level)
        self.timeframe = timeframe
        self.derived = derived
        self.previous_close: float | None = None
        #: ids of bars already written closed, newest last (a forming write must never follow one)
        self.closed_ids: dict[str, None] = {}
        #: a bar built from trades that began before the stream did holds only part of them: the first one closed
        #: is stored but not accounted as covered (a REST run fetches it whole)
        self.partial_first = derived

    def forming(self, bar: BarValues, estimated: bool) -> None:
        row = candle_row(
            self.entity,
            self.ctx.level,
            bar,
            closed=False,
            timeframe=self.timeframe,
            derived=self.derived,
            estimated=estimated,
            previous_close=self.previous_close,
        )
        if row[0] not in self.closed_ids:
            self.ctx.writer.put_latest(
                self.table, row[0], row, self.metrics, None, count_coalesced=False, accounted=False
            )

    async def closed(self, bars: list[BarValues], estimated: bool | list[bool]) -> None:
        rows, events = [], []
        flags = estimated if isinstance(estimated, list) else [estimated] * len(bars)
        for bar, flag in zip(bars, flags, strict=True):
            rows.append(
                candle_row(
                    self.entity,
                    self.ctx.level,
                    bar,
                    closed=True,
                    timeframe=self.timeframe,
                    derived=self.derived,
                    estimated=flag,
                    previous_close=self.previous_close,
                )
            )
            self.previous_close = bar.close
            events.append(levels.next_bar_start(bar.start, self.ctx.level))
            self.closed_ids[rows[-1][0]] = None
            if len(self.closed_ids) > 4096:
                self.closed_ids = dict.fromkeys(list(self.closed_ids)[-1024:])
        if self.partial_first and rows:
            self.partial_first = False
            await self.ctx.writer.add(self.table, rows[:1], self.metrics, events[:1], accounted=False)
            rows, events = rows[1:], events[1:]
        await self.ctx.writer.add(self.table, rows, self.metrics, events)

    def lost(self, start_ms: int, end_ms: int, error: str) -> None:
        """Bars overlapping ``[start_ms, end_ms)`` cannot be vouched for: the ledger keeps them failed."""
        start = levels.bar_start(start_ms, self.ctx.level)
        end = levels.next_bar_start(levels.bar_start(max(start_ms, end_ms - 1), self.ctx.level), self.ctx.level)
        self.ctx.writer.failed_range(self.table, self.entity.entity_id, start, end, error)


class TradesSubscription(Subscription):
    """Public trades of a group of symbols; optionally builds the level's candles from them."""

    channel = "trades"
    hints = ("trade",)

    def __init__(self, ctx: StreamContext, symbols: list[str], group: str, build_candles: bool) -> None:
        super().__init__(ctx, symbols, group)
        sequential = ctx.pro.profile.sequential_trade_ids
        self.cursors = {s: CacheCursor() for s in symbols}
        self.sequences = {s: TradeSequence(s, sequential) for s in symbols}
        self.builders: dict[str, TradeCandles] = {}
        self.outputs: dict[str, CandleOutput] = {}
        for symbol in symbols:
            self.register("trades", symbol)
        if build_candles:
            candle_metrics = ctx.metrics.of(
                f"{ctx.pro.exchange_id} ohlcv {group} (from trades)", ctx.pro.exchange_id, "ohlcv"
            )
            self.candle_metrics = candle_metrics
            for symbol in symbols:
                self.builders[symbol] = TradeCandles(ctx.level)
                self.outputs[symbol] = CandleOutput(ctx, ctx.entities[symbol], candle_metrics, "trades", True)

    async def watch(self) -> None:
        if len(self.symbols) == 1:
            await self.watch_or_decoded(lambda: self.exchange.watch_trades(self.symbols[0]))
        else:
            await self.watch_or_decoded(lambda: self.exchange.watch_trades_for_symbols(self.symbols))

    def interrupted(self) -> None:
        for sequence in self.sequences.values():
            sequence.reconnected()

    async def wake(self) -> None:
        caches = self.exchange.trades
        feed = self.ctx.pro.feed
        while True:
            drained = False
            for symbol in self._with_news(caches):
                fresh, evicted = self.cursors[symbol].take(caches.get(symbol))
                _lighten(fresh)  # ccxt's trades: decoded ones hold only what is read
                if self.decoded:  # decoded frames, and any frame of the same markets ccxt parsed instead
                    decoded, dropped = feed.take_trades(symbol)
                    fresh, evicted = fresh + decoded, evicted or dropped
                if fresh:
                    drained = True
                    await self._process(symbol, sorted(fresh, key=trade_key), evicted)
            if not drained:
                return

    async def _process(self, symbol: str, trades: list[dict], evicted: bool) -> None:
        last_ms = trades[-1].get("timestamp")
        self.metrics.received(len(trades), last_ms)
        self.clock.observe(last_ms)
        fresh, gaps = self.sequences[symbol].check(trades, evicted)
        for gap in gaps:
            self.metrics.gaps += 1
            logger.warning(
                "%s %s: gap of %s trades (%s) between %d and %d: repairing from REST",
                self.name,
                symbol,
                gap.expected if gap.expected is not None else "unknown",
                gap.reason,
                gap.start_ms,
                gap.end_ms,
            )
            if symbol in self.builders:
                self.builders[symbol].hold(id(gap), gap.start_ms, gap.end_ms)
            self.ctx.spawn(self._repair(symbol, gap))
        fresh = [t for t in fresh if valid_trade(t)]
        if not fresh:
            return
        entity = self.ctx.entities[symbol]
        if self.ctx.write_trades:
            rows = trade_rows(entity, fresh, "stream")
            await self.ctx.writer.add(TRADES_TABLE, rows, self.metrics, [t["timestamp"] for t in fresh])
        if symbol in self.builders:
            touched = self.builders[symbol].add(fresh)
            await self._candles(symbol, touched)

    async def _candles(self, symbol: str, touched: set[int]) -> None:
        builder, output = self.builders[symbol], self.outputs[symbol]
        closed = builder.close_ready(self.clock.exchange_now_ms())
        if closed:
            await output.closed(closed, False)
        done = {bar.start for bar in closed}
        for bar in builder.forming(touched - done):
            output.forming(bar, False)

    async def tick(self) -> None:
        for symbol in self.builders:
            await self._candles(symbol, set())

    def _lost(self, symbol: str, gap: Gap, error: str) -> None:
        """The ledger keeps a gap that could not be repaired failed, for the trades and the bars built from them."""
        end_ms = gap.end_ms + 1  # the gap's bounds are the times of the trades either side of it
        if self.ctx.write_trades:
            self.ctx.writer.failed_range(TRADES_TABLE, self.ctx.entities[symbol].entity_id, gap.start_ms, end_ms, error)
        if symbol in self.outputs:
            self.outputs[symbol].lost(gap.start_ms, end_ms, error)

    async def _repair(self, symbol: str, gap: Gap) -> None:
        """Fetch the gap page by page, each queued before the next is asked for: a repair holds one page of
        trades however large the gap, and the writer paces it. It keeps its repair slot meanwhile, so repairs
        waiting for one hold nothing but their gap."""
        builder = self.builders.get(symbol)
        touched: set[int] = set()
        found = 0
        try:
            async with self.ctx.repairs:
                pages = trade_pages(self.ctx.rest(), gap)
                while (page := await asyncio.to_thread(next, pages, None)) is not None:
                    page = [t for t in page if valid_trade(t)]
                    if not page:
                        continue
                    found += len(page)
                    if builder is not None:
                        touched |= builder.add(page)
                    if self.ctx.write_trades:
                        rows = trade_rows(self.ctx.entities[symbol], page, "rest")
                        events = [t["timestamp"] for t in page]
                        await self.ctx.writer.add(TRADES_TABLE, rows, self.metrics, events, repair=True)
                    self.metrics.repaired_rows += len(page)
            if gap.expected is None or found >= gap.expected:
                self.metrics.gaps_repaired += 1
            else:
                self.metrics.gaps_unrepaired += 1
                logger.warning("%s %s: REST returned %d of %d missing trades", self.name, symbol, found, gap.expected)
                self._lost(symbol, gap, f"stream gap: REST returned {found} of {gap.expected} missing trades")
        except Exception as error:  # whatever it is, the gap stays failed in the ledger
            self.metrics.gaps_unrepaired += 1
            text = str(error) if isinstance(error, ZvtCcxtError) else f"{type(error).__name__}: {error}"
            logger.error("%s %s: gap repair failed: %s", self.name, symbol, text)
            self._lost(symbol, gap, f"stream gap not repaired: {text}")
        finally:
            if builder is not None:
                builder.release(id(gap))
                await self._candles(symbol, touched)


class OhlcvSubscription(Subscription):
    """The exchange's own candle stream at the level's timeframe."""

    channel = "ohlcv"
    hints = ("ohlcv", "kline", "candle")

    def __init__(self, ctx: StreamContext, symbols: list[str], group: str) -> None:
        super().__init__(ctx, symbols, group)
        self.timeframe = levels.LEVEL_TIMEFRAMES[ctx.level]
        self.trackers = {s: NativeCandles(ctx.level) for s in symbols}
        self.outputs = {s: CandleOutput(ctx, ctx.entities[s], self.metrics, self.timeframe, False) for s in symbols}
        self.seen: dict[str, tuple | None] = {}
        interval = (self.exchange.timeframes or {}).get(self.timeframe)
        for symbol in symbols:
            self.register("ohlcv", symbol, str(interval), self.timeframe)

    async def watch(self) -> None:
        if len(self.symbols) == 1:
            await self.watch_or_decoded(lambda: self.exchange.watch_ohlcv(self.symbols[0], self.timeframe))
        else:
            await self.watch_or_decoded(
                lambda: self.exchange.watch_ohlcv_for_symbols([[s, self.timeframe] for s in self.symbols])
            )

    def _newest_first(self, symbol: str) -> Iterator[list] | None:
        """The symbol's latest candles, newest first (None: none yet): ccxt's cache, with the decoded ones over it
        (a bar the decoder saw is newer than anything ccxt parsed of it: the decoder takes every frame it
        recognises). Read lazily: a wake-up reads back to the forming bar, not the whole cache."""
        parsed = (self.exchange.ohlcvs.get(symbol) or {}).get(self.timeframe)
        decoded = self.ctx.pro.feed.candles.get((symbol, self.timeframe)) if self.decoded else None
        if not decoded:
            return reversed(parsed) if parsed else None
        if not parsed:
            return reversed(decoded.values())
        merged = {row[0]: row for row in parsed}
        merged.update(decoded)
        return (merged[start] for start in sorted(merged, reverse=True))

    def interrupted(self) -> None:
        for tracker in self.trackers.values():
            tracker.interrupted()

    async def wake(self) -> None:
        for symbol in self._with_news(self.exchange.ohlcvs):
            newest_first = self._newest_first(symbol)
            if newest_first is None:
                continue
            tracker = self.trackers[symbol]
            floor = int(tracker.current[0]) if tracker.current is not None else None
            rows = []
            for row in newest_first:
                if floor is not None and row[0] < floor:
                    break
                rows.append(list(row))
            marker = tuple(rows[0]) if rows else None
            if marker == self.seen.get(symbol):
                continue
            self.seen[symbol] = marker
            self.metrics.received(1, None)
            self.clock.observe(None)
            update = tracker.update(rows)
            output = self.outputs[symbol]
            if update.closed:
                await output.closed(update.closed, True)
            if update.repair is not None:
                self.metrics.gaps += 1
                self.ctx.spawn(self._repair(symbol, *update.repair))
            if update.forming is not None:
                output.forming(update.forming, True)

    async def _repair(self, symbol: str, start_ms: int, end_ms: int) -> None:
        try:
            async with self.ctx.repairs:
                bars = await asyncio.to_thread(
                    fetch_bars_between, self.ctx.rest(), symbol, self.ctx.level, start_ms, end_ms
                )
            values = [BarValues(int(b[0]), b[1], b[2], b[3], b[4], b[5], b[6]) for b in bars]
            await self.outputs[symbol].closed(values, [bool(b[7]) for b in bars])
            self.metrics.gaps_repaired += 1
            self.metrics.repaired_rows += len(values)
        except Exception as error:  # whatever it is, the bars stay failed in the ledger
            self.metrics.gaps_unrepaired += 1
            text = str(error) if isinstance(error, ZvtCcxtError) else f"{type(error).__name__}: {error}"
            logger.error("%s %s: candle repair failed: %s", self.name, symbol, text)
            self.outputs[symbol].lost(start_ms, end_ms, f"stream gap not repaired: {text}")


class BookSubscription(Subscription):
    """Order books kept by ccxt.pro, checked here, persisted as top-N snapshots at a fixed cadence."""

    channel = "orderbook"
    hints = ("book", "level2", "depth")

    def __init__(self, ctx: StreamContext, symbols: list[str], group: str) -> None:
        super().__init__(ctx, symbols, group)
        self.last_saved: dict[str, float] = {}
        self.last_seen: dict[str, object] = {}
        self.ids = {self.exchange.market(s)["id"]: s for s in symbols}

    async def watch(self) -> None:
        if len(self.symbols) == 1:
            await self.exchange.watch_order_book(self.symbols[0])
        else:
            await self.exchange.watch_order_book_for_symbols(self.symbols)

    async def wake(self) -> None:
        check = self.ctx.pro.book_check
        desynced = {self.ids[i] for i in (check.take() if check else set()) if i in self.ids}
        for symbol in self.symbols:
            book = self.exchange.orderbooks.get(symbol)
            if book is None:
                continue
            if symbol in desynced or crossed(book):
                self._resync(symbol, "sequence or checksum mismatch" if symbol in desynced else "crossed book")
                return
            marker = (book.get("nonce"), book.get("timestamp"), len(book.get("bids") or []))
            if marker != self.last_seen.get(symbol):
                self.last_seen[symbol] = marker
                self.metrics.received(1, book.get("timestamp"))
                self.clock.observe(book.get("timestamp"))
            self._snapshot(symbol, book)

    async def tick(self) -> None:
        for symbol in self.symbols:
            book = self.exchange.orderbooks.get(symbol)
            if book is not None and self.connected and not crossed(book):
                self._snapshot(symbol, book)

    def _snapshot(self, symbol: str, book: dict) -> None:
        now = time.monotonic()
        # a book rebuilt from a REST snapshot may carry no exchange time until its first update
        ts = book.get("timestamp") or self.clock.last_event_ms
        if ts is None or now - self.last_saved.get(symbol, -1e9) < self.ctx.snapshot_interval:
            return
        self.last_saved[symbol] = now
        bids, asks = top_levels(book, self.ctx.book_depth)
        if not bids and not asks:
            return
        entity = self.ctx.entities[symbol]
        try:
            row = book_row(entity, bids, asks, book.get("nonce"), int(ts), "stream")
        except DataValidationError as error:  # crossed or malformed: the book checks resync it
            logger.debug("%s %s: snapshot not stored: %s", self.name, symbol, error)
            return
        self.ctx.writer.put_latest(BOOKS_TABLE, entity.entity_id, row, self.metrics, int(ts))

    def _resync(self, symbol: str, reason: str) -> None:
        """Throw the book away and reconnect: a new subscription starts from a fresh snapshot."""
        self.metrics.resyncs += 1
        logger.warning("%s %s: %s: resyncing from a fresh snapshot", self.name, symbol, reason)
        self.exchange.orderbooks.pop(symbol, None)
        clients = self.ctx.pro.connections(self.hints, [symbol]) or list((self.exchange.clients or {}).values())
        self.ctx.pro.drop_connections(clients, f"{symbol} order book desync ({reason})")


class FundingSubscription(Subscription):
    """Predicted funding rates pushed by the exchange."""

    channel = "funding"
    hints: tuple[str, ...] = ("funding",)

    def __init__(self, ctx: StreamContext, symbols: list[str], group: str) -> None:
        super().__init__(ctx, symbols, group)
        self.seen: dict[str, object] = {}

    async def watch(self) -> None:
        await self.exchange.watch_funding_rates(self.symbols)

    async def wake(self) -> None:
        for symbol in self.symbols:
            funding = (self.exchange.fundingRates or {}).get(symbol)
            if funding:
                self._store(symbol, funding)

    def _store(self, symbol: str, funding: dict) -> None:
        marker = (funding.get("fundingRate"), funding.get("fundingTimestamp"))
        if marker == self.seen.get(symbol):
            return
        self.seen[symbol] = marker
        event = funding.get("timestamp")
        self.metrics.received(1, event)
        self.clock.observe(event)
        row = predicted_funding_row(self.ctx.entities[symbol], funding, "stream")
        if row is not None:
            self.ctx.writer.put_latest(FUNDING_TABLE, row[0], row, self.metrics, event, count_coalesced=False)


class FundingPoller(FundingSubscription):
    """Funding over REST, for exchanges whose streams do not carry it."""

    hints: tuple[str, ...] = ()

    async def run(self) -> None:
        self.connected = False  # nothing for the stall watchdog to judge
        while True:
            for symbol in self.symbols:
                try:
                    funding = await asyncio.to_thread(self.ctx.rest().call, "fetch_funding_rate", symbol, symbol=symbol)
                except ZvtCcxtError as error:
                    self.metrics.errors += 1
                    logger.warning("%s %s: %s", self.name, symbol, error)
                    continue
                self._store(symbol, funding)
            await asyncio.sleep(self.ctx.funding_poll_interval)


__all__ = [
    "Backoff",
    "BackoffPolicy",
    "BookSubscription",
    "FundingPoller",
    "FundingSubscription",
    "OhlcvSubscription",
    "StreamContext",
    "Subscription",
    "TradesSubscription",
]
