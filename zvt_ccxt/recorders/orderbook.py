"""Records top-N order book snapshots into ``CryptoOrderbook``.

``CryptoOrderbook.record_data(provider="ccxt", exchange="bybit", codes=["btcusdt"], depth=20, snapshots=1,
interval_seconds=0)`` takes ``snapshots`` rounds of one snapshot per instrument, ``interval_seconds`` apart.
``bids``/``asks`` hold ``[[price, amount], ...]`` best first (JSON, read back as lists: ``book_arrays``
turns a query result into arrays); ``best_bid``, ``best_ask``, their sizes, ``spread``, ``mid`` and the
exchange's sequence number (``nonce``, where ccxt gives one) are columns. ``timestamp`` is the exchange's
time of the book, or the time it was fetched when the exchange gives none (binance spot).

Each snapshot is a window in the coverage ledger (``[timestamp, timestamp + 1 ms)``, with its source), and a
snapshot that could not be taken, whatever the error, a ``failed`` one at the time it was asked for; a live run
discards replayed or simulated snapshots first, as the other recorders do.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd

from zvt_ccxt import interrupts, store
from zvt_ccxt.backfill import coverage
from zvt_ccxt.backfill.instruments import Instrument
from zvt_ccxt.backfill.summary import RecordSummary, SymbolResult
from zvt_ccxt.domain.coverage import FAILED, FETCHED
from zvt_ccxt.domain.market_data import CryptoOrderbook
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.errors import DataValidationError, ZvtCcxtError
from zvt_ccxt.exchange.client import get_client
from zvt_ccxt.exchange.profiles import by_market_type, profile_for
from zvt_ccxt.recorders.market_data import MarketDataRecorder
from zvt_ccxt.store.rows import BOOK_COLUMNS, book_levels, book_row
from zvt_ccxt.store.writer import upsert

logger = logging.getLogger(__name__)

DEFAULT_DEPTH = 20


def request_depth(exchange_id: str, market_type: str | None, depth: int) -> int:
    """What to ask for: the smallest depth the exchange accepts that holds ``depth``, within its maximum."""
    profile = profile_for(exchange_id)
    allowed = by_market_type(profile.orderbook_depths, market_type)
    deepest = by_market_type(profile.orderbook_max, market_type)
    if allowed:
        return next((d for d in sorted(allowed) if d >= depth), max(allowed))
    return min(depth, deepest) if deepest else depth


def snapshot_row(instrument: Instrument, book: dict, depth: int, fetched_ms: int) -> tuple:
    """One row for ``BOOK_COLUMNS`` from a ccxt order book; refuses malformed or crossed books."""
    bids = book_levels(book.get("bids") or [], depth, True, "bids")
    asks = book_levels(book.get("asks") or [], depth, False, "asks")
    stamp_ms = book.get("timestamp")
    ts_ms = int(stamp_ms) if isinstance(stamp_ms, int | float) and stamp_ms > 0 else fetched_ms
    return book_row(instrument, bids, asks, book.get("nonce"), ts_ms, "rest")


def book_arrays(frame: pd.DataFrame, side: str = "bids") -> np.ndarray:
    """``(snapshots, depth, 2)`` float array of one side of queried snapshots (rows padded with NaN)."""
    books = [json.loads(v) if isinstance(v, str) else (v or []) for v in frame[side]]
    depth = max((len(b) for b in books), default=0)
    out = np.full((len(books), depth, 2), np.nan)
    for i, levels in enumerate(books):
        if levels:
            out[i, : len(levels)] = np.asarray(levels, dtype=float)
    return out


class CcxtOrderbookRecorder(MarketDataRecorder):
    """Order book snapshots: the current book only, since no exchange serves past ones over REST."""

    data_type = "orderbook"
    #: snapshots of the current book, not pages of history
    reports_pages = False

    def configure(
        self,
        depth: int = DEFAULT_DEPTH,
        snapshots: int = 1,
        interval_seconds: float = 0.0,
        **_zvt_arguments: Any,
    ) -> None:
        if int(depth) < 1 or int(snapshots) < 1 or float(interval_seconds) < 0:
            raise ZvtCcxtError(
                f"depth={depth}, snapshots={snapshots}, interval_seconds={interval_seconds}: "
                "depth and snapshots must be at least 1, the interval not negative"
            )
        self.depth = int(depth)
        self.snapshots = int(snapshots)
        self.interval_seconds = float(interval_seconds)

    @property
    def mode(self) -> str:
        return "recent"

    def run(self) -> RecordSummary:
        summary = RecordSummary(self.table)
        results = [SymbolResult(i.entity_id, i.symbol) for i in self.instruments]
        summary.results.extend(results)
        with interrupts.handled():
            try:
                for instrument in self.instruments:  # synthetic snapshots never sit beside live ones
                    coverage.drop_synthetic(
                        self.table, instrument.entity_id, store.coverage.windows(self.table, instrument.entity_id),
                        CryptoOrderbook,
                    )
                for round_index in range(self.snapshots):
                    if round_index:
                        interrupts.sleep(self.interval_seconds)
                    for instrument, result in zip(self.instruments, results, strict=True):
                        asked_ms = self.now_ms()
                        try:
                            self._record_one(instrument, result)
                        except Exception as error:  # whatever it is, the ledger keeps the snapshot failed
                            text = str(error) if isinstance(error, ZvtCcxtError) else f"{type(error).__name__}: {error}"
                            result.error = text
                            result.windows[FAILED] += 1
                            failed = coverage.Window(asked_ms, asked_ms + 1, FAILED, 0, text)
                            store.coverage.save(self.table, instrument.entity_id, [failed])
                            logger.error("%s: %s", instrument.symbol, text)
                    interrupts.check()
            except KeyboardInterrupt:  # SIGINT/SIGTERM: the snapshots taken are stored; no symbol gets the rest
                for result in results:
                    result.interrupted = True
        logger.info("%s", summary)
        return summary

    def record_instrument(self, instrument: Instrument, result: SymbolResult) -> None:
        client = get_client(instrument.exchange)
        market = client.market(instrument.symbol)
        limit = request_depth(instrument.exchange, market.get("type"), self.depth)
        result.requests += 1
        with interrupts.waiting():  # a stop abandons this answer; the snapshots before it are stored
            book = client.call("fetch_order_book", instrument.symbol, limit, {}, symbol=instrument.symbol)
        try:
            row = snapshot_row(instrument, book, self.depth, self.now_ms())
        except DataValidationError as error:
            result.rejected += 1
            raise DataValidationError(f"{instrument.exchange} {instrument.symbol}: {error}") from None
        result.rows += upsert(CryptoOrderbook, BOOK_COLUMNS, [row])
        ts_ms = row[BOOK_COLUMNS.index("ts_ms")]
        store.coverage.save(self.table, instrument.entity_id, [coverage.Window(ts_ms, ts_ms + 1, FETCHED, 1)])
        result.windows[FETCHED] += 1
        result.extend(ts_ms, ts_ms)


CryptoOrderbook.register_recorder_cls(PROVIDER, CcxtOrderbookRecorder)
