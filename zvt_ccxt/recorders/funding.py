"""Records the funding rate history of perpetuals into ``CryptoFunding``.

``CryptoFunding.record_data(provider="ccxt", exchange="okx", codes=["btcusdt"])`` stores every settled
funding event the exchange serves (from ``start_timestamp`` if given, else from the listing), and later runs
only the new ones. ``funding_interval_hours`` is the time since the previous event, so 1h, 4h and 8h
schedules and any change between them over a symbol's history come out as they happened; the first event
ever has none. Intervals are computed before they are written: a range's events from the event before it
(``Batch.context``), and the stored event right after a range, which had none, from the range's newest.
Mark prices are kept where the exchange gives them (binance).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from zvt_ccxt import levels, store
from zvt_ccxt.backfill.funding_pager import ForwardFundingPager, FundingPager, funding_pager
from zvt_ccxt.backfill.history import PAGING_ERRORS, Batch, timestamp
from zvt_ccxt.backfill.instruments import PERP, Instrument
from zvt_ccxt.backfill.summary import SymbolResult
from zvt_ccxt.domain.market_data import CryptoFunding
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.exchange.client import get_client
from zvt_ccxt.exchange.profiles import profile_for
from zvt_ccxt.recorders.market_data import MarketDataRecorder
from zvt_ccxt.store.dialect import Together
from zvt_ccxt.store.rows import FUNDING_COLUMNS, funding_row
from zvt_ccxt.store.writer import upsert

TABLE = CryptoFunding.__tablename__
_INTERVAL = "_zvt_ccxt_interval_hours"


def with_intervals(batches: list[Batch]) -> None:
    """Give each row of ``batches`` the hours since the event before it (context rows included)."""
    events = {timestamp(r): r for b in batches for r in (*b.context, *b.rows)}
    previous = None
    for ts in sorted(events):
        events[ts][_INTERVAL] = None if previous is None else (ts - previous) / levels.HOUR_MS
        previous = ts
    for batch in batches:
        for row in batch.rows:
            row[_INTERVAL] = events[timestamp(row)].get(_INTERVAL)


class CcxtFundingRecorder(MarketDataRecorder):
    """Funding events through the exchange's own cursor (see ``zvt_ccxt.backfill.funding_pager``)."""

    data_type = "funding"
    default_entity_type = PERP
    perpetuals_only = "funding rates"

    def record_instrument(self, instrument: Instrument, result: SymbolResult) -> None:
        client = get_client(instrument.exchange)
        market = client.market(instrument.symbol)
        pager = funding_pager(client, market)
        end = self.end_of(levels.bar_start(self.now_ms(), "1m"))
        mark_field = profile_for(instrument.exchange).funding_info_fields.get("mark_price")
        try:
            start = self.start_ms
            if start is None and not store.coverage.windows(TABLE, instrument.entity_id):
                start = self._first_start(pager, market)
                if start is None:
                    return
            self.walk(
                TABLE,
                instrument,
                result,
                start,
                end,
                lambda low, high: self._pages(pager, instrument, low, high),
                lambda batch, mark: self._store(instrument, result, batch, mark_field, mark),
            )
        finally:
            result.requests += pager.requests

    @staticmethod
    def _first_start(pager: FundingPager, market: dict) -> int | None:
        listed = market.get("created")
        if isinstance(listed, int) and listed > 0:
            return listed
        return pager.first_event_ms() if isinstance(pager, ForwardFundingPager) else 0

    def _pages(self, pager: FundingPager, instrument: Instrument, low: int, high: int) -> Iterator[Batch]:
        """A whole range at once: an event's interval may need the next (older) page."""
        batches: list[Batch] = []
        error = None
        try:
            batches.extend(pager.pages(low, high))
        except PAGING_ERRORS as failure:
            error = failure
        with_intervals(batches)
        completed = self._following_interval(instrument, high, batches)
        yield from batches
        if error is not None:
            raise error
        if completed is not None:
            upsert(CryptoFunding, ("id", "funding_interval_hours"), [completed])

    @staticmethod
    def _following_interval(instrument: Instrument, high: int, batches: list[Batch]) -> tuple[str, float] | None:
        """``(id, hours since the range's newest event)`` for the stored event right after a range, if it has no
        interval yet; read before the range is written."""
        newest = max((timestamp(r) for b in batches for r in b.rows), default=None)
        if newest is None:
            return None
        following = store.reads.funding_from(instrument.entity_id, high)
        if following is None or following.funding_interval_hours is not None:
            return None
        return following.id, (following.ts_ms - newest) / levels.HOUR_MS

    def _store(self, instrument: Instrument, result: SymbolResult, batch: Batch, mark_field: str | None,
               mark: Callable[[int], Together | None]) -> None:
        rows = [
            funding_row(
                instrument,
                event,
                timestamp(event),
                event.get(_INTERVAL),
                settled=True,
                source="rest",
                mark_field=mark_field,
            )
            for event in batch.rows
        ]
        kept = [row for row in rows if row is not None]
        together = mark(len(batch.rows) - len(kept))
        result.rows += upsert(CryptoFunding, FUNDING_COLUMNS, kept, together=together)


CryptoFunding.register_recorder_cls(PROVIDER, CcxtFundingRecorder)
