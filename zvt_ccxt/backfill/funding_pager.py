"""Paging through a perpetual's funding rate history, with the event before the range as context.

The funding interval of an event is the time since the previous one, so each range is fetched together
with the event just before it (``Batch.context``). Chosen by the exchange profile's ``funding_paging``:

- ``forward`` (binance, and the default): windows from ``since`` with ``until``, each short enough
  that it cannot hold more than one page (funding is at most hourly);
- ``backward`` (okx, bybit): newest first, walking back from the end with the exchange's cursor
  (``funding_cursor_param``) until an event older than the range (the context) or the oldest one served
  comes back.
"""

from __future__ import annotations

from collections.abc import Iterator

from zvt_ccxt import levels
from zvt_ccxt.backfill.history import Batch, Fetcher, guarded, inside, timestamp, window
from zvt_ccxt.exchange.client import ExchangeClient
from zvt_ccxt.exchange.profiles import ExchangeProfile, needed, profile_for


class FundingPager:
    def __init__(self, client: ExchangeClient, market: dict, limit: int) -> None:
        self.client = client
        self.symbol = str(market["symbol"])
        self.limit = int(limit)
        self.fetch = Fetcher(client, "fetch_funding_rate_history", self.symbol)
        self._low = self._high = 0

    @property
    def requests(self) -> int:
        return self.fetch.requests

    def pages(self, start_ms: int, end_ms: int) -> Iterator[Batch]:
        self._low, self._high = start_ms, end_ms
        return guarded(self._walk(start_ms, end_ms), lambda: (self._low, self._high))

    def first_event_ms(self) -> int | None:
        """The oldest funding event the exchange serves, for a first run with no start and no listing date."""
        rows = self.fetch(0, self.limit)
        return timestamp(rows[0]) if rows else None

    def _walk(self, start_ms: int, end_ms: int) -> Iterator[Batch]:
        raise NotImplementedError


class ForwardFundingPager(FundingPager):
    """``since`` + ``until`` windows of ``limit`` hours: never more than one page each."""

    def _walk(self, start_ms: int, end_ms: int) -> Iterator[Batch]:
        # ``limit`` hours back hold at most one page of events, so the last one is the event before the range
        span = self.limit * levels.HOUR_MS
        before = self.fetch(max(0, start_ms - span), self.limit, params={"until": start_ms - 1})
        context = before[-1:]
        cursor = start_ms
        while cursor < end_ms:
            high = min(end_ms, cursor + span)
            rows = inside(self.fetch(cursor, self.limit, params={"until": high - 1}), cursor, high)
            if len(rows) >= self.limit:
                high = timestamp(rows[-1]) + 1
            yield Batch(window(cursor, high, rows), rows, context)
            context = rows[-1:] or context
            cursor = self._low = high


class BackwardFundingPager(FundingPager):
    """Newest first from a cursor: ``after`` (okx, exclusive) or ``endTime`` (bybit, inclusive)."""

    def __init__(self, client: ExchangeClient, market: dict, limit: int, profile: ExchangeProfile) -> None:
        super().__init__(client, market, limit)
        self.cursor_param = needed(profile.funding_cursor_param, client.exchange_id, "funding_cursor_param")
        self.inclusive = profile.funding_cursor_inclusive

    def _older_than(self, cursor: int) -> list[dict]:
        # ``cursor`` is the exclusive end of what is wanted
        value = cursor - 1 if self.inclusive else cursor
        return self.fetch(None, self.limit, params={self.cursor_param: value})

    def _walk(self, start_ms: int, end_ms: int) -> Iterator[Batch]:
        high = end_ms
        while True:
            rows = self._older_than(high)
            kept = inside(rows, start_ms, high)
            if not rows or timestamp(rows[0]) < start_ms or len(rows) < self.limit:
                older = [r for r in rows if timestamp(r) < start_ms]
                yield Batch(window(start_ms, high, kept), kept, older[-1:])
                self._high = start_ms
                return
            oldest = timestamp(rows[0])
            yield Batch(window(oldest, high, kept), kept)
            high = self._high = oldest


def funding_pager(client: ExchangeClient, market: dict) -> FundingPager:
    profile = profile_for(client.exchange_id)
    if profile.funding_paging == "forward":
        return ForwardFundingPager(client, market, profile.funding_limit)
    if profile.funding_paging == "backward":
        return BackwardFundingPager(client, market, profile.funding_limit, profile)
    raise ValueError(f"{client.exchange_id}: unknown funding paging {profile.funding_paging!r}")
