"""Records OHLCV bars of any level for spot pairs and perpetuals: ``CryptoPair1hKdata.record_data(...)``.

It fetches and maps; paging and validation live in ``zvt_ccxt.backfill``, coverage, reads and writes in
``zvt_ccxt.store``. Only closed bars are stored, so no forming candle is ever left stale; levels an
exchange lacks are aggregated from its largest native divisor and flagged ``derived``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from zvt_ccxt import clock, levels, store
from zvt_ccxt.backfill import coverage
from zvt_ccxt.backfill.candles import Candles, aggregate, change_pct, concat, normalise
from zvt_ccxt.backfill.instruments import Instrument
from zvt_ccxt.backfill.pager import OhlcvPager, Page, prefetched
from zvt_ccxt.backfill.summary import SymbolResult
from zvt_ccxt.domain.coverage import EMPTY, FAILED, FETCHED
from zvt_ccxt.domain.kdata import KDATA_SCHEMAS
from zvt_ccxt.domain.meta import ENTITY_SCHEMAS
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.exchange.client import ExchangeClient, get_client
from zvt_ccxt.recorders.base import CcxtRecorder
from zvt_ccxt.store.behind import WriteBehind
from zvt_ccxt.store.coverage import Window
from zvt_ccxt.store.dialect import Together
from zvt_ccxt.store.reads import StoredBar

logger = logging.getLogger(__name__)

#: bars written per statement (twenty 1,000-bar pages): the write thread waits for the GIL to start and to
#: finish each one (up to the interpreter's 5 ms switch interval while the fetching thread parses), so few
#: large writes keep it ahead of the fetching; the last one is written after the last page, so not too large
WRITE_BATCH_ROWS = 20_000
#: symbols recorded at once unless ``workers=`` says otherwise. One keeps requests in a predictable order;
#: many symbols over a 50-100 ms round trip need about 8 to use a typical limit (binance: 50 klines a second)
DEFAULT_WORKERS = 1

class CcxtKdataRecorder(CcxtRecorder):
    """Backfills closed bars from ``start_timestamp`` (else the listing, else the first bar served) until now.

    Later runs fetch only what coverage says is missing: new bars, failed windows, and any earlier range
    a new ``start_timestamp`` asks for. One failing symbol does not stop the others. Options: ``level``
    (the schema's by default), ``progress`` (called with (result, ms of the range done, ms to do) when a
    symbol starts and after every page), ``workers`` (symbols recorded at once by threads of a process; they
    share each exchange's rate limiter, so more only fills its budget), ``processes`` (the symbols split over that
    many forked processes, ``workers`` threads each, one rate limit for all: parsing and writing on every core).
    """

    #: entity ids naming nothing stored record nothing, as they always have for klines
    strict_ids = False
    reports_pages = True

    def configure(
        self,
        level: str | None = None,
        progress: Callable[[SymbolResult, int, int], None] | None = None,
        workers: int = DEFAULT_WORKERS,
        processes: int = 1,
        **_zvt_arguments: object,
    ) -> None:
        self.workers = max(1, int(workers))
        self.processes = max(1, int(processes))
        self.progress = progress
        self.level_value = levels.level_value(level or self.data_schema.level_value)

    @property
    def entity_type(self) -> str:
        return self.table.split("_")[0]

    # -- one symbol ---------------------------------------------------------------------------------------

    def record_instrument(self, instrument: Instrument, result: SymbolResult) -> None:
        """Record one symbol; an error of any kind leaves what it did not fetch ``failed`` in the ledger."""
        requested: list[int | None] = [self.start_ms, None]  # the range asked for, as far as it is known
        try:
            self._record_instrument(instrument, result, requested)
        except Exception as error:
            start, end = self._asked(instrument, *requested)
            result.windows[FAILED] += coverage.fail_missing(self.table, instrument.entity_id, start, end, error)
            raise
        except KeyboardInterrupt:  # stopped: what was asked for and not fetched stays requested, interrupted
            coverage.interrupt_missing(self.table, instrument.entity_id, *self._asked(instrument, *requested))
            raise

    def _asked(self, instrument: Instrument, start: int | None, end: int | None) -> tuple[int, int]:
        """The range a run asked for, completed where it stopped before knowing it: to the last closed bar, from
        where earlier runs began (else that bar)."""
        end = end if end is not None else levels.bar_start(clock.now_ms(), self.level_value)
        if start is None:
            previous = store.coverage.windows(self.table, instrument.entity_id)
            start = min((w.start_ms for w in previous), default=end - levels.nominal_ms(self.level_value))
        return levels.bar_start(start, self.level_value), end

    def interrupted_range(self, instrument: Instrument) -> tuple[int, int] | None:
        if self.start_ms is None or self.repair_only:
            return None
        end = self._end_ms()
        start = self.start_ms
        listed = store.entities.listed_ms(ENTITY_SCHEMAS[instrument.entity_type], instrument.entity_id)
        if listed:  # as a run that began would: nothing is asked of the time before listing
            start = max(start, listed)
        return levels.bar_start(start, self.level_value), end

    def _record_instrument(self, instrument: Instrument, result: SymbolResult, requested: list[int | None]) -> None:
        client = get_client(instrument.exchange)
        client.require("fetchOHLCV")
        plan = levels.plan_timeframe(client.exchange_id, client.timeframes, self.level_value)
        market = client.market(instrument.symbol)
        level = self.level_value
        table = self.table

        end = self._end_ms()
        windows = coverage.drop_synthetic(
            table, instrument.entity_id, store.coverage.windows(table, instrument.entity_id), self.data_schema
        )
        forming = coverage.partial_key(table)  # a synthetic stream's forming bars go too: no REST run rewrites them
        coverage.drop_synthetic(forming, instrument.entity_id, store.coverage.windows(forming, instrument.entity_id),
                                self.data_schema, {"closed": False})
        if self.repair_only:
            end = min(end, max((w.end_ms for w in windows), default=0))
        requested[1] = end
        start = self._start_ms(client, instrument, market, plan.source_level, windows)
        requested[0] = start if start is not None else requested[0]
        if start is None:
            result.windows["empty"] += 1
            store.coverage.save(table, instrument.entity_id, [coverage.Window(0, end, EMPTY)])
            return

        pager = OhlcvPager(client, instrument.symbol, plan.source_level, client.ohlcv_limit(market))
        writer = _KdataWriter(self, instrument, market, plan, result)
        # pages fetched ahead: enough to keep fetching through the write of a whole batch
        ahead = 2 * -(-WRITE_BATCH_ROWS // pager.limit) + 1

        def pages(source: Iterator[Page]) -> Iterator[tuple[Page, Candles | None]]:
            return prefetched(source, ahead, transform=writer.prepare)

        gaps = coverage.missing_ranges(start, end, windows)
        total, done = sum(e - s for s, e in gaps), 0
        self._report(result, done, total)
        try:
            for gap_start, gap_end in gaps:
                writer.begin(levels.bar_start(gap_start, level), gap_end)
                for page, candles in pages(pager.pages(levels.bar_start(gap_start, level), gap_end)):
                    writer.add(page, candles)
                    self._report(result, done + min(page.window.end_ms, gap_end) - gap_start, total)
                writer.finish()
                done += gap_end - gap_start
        except BaseException:
            # stopped (an interrupt between pages, or an error): what was fetched is stored, then its windows;
            # the gap is finished next run. A failed write already stops every later one.
            with contextlib.suppress(Exception):
                writer.write()
            raise
        finally:
            result.requests += pager.requests
            writer.close()  # what was handed to the write thread is stored (or its error raised) before returning

    def _end_ms(self) -> int:
        """Where this run ends: the open time of the forming bar (closed bars only), or the user's end if sooner."""
        end = levels.bar_start(clock.now_ms(), self.level_value)
        return end if self.end_ms is None else min(end, levels.bar_start(self.end_ms, self.level_value))

    def bulk_loading(self) -> contextlib.AbstractContextManager:
        def count_rows() -> int:
            return sum(self._bars_to_fetch(instrument) for instrument in self.instruments)

        try:
            return store.writer.bulk_loading(self.data_schema, len(self.instruments), count_rows)
        except Exception as error:  # each symbol meets the same error in its own recording, and reports it there
            logger.debug("the store is not prepared for the bars of this run: %s", error)
            return contextlib.nullcontext()

    def _bars_to_fetch(self, instrument: Instrument) -> int:
        """About how many bars this run writes for ``instrument``: the range it asks for, as far as known before
        fetching (0 when only the exchange can tell where it starts), less what the ledger covers."""
        windows = store.coverage.windows(self.table, instrument.entity_id)
        end = self._end_ms()
        start = self.start_ms if self.start_ms is not None else min((w.start_ms for w in windows), default=None)
        if self.repair_only:
            end = min(end, max((w.end_ms for w in windows), default=0))
        if start is None:
            return 0
        missing = coverage.missing_ranges(levels.bar_start(start, self.level_value), end, windows)
        return sum(e - s for s, e in missing) // levels.nominal_ms(self.level_value)

    def _report(self, result: SymbolResult, done_ms: int, total_ms: int) -> None:
        if self.progress is not None:
            self.progress(result, max(0, done_ms), total_ms)

    def _start_ms(
        self, client: ExchangeClient, instrument: Instrument, market: dict, source_level: str, windows: list[Window]
    ) -> int | None:
        """Where the requested range begins: the user's start, else what is covered, else listing, else probed."""
        listed = market.get("created") if isinstance(market.get("created"), int) else None
        if self.start_ms is not None:
            start = self.start_ms
            if listed:
                start = max(start, levels.bar_start(listed, self.level_value))
            return levels.bar_start(start, self.level_value)
        if windows:
            return min(w.start_ms for w in windows)
        if listed:
            return levels.bar_start(listed, self.level_value)
        first = OhlcvPager(client, instrument.symbol, source_level, client.ohlcv_limit(market)).first_bar_ms()
        return None if first is None else levels.bar_start(first, self.level_value)


class _KdataWriter:
    """Turns pages into stored bars and coverage, aggregating derived levels only over complete target bars.

    ``change_pct`` is computed before anything is written: from the stored bar before a gap, then from bar to
    bar; and the stored bar right after a gap, whose previous close the gap's bars may change, gets its new
    value written with them, computed from what was read before the gap was walked."""

    def __init__(
        self,
        recorder: CcxtKdataRecorder,
        instrument: Instrument,
        market: dict,
        plan: levels.TimeframePlan,
        result: SymbolResult,
    ) -> None:
        self.schema = recorder.data_schema
        self.table = self.schema.__tablename__
        self.instrument = instrument
        self.plan = plan
        self.level = plan.level
        self.inverse = bool(market.get("inverse"))
        self.contract_size = market.get("contractSize")
        self.result = result
        self.day_ids = levels.nominal_ms(self.level) >= levels.DAY_MS
        self.pending: list[Candles] = []
        self.pending_error: str | None = None
        self.window_start = 0
        self.previous_close: float | None = None
        #: (open time, close) of the last bar stored in this gap
        self.last_stored: tuple[int, float] | None = None
        #: the stored bar after the gap, and the stored bar before that one, read before the gap is walked
        self.following: StoredBar | None = None
        self.before_following: StoredBar | None = None
        # bars and windows not written yet: a batch of pages and the windows it completes go in one transaction
        self.unwritten: list[tuple[Candles, np.ndarray]] = []
        self.unwritten_rows = 0
        self.unsaved: list[coverage.Window] = []
        # batches are encoded here and written by a thread of their own, in order
        self.behind = WriteBehind()

    def begin(self, start_ms: int, end_ms: int) -> None:
        """Start a gap ``[start_ms, end_ms)``: everything earlier is stored first, then the neighbours are read."""
        self.finish()
        self.window_start = start_ms
        schema, entity_id = self.schema, self.instrument.entity_id
        before = store.reads.bar_before(schema, entity_id, start_ms)
        self.previous_close = None if before is None else before.close
        self.last_stored = None
        self.following = store.reads.bar_from(schema, entity_id, end_ms)
        self.before_following = (
            None if self.following is None else store.reads.bar_before(schema, entity_id, self.following.ts_ms)
        )

    def prepare(self, page: Page) -> tuple[Page, Candles | None]:
        """The page and its validated bars (None for a window without rows). Runs in the prefetching thread, so
        validation overlaps the writes of earlier pages and the rows' Python lists die where they were made."""
        if page.window.status != FETCHED:
            return page, None
        candles = normalise(
            page.rows,
            self.plan.source_level,
            inverse=self.inverse,
            contract_size=self.contract_size,
            context=f"{self.instrument.exchange} {self.instrument.symbol} {self.plan.timeframe}",
        )
        return replace(page, rows=[]), candles

    def add(self, page: Page, candles: Candles | None) -> None:
        """Store a prepared page's bars and its coverage; rejected rows leave their window failed, for repair."""
        window = page.window
        if candles is not None:  # the window was fetched
            self.result.rejected += len(candles.rejected)
            if candles.rejected:
                reason = f"{len(candles.rejected)} rows rejected, first: {candles.rejected[0][1]}"
                window = replace(window, status=FAILED, error=reason)
            if self.plan.derived:
                self.pending.append(candles)
                self.pending_error = self.pending_error or window.error
                self._flush(window.end_ms)
            else:
                self._store(candles)
                self._cover(window)
        else:
            # An empty window completes the bars before its end; a failed one only those before its start.
            self._flush(window.end_ms if window.status == EMPTY else window.start_ms)
            self._cover(window)
        self.result.windows[window.status] += 1

    def finish(self) -> None:
        """End the gap: hand over what is kept, the bar after the gap relinked before the gap's last windows (so
        a run cut short in between fetches them again), and wait until it is stored (the caller reads next)."""
        self.write(link_following=True)
        self.pending = []
        self.pending_error = None
        self.behind.flush()

    def close(self) -> None:
        """Wait for the writes handed over (raising a failed one's error) and stop their thread."""
        self.behind.close()

    def write(self, link_following: bool = False) -> None:
        """Queue the bars kept so far and the windows they complete for one transaction (the bar after the gap
        relinked first: cut in between, the gap's windows are not marked, so they are fetched again)."""
        if link_following:
            self._link_following()
        ledger = None
        if self.unsaved:
            windows, self.unsaved = self.unsaved, []
            ledger = store.coverage.entries(self.table, self.instrument.entity_id, windows)
        if self.unwritten:
            candles = concat([c for c, _ in self.unwritten])
            pct = np.concatenate([p for _, p in self.unwritten])
            self.unwritten, self.unwritten_rows = [], 0
            self._upsert(candles, pct, ledger)
        elif ledger is not None:
            self.behind.submit(functools.partial(store.writer.upsert, ledger.schema, ledger.columns, ledger.rows))

    def _link_following(self) -> None:
        """Queue the new ``change_pct`` of the stored bar after the gap, if the gap's bars changed it."""
        following, self.following = self.following, None
        if following is None or following.close is None:
            return
        before = self.before_following
        previous: float | None
        if self.last_stored is not None and (before is None or self.last_stored[0] >= before.ts_ms):
            previous = self.last_stored[1]  # the gap's last bar is now the one before it
        else:
            previous = None if before is None else before.close
        value = float(change_pct(np.array([following.close]), previous)[0])
        pct = value if np.isfinite(value) else None
        if pct != following.change_pct:
            row = (following.id, pct)
            self.behind.submit(functools.partial(store.writer.upsert, self.schema, ("id", "change_pct"), [row]))

    def _cover(self, window: coverage.Window) -> None:
        self.unsaved.append(window)
        if self.unwritten_rows >= WRITE_BATCH_ROWS or window.status != FETCHED:
            self.write()

    def _flush(self, covered_to: int) -> None:
        """Derived levels: store the target bars that end by ``covered_to``; keep the rest for the next page."""
        if not self.plan.derived:
            return
        complete_to = levels.bar_start(covered_to, self.level)
        if complete_to <= self.window_start:
            return
        source = concat(self.pending)
        ready = source.ts < complete_to
        self.pending = [source.slice(~ready)]
        self._store(aggregate(source.slice(ready), self.level))
        status = FAILED if self.pending_error else FETCHED
        window = coverage.Window(self.window_start, complete_to, status, int(ready.sum()), self.pending_error)
        self._cover(window)
        self.window_start = complete_to
        self.pending_error = None

    def _store(self, candles: Candles) -> None:
        if not len(candles):
            return
        pct = change_pct(candles.close, self.previous_close)
        self.previous_close = float(candles.close[-1])
        self.last_stored = (int(candles.ts[-1]), self.previous_close)
        self.unwritten.append((candles, pct))
        self.unwritten_rows += len(candles)
        self.result.rows += len(candles)  # a failed write fails the symbol, naming the error
        self.result.extend(int(candles.ts[0]), int(candles.ts[-1]))

    def _upsert(self, candles: Candles, pct: np.ndarray, ledger: Together | None) -> None:
        instrument = self.instrument
        values = {
            "open": candles.open,
            "close": candles.close,
            "high": candles.high,
            "low": candles.low,
            "volume": candles.volume,
            "turnover": candles.turnover,
            "change_pct": pct,
            "turnover_estimated": candles.turnover_estimated,
        }
        constants = {
            "entity_id": instrument.entity_id,
            "provider": PROVIDER,
            "code": instrument.code,
            "name": instrument.symbol,
            "level": self.level,
            "timeframe": self.plan.timeframe,
            "derived": self.plan.derived,
            "closed": True,
        }
        entity_id = instrument.entity_id
        write = store.writer.prepare_bars(
            self.schema, candles.ts, values, constants, entity_id, self.day_ids, together=ledger
        )
        self.behind.submit(write)


for _schema in KDATA_SCHEMAS.values():
    _schema.register_recorder_cls(PROVIDER, CcxtKdataRecorder)
