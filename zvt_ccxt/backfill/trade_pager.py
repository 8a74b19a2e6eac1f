"""Paging through an exchange's public trade history with its real cursor and per-request cap.

ccxt's own ``paginate`` gets several of these wrong (okx pages overlap, coinbase windows come back
truncated, binance serves aggregate trades whose time windows answer with their *last* trades), so each
walk is spelled out here, chosen by the exchange profile's ``trade_paging``, with the profile's cursor
parameters, endpoint and window cap:

- ``agg_trades`` (binance): find the first trade with a time window small enough not to be truncated,
  then walk forward by ``fromId``;
- ``history_trades`` (okx): walk back from the end by trade id (``after``), starting with a timestamp cursor;
- ``time_windows`` (coinbase): walk back with ``[start, end]`` windows in seconds, each ending where the
  last (truncated) page began;
- ``recent_only`` (bybit): one request for the latest trades; older ones are out of reach;
- ``since`` (any other exchange): walk forward with ccxt's ``since``.

Every pager also offers ``latest(end)``: the most recent page, where a first run without a start begins. The
trade recorder and the stream's gap repairs page through these same walks.
"""

from __future__ import annotations

from collections.abc import Iterator

from zvt_ccxt.backfill.history import Batch, Fetcher, guarded, inside, timestamp, window
from zvt_ccxt.errors import CapabilityNotSupportedError, DataValidationError
from zvt_ccxt.exchange.client import ExchangeClient
from zvt_ccxt.exchange.profiles import by_market_type, needed, profile_for
from zvt_ccxt.trade_order import trade_key


class TradePager:
    """Base: fetching, the latest page, and the uncovered span reported when a request fails."""

    #: whether ``pages(..., after_id=)`` walks from a known trade id rather than by time
    walks_by_id = False

    def __init__(self, client: ExchangeClient, market: dict, limit: int) -> None:
        self.client = client
        self.market = market
        self.symbol = str(market["symbol"])
        self.limit = int(limit)
        self.profile = profile_for(client.exchange_id)
        self.fetch = Fetcher(client, "fetch_trades", self.symbol)
        self._low = self._high = 0

    @property
    def requests(self) -> int:
        return self.fetch.requests

    def _latest_rows(self, end_ms: int) -> list[dict]:
        return self.fetch(None, self.limit)

    def latest(self, end_ms: int) -> Batch | None:
        """The most recent page before ``end_ms``: its window starts just after its oldest trade."""
        rows = [r for r in self._latest_rows(end_ms) if timestamp(r) < end_ms]
        if not rows:
            return None
        start = timestamp(rows[0]) + 1
        kept = inside(rows, start, end_ms)
        return Batch(window(start, end_ms, kept), kept)

    def pages(self, start_ms: int, end_ms: int, after_id: int | None = None) -> Iterator[Batch]:
        """The trades of ``[start_ms, end_ms)`` window by window; ``after_id``, the id of a trade known to come
        just before the range, lets a pager that walks by id (``walks_by_id``) start right after it."""
        self._low, self._high = start_ms, end_ms
        return guarded(self._walk(start_ms, end_ms, after_id), lambda: (self._low, self._high))

    def _walk(self, start_ms: int, end_ms: int, after_id: int | None) -> Iterator[Batch]:
        raise NotImplementedError


class AggTradesPager(TradePager):
    """binance: a non-truncated time window finds the first trade (unless the id before the range is known),
    then the id cursor (``fromId``) walks forward."""

    walks_by_id = True

    def __init__(self, client: ExchangeClient, market: dict, limit: int) -> None:
        super().__init__(client, market, limit)
        self.cursor_param = needed(self.profile.trade_cursor_param, client.exchange_id, "trade_cursor_param")

    def _first_window(self, cursor: int, end_ms: int) -> tuple[int, list[dict]]:
        span = min(self.profile.trade_window_max_ms or end_ms - cursor, end_ms - cursor)
        while True:
            rows = self.fetch(cursor, self.limit, params={"until": cursor + span - 1})
            if len(rows) < self.limit:
                return span, rows
            if span == 1:
                raise DataValidationError(
                    f"{self.client.exchange_id} {self.symbol}: more than {self.limit} trades at {cursor} ms"
                )
            span = max(1, span // 4)

    def _walk(self, start_ms: int, end_ms: int, after_id: int | None) -> Iterator[Batch]:
        cursor = start_ms
        next_id = None if after_id is None else after_id + 1
        while cursor < end_ms and next_id is None:
            span, rows = self._first_window(cursor, end_ms)
            yield Batch(window(cursor, cursor + span, rows), rows)
            cursor = self._low = cursor + span
            if rows:
                next_id = int(rows[-1]["id"]) + 1
        carry: list[dict] = []
        while cursor < end_ms:
            rows = self.fetch(None, self.limit, params={self.cursor_param: next_id})
            fresh = inside(rows, cursor, end_ms)
            kept = merged(carry, fresh)
            if len(fresh) < len(rows) or len(rows) < self.limit:
                # past the end of the range, or the newest trade there is
                yield Batch(window(cursor, end_ms, kept), kept)
                self._low = end_ms
                return
            # trades sharing the last timestamp may continue on the next page: they go with the next window
            last = timestamp(rows[-1])
            carry = [r for r in kept if timestamp(r) >= last]
            if last > cursor:
                before = [r for r in kept if timestamp(r) < last]
                yield Batch(window(cursor, last, before), before)
            cursor = self._low = max(cursor, last)
            next_id = int(rows[-1]["id"]) + 1


class BackwardTradePager(TradePager):
    """Walks back from the end: each page covers from just after its oldest trade to where the last began.

    ``_first_page`` and ``_older_page`` answer ``(rows, full)``: the rows before the cursor, and whether
    the exchange's answer was a full page (so older trades may remain).
    """

    def _first_page(self, end_ms: int) -> tuple[list[dict], bool]:
        raise NotImplementedError

    def _older_page(self, oldest: dict, start_ms: int) -> tuple[list[dict], bool]:
        raise NotImplementedError

    def _latest_rows(self, end_ms: int) -> list[dict]:
        return self._first_page(end_ms)[0]

    def _walk(self, start_ms: int, end_ms: int, after_id: int | None) -> Iterator[Batch]:
        high = end_ms
        rows, full = self._first_page(end_ms)
        previous_oldest = None
        carry: list[dict] = []
        while True:
            kept = merged(carry, inside(rows, start_ms, high))
            if not rows or timestamp(rows[0]) < start_ms or not full:
                # reached the start of the range, or the oldest trade the exchange serves
                yield Batch(window(start_ms, high, kept), kept)
                self._high = start_ms
                return
            oldest = timestamp(rows[0])
            if previous_oldest is not None and oldest >= previous_oldest:
                raise DataValidationError(
                    f"{self.client.exchange_id} {self.symbol}: paging back stalled at {oldest} ms "
                    f"(more than {self.limit} trades in one step)"
                )
            previous_oldest = oldest
            # the oldest trades may have older siblings at the same timestamp: they go with the next window
            carry = [r for r in kept if timestamp(r) <= oldest]
            after = [r for r in kept if timestamp(r) > oldest]
            yield Batch(window(oldest + 1, high, after), after)
            high = self._high = oldest + 1
            rows, full = self._older_page(rows[0], start_ms)


class HistoryTradesPager(BackwardTradePager):
    """okx: ``history-trades`` newest first, by a timestamp cursor (``type=2``) once, then by trade id (``type=1``)."""

    def __init__(self, client: ExchangeClient, market: dict, limit: int) -> None:
        super().__init__(client, market, limit)
        self.method = needed(self.profile.trade_history_method, client.exchange_id, "trade_history_method")
        self.cursor_param = needed(self.profile.trade_cursor_param, client.exchange_id, "trade_cursor_param")

    def _page(self, cursor_kind: str, cursor: object) -> tuple[list[dict], bool]:
        params = {
            "method": self.method,
            **self.profile.trade_cursor_kinds.get(cursor_kind, {}),
            self.cursor_param: cursor,
        }
        rows = self.fetch(None, self.limit, params=params)
        return rows, len(rows) >= self.limit

    def _first_page(self, end_ms: int) -> tuple[list[dict], bool]:
        return self._page("timestamp", end_ms)

    def _older_page(self, oldest: dict, start_ms: int) -> tuple[list[dict], bool]:
        return self._page("id", oldest["id"])


class TimeWindowTradesPager(BackwardTradePager):
    """coinbase: ``[start, end]`` windows in whole seconds, each answering with its newest ``limit`` trades."""

    def _window(self, start_ms: int, end_ms: int) -> tuple[list[dict], bool]:
        # whole seconds, one more at the end whatever the exchange's end rule; the overlap is cut off here
        since = start_ms // 1000 * 1000
        until = -(-end_ms // 1000) * 1000 + 1000
        rows = self.fetch(since, self.limit, params={"until": until})
        return [r for r in rows if timestamp(r) < end_ms], len(rows) >= self.limit

    def _first_page(self, end_ms: int) -> tuple[list[dict], bool]:
        return self._window(self._low, end_ms)

    def _older_page(self, oldest: dict, start_ms: int) -> tuple[list[dict], bool]:
        return self._window(start_ms, timestamp(oldest) + 1)

    def _latest_rows(self, end_ms: int) -> list[dict]:
        return self.fetch(None, self.limit)


class RecentTradesPager(TradePager):
    """bybit: only the latest trades exist; the part of a range further back is left failed, and said so."""

    def _walk(self, start_ms: int, end_ms: int, after_id: int | None) -> Iterator[Batch]:
        rows = self.fetch(None, self.limit)
        kept = inside(rows, start_ms, end_ms)
        if not rows or timestamp(rows[0]) < start_ms or len(rows) < self.limit:
            yield Batch(window(start_ms, end_ms, kept), kept)
            self._low = end_ms
            return
        oldest = timestamp(rows[0]) + 1
        yield Batch(window(oldest, end_ms, kept), kept)
        self._high = oldest
        raise CapabilityNotSupportedError(
            self.client.exchange_id,
            "historical trades",
            f"it serves only the latest {self.limit} trades of {self.symbol}; those from {start_ms} to {oldest} ms "
            "are out of reach (stream them to keep them)",
        )


class SinceTradePager(TradePager):
    """Any other exchange: forward with ccxt's ``since``, each page starting at the last one's last timestamp."""

    def _walk(self, start_ms: int, end_ms: int, after_id: int | None) -> Iterator[Batch]:
        cursor = start_ms
        carry: list[dict] = []
        while cursor < end_ms:
            rows = self.fetch(cursor, self.limit)
            fresh = inside(rows, cursor, end_ms)
            kept = merged(carry, fresh)
            if len(fresh) < len(rows) or len(rows) < self.limit:
                yield Batch(window(cursor, end_ms, kept), kept)
                self._low = end_ms
                return
            last = timestamp(rows[-1])
            if last <= cursor:
                raise DataValidationError(
                    f"{self.client.exchange_id} {self.symbol}: more than {self.limit} trades at {cursor} ms"
                )
            carry = [r for r in kept if timestamp(r) >= last]
            before = [r for r in kept if timestamp(r) < last]
            yield Batch(window(cursor, last, before), before)
            cursor = self._low = last


def merged(first: list[dict], second: list[dict]) -> list[dict]:
    """Both lists of trades, each trade once (by id, else by content), oldest first."""
    seen: dict = {}
    for row in (*first, *second):
        seen[row.get("id") or (row["timestamp"], row.get("price"), row.get("amount"), row.get("side"))] = row
    return sorted(seen.values(), key=trade_key)


_PAGERS: dict[str, type[TradePager]] = {
    "agg_trades": AggTradesPager,
    "history_trades": HistoryTradesPager,
    "time_windows": TimeWindowTradesPager,
    "recent_only": RecentTradesPager,
    "since": SinceTradePager,
}


def trade_pager(client: ExchangeClient, market: dict, limit: int | None = None) -> TradePager:
    """The pager for ``market`` on ``client``'s exchange, with that exchange's cap for the market type (or
    ``limit`` trades a request)."""
    profile = profile_for(client.exchange_id)
    limit = limit or by_market_type(profile.trade_limits, market.get("type"))
    return _PAGERS[profile.trade_paging](client, market, limit)
