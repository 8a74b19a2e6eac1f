"""Paging through open interest statistics at one period, chosen by the profile's ``open_interest_paging``:

- ``windows`` (binance, okx, and the default): explicit ``since``/``until`` windows of ``limit`` periods,
  which no exchange can truncate whichever end it anchors a page at (okx answers its newest rows first);
- ``cursor`` (bybit): newest first over the whole range, following ``nextPageCursor``.

Exchanges keep only so much history (binance 30 days, okx the latest 1,440 periods and no daily statistics
before 2024): the start of a range is clamped to it and the part before is recorded ``empty``, with the
reason, so it is not asked for again.
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
        profile = profile_for(client.exchange_id)
        self.params = {
            **profile.open_interest_params.get(kind, {}),
            **profile.open_interest_period_params.get(period, {}),
        }
        days = by_market_type(profile.open_interest_days, period)
        self.served_ms = None if days is None else int(days) * levels.DAY_MS
        self.first_day = by_market_type(profile.open_interest_first_day, period)
        self._low = self._high = 0

    @property
    def requests(self) -> int:
        return self.fetch.requests

    def _get(self, since: int, until: int, extra: dict | None = None) -> list[dict]:
        params = {**self.params, "until": until - 1, **(extra or {})}
        return self.fetch(self.period, since, self.limit, params=params)

    def oldest_served(self) -> tuple[int, str] | None:
        """The oldest timestamp the exchange serves at this period and why, where its history is bounded."""
        bounds = []
        if self.served_ms is not None:
            oldest = levels.next_bar_start(levels.bar_start(clock.now_ms() - self.served_ms, self.period), self.period)
            days = self.served_ms // levels.DAY_MS
            bounds.append((oldest, f"{self.client.exchange_id} serves only {days} days of {self.period}"))
        if self.first_day is not None:
            first = levels.to_utc_ms(self.first_day)
            bounds.append((first, f"{self.client.exchange_id} has no {self.period} statistics before {self.first_day}"))
        return max(bounds, default=None)

    def pages(self, start_ms: int, end_ms: int) -> Iterator[Batch]:
        served = self.oldest_served()
        if served is not None and start_ms < min(served[0], end_ms):
            oldest, reason = served
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
    "cursor": CursorOpenInterestPager,
}


def open_interest_pager(client: ExchangeClient, market: dict, period: str) -> OpenInterestPager:
    profile = profile_for(client.exchange_id)
    return _PAGERS[profile.open_interest_paging](client, market, period, profile.open_interest_limit)
