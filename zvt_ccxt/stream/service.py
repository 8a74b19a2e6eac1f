"""``CcxtStream``: live trades, candles, order books and funding of many symbols into zvt's tables.

One ccxt.pro client per stream; symbols are grouped by market kind (spot, linear, inverse: exchanges
serve them on different connections) and each (channel, group) is one subscription. ``run()`` streams
until cancelled, ``stop()`` is called, or SIGINT/SIGTERM arrives; then it flushes every pending row,
closes the connections, writes the audit trail and returns a report.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from collections.abc import Sequence
from typing import Any

from zvt_ccxt import levels, provenance
from zvt_ccxt.backfill.instruments import resolve_symbols
from zvt_ccxt.errors import ConfigError, ZvtCcxtError
from zvt_ccxt.exchange.client import check_exchange_id, get_client
from zvt_ccxt.stream.client import CACHE_LIMIT, ProClient
from zvt_ccxt.stream.ledger import replace_synthetic
from zvt_ccxt.stream.metrics import StreamMetrics
from zvt_ccxt.stream.private import PRIVATE_CHANNELS, PRIVATE_TABLES, AuditLog, PrivateSubscription, account_entity
from zvt_ccxt.stream.rows import BOOKS_TABLE, FUNDING_TABLE, TRADES_TABLE, kdata_table
from zvt_ccxt.stream.shards import parse_shard, publish, shard_symbols
from zvt_ccxt.stream.subscriptions import (
    BackoffPolicy,
    BookSubscription,
    FundingPoller,
    FundingSubscription,
    OhlcvSubscription,
    StreamContext,
    Subscription,
    TradesSubscription,
)
from zvt_ccxt.stream.watchdog import StallWatchdog
from zvt_ccxt.stream.writer import DEFAULT_FLUSH_INTERVAL, StreamWriter

logger = logging.getLogger(__name__)

CHANNELS = ("trades", "ohlcv", "orderbook", "funding")


def _group_of(market: dict) -> str:
    if market.get("spot"):
        return "spot"
    return "inverse" if market.get("inverse") else "linear"


class CcxtStream:
    """Streams ``channels`` of ``symbols`` on one exchange into the zvt-ccxt schemas.

    Channels: ``trades`` (``CryptoTrade``), ``ohlcv`` (the kdata schema of ``level``; native candles where
    the exchange streams them, else built from trades), ``orderbook`` (top-``book_depth`` snapshots into
    ``CryptoOrderbook`` every ``snapshot_interval`` seconds), ``funding`` (perpetuals; streamed where
    offered, else polled every ``funding_poll_interval`` seconds). ``private``: any of ``balance``,
    ``orders``, ``positions``, ``my_trades`` (credentials required). A subscription silent for longer than
    ``stall_factor`` times its normal event spacing, and at least ``stall_after`` seconds, is resubscribed.
    ``shard="i/n"``: stream only this process's part of ``symbols`` (``zvt_ccxt.stream.shards``: the same
    split in every process given the same list and ``shard_weights``, each symbol's share of the messages as
    a mapping or ``"SYMBOL=WEIGHT,..."``, so that busy symbols are spread and the shards carry similar rates) and
    publish its metrics every ``shard_publish_interval``
    seconds to ``shard_status_dir`` for the combined view (``read_shards``, ``zvt-ccxt stream-status``).
    ``write_process``: write in a forked process of its own (the default; where fork exists), so the database
    writes and the event loop do not take turns at one GIL; False writes in a worker thread of this process.
    ``freeze_collector``: once the markets are loaded, move every object then alive (modules, markets, clients)
    out of the garbage collector's later passes (``gc.freeze``): a stream allocates objects for every message,
    and each full pass the collector then makes rescans everything the process holds for its whole life (about
    400,000 objects once zvt, pandas and ccxt are loaded), 0.2 s during which no socket is read. A process that
    frees large cyclic structures it built before the stream started can pass False to leave the collector as it
    is.
    """

    def __init__(
        self,
        exchange: str,
        symbols: Sequence[str],
        channels: Sequence[str] = ("trades", "ohlcv"),
        level: object = "1m",
        *,
        book_depth: int = 20,
        snapshot_interval: float = 1.0,
        funding_poll_interval: float = 60.0,
        stall_after: float = 10.0,
        stall_factor: float = 50.0,
        backoff: BackoffPolicy | None = None,
        max_pending_rows: int = 50_000,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        metrics_log_interval: float = 60.0,
        private: Sequence[str] = (),
        options: dict[str, Any] | None = None,
        cache_limit: int = CACHE_LIMIT,
        shard: object = None,
        shard_status_dir: str | None = None,
        shard_publish_interval: float = 2.0,
        shard_weights: object = None,
        write_process: bool = True,
        freeze_collector: bool = True,
    ) -> None:
        self.exchange_id = check_exchange_id(exchange)
        if isinstance(symbols, str):
            symbols = [symbols]
        self.symbols = list(dict.fromkeys(symbols))
        if not self.symbols:
            raise ZvtCcxtError("say which symbols to stream, e.g. symbols=['BTC/USDT']")
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise ZvtCcxtError(f"unknown channels {unknown}; choose from {', '.join(CHANNELS)}")
        bad_private = [c for c in private if c not in PRIVATE_CHANNELS]
        if bad_private:
            raise ZvtCcxtError(f"unknown private channels {bad_private}; choose from {', '.join(PRIVATE_CHANNELS)}")
        self.channels = list(dict.fromkeys(channels))
        # sharded: this process streams its own part of the list and publishes its metrics for the combined view
        self.shard = None if shard is None else parse_shard(shard)
        if self.shard is not None:
            self.symbols = shard_symbols(self.symbols, self.shard, shard_weights)
        self.shard_status_dir = shard_status_dir
        self.shard_publish_interval = shard_publish_interval
        self.private = list(dict.fromkeys(private))
        self.level = levels.level_value(level)
        self.book_depth = book_depth
        self.snapshot_interval = snapshot_interval
        self.funding_poll_interval = funding_poll_interval
        self.stall_after = stall_after
        self.stall_factor = stall_factor
        self.backoff = backoff or BackoffPolicy()
        self.max_pending_rows = max_pending_rows
        self.flush_interval = flush_interval
        self.write_process = write_process
        self.freeze_collector = freeze_collector
        self.metrics_log_interval = metrics_log_interval
        self.options = dict(options or {})
        self.cache_limit = cache_limit
        self.metrics = StreamMetrics()
        self.subscriptions: list[Subscription] = []
        self.pro: ProClient | None = None
        self.writer: StreamWriter | None = None
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self._stop: asyncio.Event | None = None
        self._ready: asyncio.Event | None = None

    def __repr__(self) -> str:
        return (
            f"CcxtStream({self.exchange_id!r}, symbols={self.symbols}, channels={self.channels}, level={self.level!r})"
        )

    # -- control ------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask a running stream to flush and exit (safe from a signal handler or another task)."""
        if self._stop is not None:
            self._stop.set()

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every subscription has been started."""
        while self._ready is None:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def run(self) -> dict:
        """Stream until cancelled or stopped; always flush, close and report. Returns the report."""
        self._stop, self._ready = asyncio.Event(), asyncio.Event()
        self.started_at = time.time()
        loop = asyncio.get_running_loop()
        installed = self._install_signals(loop)
        tasks: list[asyncio.Task] = []
        audit: AuditLog | None = None
        failure: BaseException | None = None
        try:
            entities = await asyncio.to_thread(resolve_symbols, self.exchange_id, self.symbols)
            self.pro = ProClient(self.exchange_id, self.options, self.cache_limit, private=bool(self.private))
            if self.private and not self.pro.has_credentials:
                raise ConfigError(
                    f"private channels {self.private} need {self.exchange_id} credentials "
                    f"(ZVT_CCXT_{self.exchange_id.upper()}_API_KEY/_SECRET or the config file)"
                )
            audit = AuditLog(self.exchange_id, bool(self.private) and self.pro.has_credentials, provenance.current())
            await audit.record("session_start", symbols=self.symbols, detail=f"channels={','.join(self.channels)}")
            await self.pro.exchange.load_markets()
            if self.freeze_collector:
                gc.freeze()
            # the source of the whole run (live, replay, simulator), kept with the windows of what it stores
            source = provenance.current()
            self.writer = StreamWriter(self.max_pending_rows, flush_interval=self.flush_interval, source=source,
                                       write_process=self.write_process)
            watchdog = StallWatchdog(floor_s=self.stall_after, factor=self.stall_factor)
            ctx = StreamContext(
                pro=self.pro,
                rest=lambda: get_client(self.exchange_id),
                writer=self.writer,
                metrics=self.metrics,
                watchdog=watchdog,
                entities=entities,
                level=self.level,
                write_trades="trades" in self.channels,
                book_depth=self.book_depth,
                snapshot_interval=self.snapshot_interval,
                funding_poll_interval=self.funding_poll_interval,
                backoff=self.backoff,
            )
            self.subscriptions = self._subscriptions(ctx)
            if not self.subscriptions:
                raise ZvtCcxtError(
                    f"nothing to stream: {self.exchange_id} offers none of {self.channels} for {self.symbols}"
                )
            if not provenance.is_synthetic(source):
                dropped = await asyncio.to_thread(replace_synthetic, self._series(entities))
                if dropped:
                    logger.info("%s stream: %d replayed or simulated windows discarded with their rows",
                                self.exchange_id, dropped)
            for sub in self.subscriptions:
                await audit.record(
                    "subscribe", channel=sub.channel, symbols=sub.symbols, private=isinstance(sub, PrivateSubscription)
                )
            tasks = [asyncio.ensure_future(sub.run()) for sub in self.subscriptions]
            every_subscription = asyncio.ensure_future(asyncio.wait(list(tasks)))  # all stopped: nothing to stream
            services = [
                asyncio.ensure_future(self.writer.run()),
                asyncio.ensure_future(watchdog.run()),
                asyncio.ensure_future(self._tick()),
                asyncio.ensure_future(self._log_metrics()),
            ]
            if self.shard is not None:
                services.append(asyncio.ensure_future(self._publish_shard()))
            tasks += services
            self._ready.set()
            stop = asyncio.ensure_future(self._stop.wait())
            done, _ = await asyncio.wait([stop, every_subscription, *services], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            every_subscription.cancel()
            for task in done:
                if task is not stop and not task.cancelled() and task.exception() is not None:
                    failure = task.exception()
        finally:
            await self._shutdown(tasks, audit)
            if self.shard is not None:
                self._publish_shard_once(running=False)
            for sig in installed:
                loop.remove_signal_handler(sig)
        if failure is not None:
            raise failure
        return self.report()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[signal.Signals]:
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.stop)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
                pass
        return installed

    # -- building -----------------------------------------------------------------------------------

    def _subscriptions(self, ctx: StreamContext) -> list[Subscription]:
        exchange = ctx.pro.exchange
        has = exchange.has
        groups: dict[str, list[str]] = {}
        for symbol in self.symbols:
            groups.setdefault(_group_of(exchange.market(symbol)), []).append(symbol)
        timeframe = levels.LEVEL_TIMEFRAMES[self.level]
        native_ohlcv = (
            "ohlcv" in self.channels and bool(has.get("watchOHLCV")) and timeframe in (exchange.timeframes or {})
        )
        subs: list[Subscription] = []
        for group, symbols in groups.items():
            build = "ohlcv" in self.channels and not native_ohlcv
            if "trades" in self.channels or build:
                subs += [
                    TradesSubscription(ctx, part, name, build)
                    for name, part in _split(group, symbols, has.get("watchTradesForSymbols"))
                ]
            if native_ohlcv:
                subs += [
                    OhlcvSubscription(ctx, part, name)
                    for name, part in _split(group, symbols, has.get("watchOHLCVForSymbols"))
                ]
            if "orderbook" in self.channels:
                subs += [
                    BookSubscription(ctx, part, name)
                    for name, part in _split(group, symbols, has.get("watchOrderBookForSymbols"))
                ]
            if "funding" in self.channels and group != "spot":
                if has.get("watchFundingRates"):
                    subs.append(FundingSubscription(ctx, symbols, group))
                elif has.get("fetchFundingRate"):
                    subs.append(FundingPoller(ctx, symbols, f"{group} (rest)"))
                else:
                    logger.warning("%s offers no funding rates: funding skipped", self.exchange_id)
        subs += [PrivateSubscription(ctx, channel) for channel in self.private]
        return subs

    def _series(self, entities: dict) -> list:
        """``(table, entity id)`` of every series this stream may write."""
        tables = []
        if "trades" in self.channels:
            tables.append(lambda entity: TRADES_TABLE)
        if "ohlcv" in self.channels:
            tables.append(lambda entity: kdata_table(entity.entity_type, self.level))
        if "orderbook" in self.channels:
            tables.append(lambda entity: BOOKS_TABLE)
        if "funding" in self.channels:
            tables.append(lambda entity: FUNDING_TABLE)
        series = [(table(entity), entity.entity_id) for entity in entities.values() for table in tables]
        account = account_entity(self.exchange_id)
        return series + [(PRIVATE_TABLES[channel], account) for channel in self.private]

    # -- background ---------------------------------------------------------------------------------

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.snapshot_interval))
            for sub in self.subscriptions:
                await sub.tick()

    async def _log_metrics(self) -> None:
        while True:
            await asyncio.sleep(self.metrics_log_interval)
            logger.info("%s stream: %s", self.exchange_id, self.metrics.log_line())

    async def _publish_shard(self) -> None:
        while True:
            self._publish_shard_once(running=True)
            await asyncio.sleep(self.shard_publish_interval)

    def _publish_shard_once(self, running: bool) -> None:
        try:
            publish(self, self.shard_status_dir, running=running)
        except OSError as error:  # the status view is a convenience: it must never stop a stream
            logger.warning("%s shard %s: status not published: %s", self.exchange_id, self.shard, error)

    async def _shutdown(self, tasks: list[asyncio.Task], audit: AuditLog | None) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        background = list(self.subscriptions[0].ctx.background) if self.subscriptions else []
        if background:
            await asyncio.wait(background, timeout=10)
            for task in background:
                task.cancel()
        if self.writer is not None:
            try:
                await self.writer.flush(attempts=5)
            except ZvtCcxtError as error:
                logger.error(
                    "%s stream: final flush failed, %d rows dropped: %s", self.exchange_id, self.writer.abandon(), error
                )
            finally:  # the write process ends with the stream, however its last flush went
                self.writer.close()
        if self.pro is not None:
            await self.pro.close()
        self.stopped_at = time.time()
        if audit is not None:
            await audit.record("session_end", rows=self.metrics.total("rows"), detail=self.metrics.log_line())
        logger.info("%s stream stopped: %s", self.exchange_id, self.metrics.log_line())

    def report(self) -> dict:
        """What the stream did: per-subscription metrics, failures, totals."""
        return {
            "exchange": self.exchange_id,
            "symbols": self.symbols,
            "channels": self.channels,
            "level": self.level,
            "seconds": None if self.started_at is None else (self.stopped_at or time.time()) - self.started_at,
            "rows": self.metrics.total("rows"),
            "frames": self.pro.frames if self.pro else 0,
            "failed": {s.name: s.failed for s in self.subscriptions if s.failed},
            "subscriptions": self.metrics.snapshot(),
        }


def _split(group: str, symbols: list[str], multiplexed: object) -> list[tuple[str, list[str]]]:
    """One subscription for the group where the exchange multiplexes symbols, else one per symbol."""
    if multiplexed or len(symbols) == 1:
        return [(group, symbols)]
    return [(f"{group} {s}", [s]) for s in symbols]
