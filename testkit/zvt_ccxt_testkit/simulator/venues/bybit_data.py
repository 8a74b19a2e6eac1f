"""Bybit v5 public trades (recent only), order books, funding rate history and open interest.

Real rules kept: ``/v5/market/recent-trade`` serves only the latest trades (spot: limit 1..60, default
60; contracts: 1..1000, default 500, with UUID trade ids) and has no history; ``/v5/market/orderbook``
(spot limit 1..200, default 1; contracts 1..500, default 25); ``/v5/market/funding/history`` (limit
1..200, default 200, newest first; ``startTime`` alone is refused); ``/v5/market/open-interest`` (limit
1..200, default 50, newest first, paged by an opaque ``cursor``).
"""

from __future__ import annotations

import base64
import uuid

from .. import derivatives, tape
from ..timeframes import DAY_MS, HOUR_MS, MINUTE_MS
from ..universe import SimMarket
from .common import BadParam, Formats, Response, opt_int

RECENT_TRADES = {"spot": (60, 60), "contract": (500, 1000)}
ORDERBOOK = {"spot": (1, 200), "contract": (25, 500)}
FUNDING_DEFAULT = FUNDING_MAX = 200
OPEN_INTEREST_DEFAULT, OPEN_INTEREST_MAX = 50, 200
OPEN_INTEREST_INTERVALS = {
    "5min": 5 * MINUTE_MS,
    "15min": 15 * MINUTE_MS,
    "30min": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "4h": 4 * HOUR_MS,
    "1d": DAY_MS,
}


def _cursor(ts: int) -> str:
    return base64.urlsafe_b64encode(f"oi:{ts}".encode()).decode()


def _read_cursor(text: str) -> int | None:
    try:
        kind, _, value = base64.urlsafe_b64decode(text.encode()).decode().partition(":")
        return int(value) if kind == "oi" else None
    except (ValueError, UnicodeDecodeError):
        return None


class BybitMarketData:
    """Mixed into the bybit venue: needs ``now_ms``, ``markets``, ``_envelope`` and ``_error``."""

    def _symbol(self, query: dict[str, str], categories: tuple[str, ...]) -> SimMarket | Response:
        category = query.get("category")
        if not category:
            return self._error("params error: Category is null")
        if category not in categories:
            return self._error("Illegal category")
        symbol = query.get("symbol")
        if not symbol:
            return self._error("params error: symbol is null")
        market = next((m for m in self.markets() if m.kind == category and m.id == symbol), None)
        return self._error("Not supported symbols") if market is None else market

    @staticmethod
    def _limit(query: dict[str, str], default: int, cap: int) -> int | None:
        limit = opt_int(query, "limit")
        limit = default if limit is None else limit
        return limit if 1 <= limit <= cap else None

    @staticmethod
    def _exec_id(market: SimMarket, trade_id: int) -> str:
        """Spot trades carry numeric ids; contract trades UUIDs (stable per trade)."""
        if market.kind == "spot":
            return str(trade_id)
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bybit:{market.id}:{market.kind}:{trade_id}"))

    def _recent_trades(self, query: dict[str, str]) -> Response:
        market = self._symbol(query, ("spot", "linear", "inverse", "option"))
        if isinstance(market, Response):
            return market
        default, cap = RECENT_TRADES["spot" if market.kind == "spot" else "contract"]
        try:
            limit = self._limit(query, default, cap)
        except BadParam:
            limit = None
        if limit is None:
            return self._error("params error: limit invalid")
        trades = tape.backward(market.series, self.now_ms, limit)
        f = Formats(market)
        rows = []
        for i in range(len(trades) - 1, -1, -1):
            rows.append(
                {
                    "execId": self._exec_id(market, int(trades.id[i])),
                    "symbol": market.id,
                    "price": f.price(int(trades.price[i]), True),
                    "size": f.contracts(int(trades.lots[i]), True),
                    "side": "Buy" if trades.buy[i] else "Sell",
                    "time": str(int(trades.ts[i])),
                    "isBlockTrade": False,
                    "isRPITrade": False,
                }
            )
        return self._envelope({"category": query["category"], "list": rows})

    def _orderbook(self, query: dict[str, str]) -> Response:
        market = self._symbol(query, ("spot", "linear", "inverse", "option"))
        if isinstance(market, Response):
            return market
        default, cap = ORDERBOOK["spot" if market.kind == "spot" else "contract"]
        try:
            limit = self._limit(query, default, cap)
        except BadParam:
            limit = None
        if limit is None:
            return self._error("params error: limit invalid")
        now = self.now_ms
        last = self.last_price_units(market)
        bids, asks = derivatives.order_book(market, last, limit, now) if last else ([], [])
        f = Formats(market)
        sequence = derivatives.update_id(market, now)
        return self._envelope(
            {
                "s": market.id,
                "b": [[f.price(p, True), f.contracts(s, True)] for p, s in bids],
                "a": [[f.price(p, True), f.contracts(s, True)] for p, s in asks],
                "ts": now - 2,
                "u": sequence,
                "seq": sequence * 3,
                "cts": now - 5,
            }
        )

    def _funding_history(self, query: dict[str, str]) -> Response:
        market = self._symbol(query, ("linear", "inverse"))
        if isinstance(market, Response):
            return market
        try:
            start, end = opt_int(query, "startTime"), opt_int(query, "endTime")
            limit = self._limit(query, FUNDING_DEFAULT, FUNDING_MAX)
        except BadParam as e:
            return self._error(f"params error: {e.name} invalid")
        if limit is None:
            return self._error("params error: limit invalid")
        if start is not None and end is None:
            return self._error("params error: endTime is required when startTime is passed")
        now = self.now_ms
        times = derivatives.funding_times(market, 0 if start is None else start, (now if end is None else end) + 1, now)
        times = times[-limit:]
        rates = derivatives.funding_rates(market, times)
        rows = [
            {"symbol": market.id, "fundingRate": f"{rate:.8f}".rstrip("0").rstrip("."), "fundingRateTimestamp": str(t)}
            for t, rate in zip(times.tolist()[::-1], rates.tolist()[::-1], strict=True)
        ]
        return self._envelope({"category": query["category"], "list": rows})

    def _open_interest(self, query: dict[str, str]) -> Response:
        market = self._symbol(query, ("linear", "inverse"))
        if isinstance(market, Response):
            return market
        interval = query.get("intervalTime")
        if interval not in OPEN_INTEREST_INTERVALS:
            return self._error("params error: intervalTime invalid")
        try:
            start, end = opt_int(query, "startTime"), opt_int(query, "endTime")
            limit = self._limit(query, OPEN_INTEREST_DEFAULT, OPEN_INTEREST_MAX)
        except BadParam as e:
            return self._error(f"params error: {e.name} invalid")
        if limit is None:
            return self._error("params error: limit invalid")
        now = self.now_ms
        if query.get("cursor"):
            older_than = _read_cursor(query["cursor"])
            if older_than is None:
                return self._error("params error: cursor invalid")
            end = older_than - 1 if end is None else min(end, older_than - 1)
        step = OPEN_INTEREST_INTERVALS[interval]
        times = derivatives.period_times(
            0 if start is None else start, now if end is None else end, step, now, market.listing_ms
        )
        more = len(times) > limit
        times = times[-limit:]
        contracts, base, _ = derivatives.open_interest(market, times)
        amounts = contracts * float(market.contract_size) if market.kind == "inverse" else base
        rows = [
            {"openInterest": f"{amount:.8f}", "timestamp": str(t)}
            for t, amount in zip(times.tolist()[::-1], amounts.tolist()[::-1], strict=True)
        ]
        cursor = _cursor(int(times[0])) if more and len(times) else ""
        return self._envelope(
            {"symbol": market.id, "category": query["category"], "list": rows, "nextPageCursor": cursor}
        )
