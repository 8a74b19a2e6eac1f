"""Bybit v5 public REST."""

from __future__ import annotations

from ..pricing import BASE, CLOSE, CONTRACTS, HIGH, LOW, OPEN, QUOTE, TS
from ..timeframes import BYBIT_INTERVALS
from ..universe import SimMarket
from .bybit_data import BybitMarketData
from .common import BadParam, Formats, Request, Response, Venue, json_response, opt_int, raw_decimals

# real per-request caps
KLINE_DEFAULT = 200
KLINE_MAX = 1000
INSTRUMENTS_MAX = 1000

_HOSTS = (
    "api.bybit.com",
    "api.bytick.com",
    "api.bybit.nl",
    "api.bybit.com.hk",
    "api.bybit.kz",
    "api.bybitglobal.com",
)
_CATEGORIES = ("spot", "linear", "inverse", "option")


class Bybit(BybitMarketData, Venue):
    name = "bybit"

    def handles(self, host: str) -> bool:
        return host in _HOSTS

    def _envelope(self, result: dict, code: int = 0, msg: str = "OK") -> Response:
        body = {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": self.now_ms}
        return json_response(body, headers={"Ret_code": str(code), "Traceid": f"{self.now_ms:x}"})

    def _error(self, msg: str, code: int = 10001) -> Response:
        return self._envelope({}, code, msg)

    def handle(self, req: Request) -> Response:
        method, path, query = req.method, req.path, req.query
        if method == "GET":
            if path == "/v5/market/time":
                now = self.now_ms
                return self._envelope({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})
            if path == "/v5/market/instruments-info":
                return self._instruments(query)
            if path == "/v5/market/kline":
                return self._kline(query)
            if path == "/v5/market/recent-trade":
                return self._recent_trades(query)
            if path == "/v5/market/orderbook":
                return self._orderbook(query)
            if path == "/v5/market/funding/history":
                return self._funding_history(query)
            if path == "/v5/market/open-interest":
                return self._open_interest(query)
        return json_response({}, status=404)

    # -- instruments --------------------------------------------------------------------------------
    def _instruments(self, query: dict[str, str]) -> Response:
        category = query.get("category")
        if not category:
            return self._error("params error: Category is null")
        if category not in _CATEGORIES:
            return self._error("Illegal category")
        status = query.get("status")
        markets = [m for m in self.markets() if m.kind == category]
        if status:
            markets = [m for m in markets if self._status(m) == status]
        symbol = query.get("symbol")
        if symbol:
            markets = [m for m in markets if m.id == symbol]
        base_coin = query.get("baseCoin")
        if base_coin:
            markets = [m for m in markets if m.base == base_coin]
        result: dict = {"category": category, "list": [self._instrument(m) for m in markets]}
        if category != "spot":
            result["nextPageCursor"] = ""
        return self._envelope(result)

    @staticmethod
    def _status(m: SimMarket) -> str:
        return "Trading" if m.active else "Closed"

    def _instrument(self, m: SimMarket) -> dict:
        if m.kind == "spot":
            return {
                "symbol": m.id,
                "baseCoin": m.base,
                "quoteCoin": m.quote,
                "innovation": "0",
                "status": self._status(m),
                "marginTrading": "utaOnly" if m.active else "none",
                "stTag": "0",
                "lotSizeFilter": {
                    "basePrecision": m.lot,
                    "quotePrecision": "0.00000001",
                    "minOrderQty": m.min_qty,
                    "maxOrderQty": m.max_qty,
                    "minOrderAmt": "1",
                    "maxOrderAmt": "2000000",
                },
                "priceFilter": {"tickSize": m.tick},
                "riskParameters": {"priceLimitRatioX": "0.005", "priceLimitRatioY": "0.01"},
            }
        linear = m.kind == "linear"
        return {
            "symbol": m.id,
            "contractType": "LinearPerpetual" if linear else "InversePerpetual",
            "status": self._status(m),
            "baseCoin": m.base,
            "quoteCoin": m.quote,
            "launchTime": str(m.listing_ms),
            "deliveryTime": "0" if m.delist_ms is None else str(m.delist_ms),
            "deliveryFeeRate": "",
            "priceScale": str(raw_decimals(m.tick)),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {
                "minPrice": m.tick,
                "maxPrice": "1999999.80" if linear else "999999.00",
                "tickSize": m.tick,
            },
            "lotSizeFilter": {
                "maxOrderQty": m.max_qty,
                "minOrderQty": m.min_qty,
                "qtyStep": m.lot,
                "postOnlyMaxOrderQty": m.max_qty,
                "maxMktOrderQty": m.max_qty,
                "minNotionalValue": "5" if linear else "0",
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": m.settle,
            "copyTrading": "both" if linear else "none",
            "upperFundingRate": "0.005",
            "lowerFundingRate": "-0.005",
            "isPreListing": False,
            "preListingInfo": None,
            "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            "displayName": "",
        }

    # -- kline --------------------------------------------------------------------------------------
    def _kline(self, query: dict[str, str]) -> Response:
        category = query.get("category") or "linear"
        if category not in ("spot", "linear", "inverse"):
            return self._error("Illegal category")
        symbol = query.get("symbol")
        interval = query.get("interval")
        try:
            start = opt_int(query, "start")
            end = opt_int(query, "end")
            limit = opt_int(query, "limit")
        except BadParam as e:
            return self._error(f"params error: {e.name} invalid")
        if not interval or interval not in BYBIT_INTERVALS:
            return self._error("Invalid period!")
        market = next((m for m in self.markets() if m.kind == category and m.id == symbol), None)
        if market is None:
            return self._error("Not supported symbols")
        if limit is None:
            limit = KLINE_DEFAULT
        if limit <= 0:
            return self._error("params error: limit invalid")
        limit = min(limit, KLINE_MAX)
        tf = BYBIT_INTERVALS[interval]
        if start is not None:  # bybit answers from the bar that contains ``start``, not the first one after it
            start = tf.floor(start)
        anchor = "start" if start is not None else "end"
        rows = market.series.select(tf, self.now_ms, start, end, limit, anchor)
        result = {"symbol": market.id, "category": category, "list": self._format(market, rows[::-1])}
        return self._envelope(result)

    @staticmethod
    def _format(m: SimMarket, rows) -> list:
        f = Formats(m)
        out = []
        for r in rows.tolist():
            prices = [
                f.price(r[OPEN], True),
                f.price(r[HIGH], True),
                f.price(r[LOW], True),
                f.price(r[CLOSE], True),
            ]
            if m.kind == "inverse":
                volume, turnover = f.contracts(r[CONTRACTS], True), f.base(r[BASE], True)
            else:
                volume, turnover = f.base(r[BASE], True), f.quote(r[QUOTE], True)
            out.append([str(r[TS]), *prices, volume, turnover])
        return out
