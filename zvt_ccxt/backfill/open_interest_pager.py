"""Paging through open interest statistics at one period, chosen by the profile's ``open_interest_paging``:

- ``windows`` (binance, and the default): explicit ``since``/``until`` windows of ``limit`` periods, which
  no exchange can truncate whichever end it anchors a page at;
- ``lookback_windows`` (okx): windows no longer than what the period serves, walking back until one is empty;
- ``cursor`` (bybit): newest first over the whole range, following ``nextPageCursor``.

Exchanges keep only so much history (binance 30 days): the start of a range is clamped to it and the part
before is recorded ``empty``, with the reason, so it is not asked for again.
"""

from __future__ import annotations

from collections.abc import Iterator

from zvt_ccxt import clock, levels
from zvt_ccxt.backfill.coverage import Window
from zvt_ccxt.backfill.history import Batch, Fetcher, guarded, inside, timestamp, window
from zvt_ccxt.domain.coverage import EMPTY
from zvt_ccxt.exchange.client import ExchangeClient
from zvt_ccxt.exchange.profiles import by_market_type, profile_for


class OpenInterestPager:
    def __init__(self, client: ExchangeClient, market: dict, period: str, limit: int) -> None:
        self.client = client
        self.symbol = str(market["symbol"])
        self.period = period
        self.period_ms = levels.nominal_ms(period)
        self.limit = int(limit)
        self.fetch = Fetcher(client, "fetch_open_interest_history", self.symbol)
        kind = "inverse" if market.get("inverse") else "linear"
        self.params = dict(profile_for(client.exchange_id).open_interest_params.get(kind, {}))
        days = by_market_type(profile_for(client.exchange_id).open_interest_days, period)
        self.served_ms = None if days is None else int(days) * levels.DAY_MS
        self._low = self._high = 0

    @property
    def requests(self) -> int:
        return self.fetch.requests

    def _get(self, since: int, until: int, extra: dict | None = None, limit: int | None = -1) -> list[dict]:
        params = {**self.params, "until": until - 1, **(extra or {})}
        return self.fetch(self.period, since, self.limit if limit == -1 else limit, params=params)

    def oldest_served(self) -> int | None:
        """The oldest timestamp the exchange still serves at this period, where it keeps a bounded history."""
        if self.served_ms is None:
            return None
        return levels.next_bar_start(levels.bar_start(clock.now_ms() - self.served_ms, self.period), self.period)

    def pages(self, start_ms: int, end_ms: int) -> Iterator[Batch]:
        oldest = self.oldest_served()
        if oldest is not None and start_ms < min(oldest, end_ms):
            reason = f"{self.client.exchange_id} serves only {self.served_ms // levels.DAY_MS} days of {self.period}"
            yield Batch(Window(start_ms, min(oldest, end_ms), EMPTY, 0, reason))
            start_ms = min(oldest, end_ms)
        if start_ms >= end_ms:
            return
        self._low, self._high = start_ms, end_ms
        yield from guarded(self._walk(start_ms, end_ms), lambda: (self._low, self._high))

    def _walk(self, start_ms: int, end_ms: int) -> Iterator[Batch]:
        cursor = start_ms
        span = self.limit * self.period_ms
        while cursor < end_ms:
            high = min(end_ms, cursor + span)
            rows = inside(self._get(cursor, high), cursor, high)
            if len(rows) >= self.limit:
                high = timestamp(rows[-1]) + 1
            yield Batch(window(cursor, high, rows), rows)
            cursor = self._low = high


class LookbackOpenInterestPager(OpenInterestPager):
    """okx: no row cap, but each period serves only so far back; windows of that length walk back."""

    def _walk(self, start_ms: int, end_ms: int) -> Iterator[Batch]:
        high = end_ms
        span = self.served_ms or self.limit * self.period_ms
        while high > start_ms:
            low = max(start_ms, high - span)
            # no row cap here, and ccxt would cut the answer down to a ``limit`` it was given
            rows = inside(self._get(low, high, limit=None), low, high)
            if not rows:
                yield Batch(window(start_ms, high, rows))
                self._high = start_ms
                return
            yield Batch(window(low, high, rows), rows)
            high = self._high = low


class CursorOpenInterestPager(OpenInterestPager):
    """bybit: the whole range at once, newest first, one ``nextPageCursor`` after another."""

    def _walk(self, start_ms: int, end_ms: int) -> Iterator[Batch]:
        high = end_ms
        cursor = None
        while True:
            rows = self._get(start_ms, end_ms, {"cursor": cursor} if cursor else None)
            cursor = next((r["info"]["nextPageCursor"] for r in rows if _cursor_of(r)), None)
            kept = inside(rows, start_ms, high)
            if not cursor or not kept:
                yield Batch(window(start_ms, high, kept), kept)
                self._high = start_ms
                return
            oldest = timestamp(kept[0])
            yield Batch(window(oldest, high, kept), kept)
            high = self._high = oldest


def _cursor_of(row: dict) -> str | None:
    return (row.get("info") or {}).get("nextPageCursor") if isinstance(row.get("info"), dict) else None


_PAGERS = {
    "windows": OpenInterestPager,
    "lookback_windows": LookbackOpenInterestPager,
    "cursor": CursorOpenInterestPager,
}


def open_interest_pager(client: ExchangeClient, market: dict, period: str) -> OpenInterestPager:
    profile = profile_for(client.exchange_id)
    return _PAGERS[profile.open_interest_paging](client, market, period, profile.open_interest_limit)
