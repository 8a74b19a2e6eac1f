"""Finding what a stream missed, and fetching it over REST.

Three things lose trades silently: ccxt's bounded cache overflowing while the consumer is busy, a
reconnect (nothing is replayed), and a frame lost on the way. ``CacheCursor`` reads only what is new in a
ccxt cache and notices when entries it never read were evicted; ``TradeSequence`` notices skipped trade
ids where an exchange numbers trades consecutively, and reconnects everywhere. Each gap becomes a time
window (plus the ids bounding it) that ``trade_pages`` (through the trade recorder's pagers) and
``fetch_bars_between`` (through the kline pager) fill from REST.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from zvt_ccxt import levels
from zvt_ccxt.backfill.candles import normalise
from zvt_ccxt.backfill.pager import OhlcvPager
from zvt_ccxt.backfill.trade_pager import trade_pager
from zvt_ccxt.exchange.client import ExchangeClient

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

    def check(self, trades: list[dict], evicted: bool) -> tuple[list[dict], list[Gap]]:
        """Drop trades already seen; return the rest (in the order given) and every gap: before the first and,
        where ids are consecutive numbers, wherever they skip (a cache that evicts in arrival order can leave
        holes inside what it still holds when frames did not arrive in id order)."""
        if self.sequential and not self.interrupted and self._continues(trades):
            return trades, []
        fresh = []
        for trade in trades:
            number = _int_id(trade) if self.sequential else None
            if number is not None and self.last_id is not None and number <= self.last_id:
                continue
            fresh.append(trade)
        if not fresh:
            return [], []
        times = {str(t.get("id")): self._time_of(t) for t in fresh}
        gaps = []
        numbered = sorted((n, str(t.get("id"))) for t in fresh if (n := _int_id(t)) is not None)
        if self.sequential and len(numbered) == len(fresh):
            skipped = "evicted from cache" if evicted else ("reconnect" if self.interrupted else "skipped ids")
            chain = [(n, times[key]) for n, key in numbered]
            if self.last_id is not None and self.last_ms is not None:
                chain.insert(0, (self.last_id, self.last_ms))
            for (before, before_ms), (after, after_ms) in itertools.pairwise(chain):
                if after > before + 1:
                    start_ms, end_ms = min(before_ms, after_ms), max(before_ms, after_ms)
                    gaps.append(Gap(self.symbol, start_ms, end_ms, skipped, before, after,
                                    self._edges(times, start_ms, end_ms)))
        elif self.last_ms is not None and (evicted or self.interrupted):
            first_ms = self._time_of(fresh[0])
            reason = "evicted from cache" if evicted else "reconnect"
            gaps.append(Gap(self.symbol, self.last_ms, first_ms, reason, self.last_id, None,
                            self._edges(times, self.last_ms, first_ms)))
        self.interrupted = False
        last_ms = self._time_of(fresh[-1])
        if last_ms != self.last_ms:
            self.edge_ids = set()
        self.edge_ids |= {key for key, ms in times.items() if ms == last_ms}
        self.last_ms = last_ms
        if numbered:
            self.last_id = max(numbered[-1][0], self.last_id if self.last_id is not None else numbered[-1][0])
        return fresh, gaps

    def _time_of(self, trade: dict) -> int:
        """A trade's time; one without takes the last time seen (0 before any)."""
        return int(trade.get("timestamp") or self.last_ms or 0)

    def _continues(self, trades: list[dict]) -> bool:
        """Whether ``trades`` carry exactly the ids after the last seen, in order; if so, they become the last seen.

        The common case on a healthy stream, checked in one pass without the general path's maps: a trade's id is
        parsed once, and only the trades at the last time are kept as edges."""
        if not trades:
            return False
        expected = self.last_id
        for trade in trades:
            number = _int_id(trade)
            if number is None or (expected is not None and number != expected + 1):
                return False
            expected = number
        last_ms = self._time_of(trades[-1])
        if last_ms != self.last_ms:
            self.edge_ids = set()
        for trade in reversed(trades):  # ordered by time: the trades at the last time are at the end
            if self._time_of(trade) != last_ms:
                break
            self.edge_ids.add(str(trade.get("id")))
        self.last_ms, self.last_id = last_ms, expected
        return True

    def _edges(self, times: dict[str, int], start_ms: int, end_ms: int) -> set[str]:
        """Ids of trades seen at a gap's two edge times (REST returns them again)."""
        edges = set(self.edge_ids) if start_ms == self.last_ms else set()
        return edges | {key for key, ms in times.items() if ms in (start_ms, end_ms)}


def trade_pages(
    client: ExchangeClient, gap: Gap, limit: int | None = None, max_requests: int = 50
) -> Iterator[list[dict]]:
    """The trades REST returns inside a gap, without the ones the stream has, one page at a time (blocking:
    advance it in a thread).

    The gap is paged with the exchange's own trade pager, the one the trade recorder uses (``limit`` trades a
    request instead of the exchange's cap if given). Each page is handed over as soon as it arrives, so a
    repair holds one page of ccxt's trade dicts (about 1.5 kB each) however large the gap, and the writer's
    backpressure paces the requests. Where the exchange walks by id and both ids bounding the gap are known, the
    walk starts right after the last trade seen and may take as many requests as the gap's size needs, and
    what it came short of is then asked for by time; a walk by time takes ``max_requests`` requests at most.
    """
    pager = trade_pager(client, client.market(gap.symbol), limit)
    seen: set[str] = set()  # ids already handed over: a walk by time after one by id meets them again
    by_id = pager.walks_by_id and bool(gap.expected) and gap.after_id is not None
    walks = [gap.after_id, None] if by_id else [None]
    for after_id in walks:
        budget = max_requests
        if after_id is not None and gap.expected is not None:
            budget = max(max_requests, -(-gap.expected // pager.limit) + 2)
        budget += pager.requests
        # the trade at the gap's end was seen: the range ends just after it, and the id bounds cut it off
        for batch in pager.pages(gap.start_ms, gap.end_ms + 1, after_id):
            missing = []
            for trade in batch.rows:
                key = str(trade.get("id"))
                if key in seen or not _inside(gap, trade, key):
                    continue
                seen.add(key)
                missing.append(trade)
            if missing:
                yield missing
            if pager.requests >= budget:
                break
        if gap.expected is not None and len(seen) >= gap.expected:
            return


def _inside(gap: Gap, trade: dict, key: str) -> bool:
    """Whether a trade of the gap's window is one the stream missed (by id bounds, else not an edge trade)."""
    number = _int_id(trade)
    if gap.after_id is not None and number is not None:
        return gap.after_id < number < (gap.before_id if gap.before_id is not None else number + 1)
    return key not in gap.edge_ids


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
