"""What the trade, funding, open interest and order book recorders share beyond ``CcxtRecorder``: capability
checks and the coverage-driven walk over missing ranges.

A run asks coverage (``ccxt_coverage``, keyed by data table and entity) what is missing between the start
and the end, pages only that with the exchange's cursor, writes each batch and its window as it comes, and
so resumes exactly where the last run stopped, repairs failed windows, and fills an earlier start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from zvt_ccxt import interrupts, store
from zvt_ccxt.backfill import coverage
from zvt_ccxt.backfill.history import Batch
from zvt_ccxt.backfill.instruments import Instrument
from zvt_ccxt.backfill.summary import SymbolResult
from zvt_ccxt.domain.coverage import FAILED
from zvt_ccxt.exchange import capabilities
from zvt_ccxt.recorders.base import CcxtRecorder
from zvt_ccxt.store.dialect import Together

logger = logging.getLogger(__name__)
#: stores a batch's rows with ``together=mark(rows rejected)``: the batch's ledger rows (None: no window)
Write = Callable[[Batch, Callable[[int], Together | None]], None]


class MarketDataRecorder(CcxtRecorder):
    """Base of the recorders of trades, funding, open interest and order books: capability checks and the walk
    over what coverage says is missing."""

    #: key of the data type in ``zvt_ccxt.exchange.capabilities``
    data_type: ClassVar[str] = ""
    reports_pages = True

    def __init__(self, *args: Any, progress: Callable[[SymbolResult, int, int], None] | None = None,
                 **options: Any) -> None:
        #: called with (result, ms of the range done, ms to do) after every batch stored
        self.progress = progress
        super().__init__(*args, **options)

    @property
    def mode(self) -> str:
        """``historical`` or ``recent``: the capability this run needs."""
        return "historical"

    def check_exchange(self, exchange_id: str) -> None:
        capabilities.require(exchange_id, self.data_type, self.mode)

    def walk(
        self,
        key: str,
        instrument: Instrument,
        result: SymbolResult,
        start_ms: int | None,
        end_ms: int,
        pages: Callable[[int, int], Iterator[Batch]],
        write: Write,
    ) -> None:
        """Page every range coverage (under ``key``) says is missing in ``[start, end)`` and store it.

        ``start_ms`` None means: from where the stored coverage begins (nothing stored: nothing to do).
        ``write`` stores a batch's rows together with its window (``save``), ``failed`` if any row was rejected,
        so a later run fetches it again.
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
        total = max(0, end_ms - start_ms)
        try:
            for low, high in coverage.missing_ranges(start_ms, end_ms, windows):
                # a stop (SIGINT/SIGTERM) ends the walk between batches: each saved batch has its rows and window
                for batch in interrupts.interruptible(pages(low, high)):
                    self.save(key, instrument, result, batch, write)
                    if self.progress is not None:
                        self.progress(result, min(total, max(0, batch.window.end_ms - start_ms)), total)
        except Exception as error:  # whatever it is, what was not fetched is failed in the ledger
            result.windows[FAILED] += coverage.fail_missing(key, instrument.entity_id, start_ms, end_ms, error)
            raise
        except KeyboardInterrupt:  # stopped: what was asked for and not fetched stays requested, interrupted
            coverage.interrupt_missing(key, instrument.entity_id, start_ms, end_ms)
            raise

    def save(
        self, key: str, instrument: Instrument, result: SymbolResult, batch: Batch, write: Write
    ) -> None:
        """Store a batch's rows and its window (failed when rows were refused) in one transaction, and count both.

        ``write(batch, mark)`` stores the rows with ``together=mark(rejected)``: the ledger rows of the window."""
        outcome: list[coverage.Window] = []

        def mark(rejected: int) -> Together | None:
            window = batch.window
            if rejected:
                result.rejected += rejected
                error = f"{rejected} rows rejected"
                window = coverage.Window(window.start_ms, window.end_ms, FAILED, window.rows, error)
            outcome.append(window)
            return store.coverage.entries(key, instrument.entity_id, [window]) if _spans(window) else None

        if batch.rows or batch.context:
            write(batch, mark)
        if not outcome:
            ledger = mark(0)
            if ledger is not None:
                store.writer.upsert(ledger.schema, ledger.columns, ledger.rows)
        window = outcome[0]
        if _spans(window):
            result.windows[window.status] += 1
        if batch.rows:
            stamps = [int(r["timestamp"]) for r in batch.rows]
            result.extend(min(stamps), max(stamps))


def _spans(window: coverage.Window) -> bool:
    return window.end_ms > window.start_ms
