"""Finding what a stream missed, and fetching it over REST.

Three things lose trades silently: ccxt's bounded cache overflowing while the consumer is busy, a
reconnect (nothing is replayed), and a frame lost on the way. ``CacheCursor`` reads only what is new in a
ccxt cache and notices when entries it never read were evicted; ``TradeSequence`` notices skipped trade
ids where an exchange numbers trades consecutively, and reconnects everywhere. Each gap becomes a time
window (plus the ids bounding it) that ``trade_pages`` and ``fetch_bars_between`` fill from REST.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import ccxt

from zvt_ccxt import levels
from zvt_ccxt.backfill.candles import normalise
from zvt_ccxt.backfill.pager import OhlcvPager
from zvt_ccxt.errors import ExchangeRequestError
from zvt_ccxt.exchange.client import ExchangeClient
from zvt_ccxt.exchange.profiles import needed, profile_for
from zvt_ccxt.trade_order import trade_key

logger = logging.getLogger(__name__)


@dataclass
class Gap:
    """Trades missing between two seen trades: exchange time ``[start_ms, end_ms]``, ids strictly between."""

    symbol: str
    start_ms: int
    end_ms: int
    reason: str
    after_id: int | None = None
    before_id: int | None = None
    #: ids of stream trades at the two edge timestamps (REST returns them again)
    edge_ids: set[str] = field(default_factory=set)

    @property
    def expected(self) -> int | None:
        """How many trades are missing, when ids are consecutive."""
        if self.after_id is None or self.before_id is None:
            return None
        return max(0, self.before_id - self.after_id - 1)


class CacheCursor:
    """Reads the entries appended to a ccxt ``ArrayCache`` since the last read, by identity."""

    def __init__(self) -> None:
        self.last: object | None = None

    def take(self, cache: Sequence | None) -> tuple[list, bool]:
        """New entries, oldest first, and whether unread entries were evicted before this read."""
        if cache is None:
            return [], False
        fresh = []
        found = self.last is None
        for item in reversed(cache):
            if item is self.last:
                found = True
                break
            fresh.append(item)
        fresh.reverse()
        evicted = not found and bool(fresh)
        if fresh:
            self.last = fresh[-1]
        return fresh, evicted


def _int_id(trade: dict) -> int | None:
    raw = trade.get("id")
    try:
        return None if raw is None else int(raw)
    except (TypeError, ValueError):
        return None


class TradeSequence:
    """The last trade seen of one symbol; spots gaps in what comes next."""

    def __init__(self, symbol: str, sequential: bool) -> None:
        self.symbol = symbol
        self.sequential = sequential
        self.last_ms: int | None = None
        self.last_id: int | None = None
        self.edge_ids: set[str] = set()
        self.interrupted = False

    def reconnected(self) -> None:
        self.interrupted = True

    def check(self, trades: list[dict], evicted: bool) -> tuple[list[dict], Gap | None]:
        """Drop trades already seen; return the rest and the gap before them, if any."""
        fresh = []
        for trade in trades:
            number = _int_id(trade) if self.sequential else None
            if number is not None and self.last_id is not None and number <= self.last_id:
                continue
            fresh.append(trade)
        if not fresh:
            return [], None
        first = fresh[0]
        gap = None
        if self.last_ms is not None:
            first_id = _int_id(first) if self.sequential else None
            reason = None
            if first_id is not None and self.last_id is not None and first_id > self.last_id + 1:
                reason = "evicted from cache" if evicted else ("reconnect" if self.interrupted else "skipped ids")
            elif first_id is None and (evicted or self.interrupted):
                reason = "evicted from cache" if evicted else "reconnect"
            if reason:
                first_ms = int(first.get("timestamp") or self.last_ms)
                edges = set(self.edge_ids) | {str(t.get("id")) for t in fresh if t.get("timestamp") == first_ms}
                gap = Gap(self.symbol, self.last_ms, first_ms, reason, self.last_id, first_id, edges)
        self.interrupted = False
        last = fresh[-1]
        last_ms = int(last.get("timestamp") or self.last_ms or 0)
        if last_ms != self.last_ms:
            self.edge_ids = set()
        self.edge_ids |= {str(t.get("id")) for t in fresh if t.get("timestamp") == last_ms}
        self.last_ms = last_ms
        if self.sequential:
            numbers = [n for n in (_int_id(t) for t in fresh) if n is not None]
            if numbers:
                self.last_id = max(numbers + ([self.last_id] if self.last_id is not None else []))
        return fresh, gap


def trade_pages(client: ExchangeClient, gap: Gap, limit: int = 1000, max_requests: int = 50) -> Iterator[list[dict]]:
    """The trades REST returns inside a gap, without the ones the stream has, one page at a time (blocking:
    advance it in a thread).

    Each page is handed over as soon as it arrives, so a repair holds one page of ccxt's trade dicts (about
    1.5 kB each) however large the gap, and the writer's backpressure paces the requests. Exchanges page
    differently (oldest first from ``since``, or newest first before an end), so a full page leaves both
    remainders of its window to ask for; every request narrows a window, and the number of requests is bounded.
    """
    seen: set[str] = set()  # ids already handed over: windows overlap at their edges
    profile = profile_for(client.exchange_id)
    if gap.expected and profile.trade_paging == "agg_trades":
        cursor_param = needed(profile.trade_cursor_param, client.exchange_id, "trade_cursor_param")
        for page in _pages_by_id(client, cursor_param, gap, limit, max_requests):
            seen.update(str(t.get("id")) for t in page)
            yield page
        if len(seen) >= gap.expected:
            return
    windows = [(gap.start_ms, gap.end_ms)]
    needs_until = False
    requests = 0
    while windows and requests < max_requests:
        start, end = windows.pop()
        requests += 1
        try:
            params = {"until": end} if needs_until else {}
            page = client.call("fetch_trades", gap.symbol, start, limit, params, symbol=gap.symbol)
        except ExchangeRequestError as error:
            if needs_until or not isinstance(error.cause, ccxt.ArgumentsRequired):
                raise
            needs_until = True  # e.g. coinbase: a since needs an until
            windows.append((start, end))
            continue
        inside = [t for t in page if t.get("timestamp") is not None and start <= t["timestamp"] <= end]
        if len(page) >= limit and inside:
            oldest, newest = min(t["timestamp"] for t in inside), max(t["timestamp"] for t in inside)
            if newest < end and (newest, end) != (start, end):
                windows.append((newest, end))
            if oldest > start and (start, oldest) != (start, end):
                windows.append((start, oldest))
        missing = []
        for trade in inside:
            key = str(trade.get("id"))
            if key in seen or not _inside(gap, trade, key):
                continue
            seen.add(key)
            missing.append(trade)
        if missing:
            missing.sort(key=trade_key)
            yield missing


def _inside(gap: Gap, trade: dict, key: str) -> bool:
    """Whether a trade of the gap's window is one the stream missed (by id bounds, else not an edge trade)."""
    number = _int_id(trade)
    if gap.after_id is not None and number is not None:
        return gap.after_id < number < (gap.before_id if gap.before_id is not None else number + 1)
    return key not in gap.edge_ids


def _pages_by_id(
    client: ExchangeClient, cursor_param: str, gap: Gap, limit: int, max_requests: int
) -> Iterator[list[dict]]:
    """The missing trades walked forward by id (binance ``fromId``): exactly the gap, one page per ``limit``.

    The gap's size is known, so the walk may take as many requests as it needs to cover it (plus a few for ids
    the exchange does not serve) rather than stop at ``max_requests``.
    """
    if gap.after_id is None or gap.before_id is None or gap.expected is None:
        return  # a walk by id needs the ids on both sides
    before_id = gap.before_id
    cursor = gap.after_id + 1
    for _ in range(max(max_requests, -(-gap.expected // limit) + 2)):
        page = client.call("fetch_trades", gap.symbol, None, limit, {cursor_param: cursor}, symbol=gap.symbol)
        numbered = sorted(
            ((n, t) for t in page if (n := _int_id(t)) is not None and cursor <= n < before_id),
            key=lambda pair: pair[0],
        )
        if numbered:
            yield [t for _, t in numbered]
        if not numbered or len(page) < limit or numbered[-1][0] + 1 >= before_id:
            break
        cursor = numbered[-1][0] + 1


def fetch_bars_between(client: ExchangeClient, symbol: str, level: str, start_ms: int, end_ms: int) -> list[list]:
    """Closed bars opening in ``[start_ms, end_ms)``, validated: ``[ts, o, h, l, c, v, turnover, estimated]``."""
    market = client.market(symbol)
    pager = OhlcvPager(client, symbol, level, client.ohlcv_limit(market))
    rows = [row for page in pager.pages(levels.bar_start(start_ms, level), end_ms) for row in page.rows]
    candles = normalise(
        rows,
        level,
        inverse=bool(market.get("inverse")),
        contract_size=market.get("contractSize"),
        context=f"{client.exchange_id} {symbol} repair",
    )
    columns = (candles.ts, candles.open, candles.high, candles.low, candles.close, candles.volume, candles.turnover)
    values = zip(*(c.tolist() for c in columns), strict=True)
    return [[*row, bool(flag)] for row, flag in zip(values, candles.turnover_estimated.tolist(), strict=True)]
