"""Coinbase Advanced Trade public market trades and product book.

Real rules kept: ``/market/products/{id}/ticker`` needs ``limit`` (at most 1000) and takes an optional
``start``/``end`` window in UNIX seconds; a window holding more trades than ``limit`` answers with its
*newest* ``limit`` trades (a truncated window), newest first. ``/market/product_book`` takes ``product_id``
and an optional ``limit``. Coinbase spot has no funding or open interest.
"""

from __future__ import annotations

import datetime as _dt

from .. import derivatives, tape
from .common import BadParam, Formats, Response, json_response, opt_int

TRADES_MAX = 1000


def _iso_us(ms: int, micros: int = 0) -> str:
    moment = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{(ms % 1000) * 1000 + micros:06d}Z"


def _error(status: int, error: str, details: str) -> Response:
    return json_response({"error": error, "error_details": details, "message": details}, status=status)


class CoinbaseMarketData:
    """Mixed into the coinbase venue: needs ``now_ms`` and ``markets``."""

    def _market_trades(self, product_id: str, query: dict[str, str]) -> Response:
        market = next((m for m in self.markets() if m.id == product_id), None)
        if market is None:
            return _error(404, "NOT_FOUND", "ProductID is invalid")
        try:
            limit, start, end = opt_int(query, "limit"), opt_int(query, "start"), opt_int(query, "end")
        except BadParam as e:
            return _error(400, "INVALID_ARGUMENT", f"invalid {e.name}")
        if limit is None:
            return _error(400, "INVALID_ARGUMENT", "limit is required")
        if limit <= 0 or limit > TRADES_MAX:
            return _error(400, "INVALID_ARGUMENT", f"limit must be between 1 and {TRADES_MAX}")
        if start is not None and end is not None and end < start:
            return _error(400, "INVALID_ARGUMENT", "start and end argument is invalid - end must be after start")
        now = self.now_ms
        before_ts = None if end is None else end * 1000
        trades = tape.backward(market.series, now, limit, before_ts=before_ts)
        if start is not None:
            trades = trades.take(trades.ts >= start * 1000)
        f = Formats(market)
        out = []
        for i in range(len(trades) - 1, -1, -1):
            out.append(
                {
                    "trade_id": str(int(trades.id[i])),
                    "product_id": market.id,
                    "price": f.price(int(trades.price[i]), True),
                    "size": f.contracts(int(trades.lots[i]), True),
                    "time": _iso_us(int(trades.ts[i]), int(trades.id[i]) % 1000),
                    "side": "BUY" if trades.buy[i] else "SELL",
                    "bid": "",
                    "ask": "",
                    "exchange": "coinbase",
                }
            )
        last = self.last_price_units(market)
        bids, asks = derivatives.order_book(market, last, 1, now) if last else ([], [])
        body = {
            "trades": out,
            "best_bid": f.price(bids[0][0], True) if bids else "",
            "best_ask": f.price(asks[0][0], True) if asks else "",
        }
        return json_response(body)

    def _product_book(self, query: dict[str, str]) -> Response:
        product_id = query.get("product_id")
        if not product_id:
            return _error(400, "INVALID_ARGUMENT", "product_id is required")
        market = next((m for m in self.markets() if m.id == product_id), None)
        if market is None:
            return _error(404, "NOT_FOUND", "ProductID is invalid")
        try:
            limit = opt_int(query, "limit")
        except BadParam as e:
            return _error(400, "INVALID_ARGUMENT", f"invalid {e.name}")
        depth = 50 if limit is None or limit <= 0 else min(limit, 1000)
        now = self.now_ms
        last = self.last_price_units(market)
        bids, asks = derivatives.order_book(market, last, depth, now) if last else ([], [])
        f = Formats(market)

        def levels(side):
            return [{"price": f.price(p, True), "size": f.contracts(s, True)} for p, s in side]

        book = {"product_id": market.id, "bids": levels(bids), "asks": levels(asks), "time": _iso_us(now - 4)}
        body = {"pricebook": book, "last": f.price(last, True) if last else ""}
        if bids and asks:
            spread = asks[0][0] - bids[0][0]
            mid = (asks[0][0] + bids[0][0]) / 2
            body["mid_market"] = f"{mid * float(market.tick):.8f}"
            body["spread_absolute"] = f.price(spread, True)
            body["spread_bps"] = f"{spread / mid * 10_000:.4f}"
        return json_response(body)
