"""Binance spot (api), USDⓈ-M futures (fapi), COIN-M futures (dapi) and options (eapi) public REST."""

from __future__ import annotations

from decimal import Decimal

from ..pricing import (
    BASE,
    CLOSE,
    CONTRACTS,
    HIGH,
    LOW,
    OPEN,
    QUOTE,
    TB_BASE,
    TB_CONTRACTS,
    TB_QUOTE,
    TRADES,
    TS,
)
from ..timeframes import BINANCE_INTERVALS
from ..universe import SimMarket
from .binance_data import BinanceMarketData
from .common import (
    BadParam,
    Formats,
    Request,
    Response,
    Venue,
    json_response,
    opt_int,
    raw_decimals,
    text_response,
)

PERPETUAL_DELIVERY = 4_133_404_800_000

# real per-request caps of the klines endpoints
KLINES_DEFAULT = 500
KLINES_MAX = {"spot": 1000, "linear": 1500, "inverse": 1500}

_API_OF_HOST = {
    "api.binance.com": "spot",
    "api1.binance.com": "spot",
    "api2.binance.com": "spot",
    "api3.binance.com": "spot",
    "api4.binance.com": "spot",
    "api-gcp.binance.com": "spot",
    "data-api.binance.vision": "spot",
    "fapi.binance.com": "linear",
    "dapi.binance.com": "inverse",
    "eapi.binance.com": "option",
}
_PREFIX = {"spot": "/api/v3/", "linear": "/fapi/v1/", "inverse": "/dapi/v1/", "option": "/eapi/v1/"}

_SPOT_ORDER_TYPES = [
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]
_FUT_ORDER_TYPES = [
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
]


def _err(code: int, msg: str, status: int = 400) -> Response:
    return json_response({"code": code, "msg": msg}, status=status)


def _fix(text: str, decimals: int = 8) -> str:
    return f"{Decimal(text):.{decimals}f}"


class Binance(BinanceMarketData, Venue):
    name = "binance"

    def handles(self, host: str) -> bool:
        return host in _API_OF_HOST

    def _headers(self, api: str) -> dict[str, str]:
        weight = str(self.sim.weight_counter(self.name))
        if api == "spot":
            return {"x-mbx-used-weight": weight, "x-mbx-used-weight-1m": weight}
        return {"X-MBX-USED-WEIGHT-1M": weight}

    def handle(self, req: Request) -> Response:
        method, host, path, query = req.method, req.host, req.path, req.query
        api = _API_OF_HOST[host]
        prefix = _PREFIX[api]
        if method == "GET" and path == "/futures/data/openInterestHist" and api in ("linear", "inverse"):
            return self._with_headers(api, self._open_interest_hist(api, query))
        if method != "GET" or not path.startswith(prefix):
            return self._not_found()
        endpoint = path[len(prefix) :]
        if api != "option" and endpoint in _MARKET_DATA:
            return self._with_headers(api, _MARKET_DATA[endpoint](self, api, query))
        if endpoint == "ping":
            resp = json_response({})
        elif endpoint == "time":
            resp = json_response({"serverTime": self.now_ms})
        elif endpoint == "exchangeInfo":
            resp = self._exchange_info(api, query)
        elif endpoint in ("klines", "uiKlines") and api != "option":
            resp = self._klines(api, query)
        else:
            return self._not_found()
        return self._with_headers(api, resp)

    def _with_headers(self, api: str, resp: Response) -> Response:
        if resp.status == 200 or resp.status == 400:
            resp.headers.update(self._headers(api))
            resp.headers["Content-Type"] = "application/json;charset=UTF-8"
        return resp

    @staticmethod
    def _not_found() -> Response:
        return text_response("<html><body><h2>404 Not found</h2></body></html>", 404, "text/html")

    def _api_markets(self, api: str) -> list[SimMarket]:
        return [m for m in self.markets() if m.kind == api]

    # -- exchangeInfo -------------------------------------------------------------------------------
    def _exchange_info(self, api: str, query: dict[str, str]) -> Response:
        now = self.now_ms
        if api == "option":
            return json_response(
                {
                    "timezone": "UTC",
                    "serverTime": now,
                    "optionContracts": [],
                    "optionAssets": [],
                    "optionSymbols": [],
                    "rateLimits": [],
                }
            )
        markets = self._api_markets(api)
        wanted = query.get("symbol")
        if wanted:
            markets = [m for m in markets if m.id == wanted]
            if not markets:
                return _err(-1121, "Invalid symbol.")
        if api == "spot":
            return json_response(
                {
                    "timezone": "UTC",
                    "serverTime": now,
                    "rateLimits": [
                        {
                            "rateLimitType": "REQUEST_WEIGHT",
                            "interval": "MINUTE",
                            "intervalNum": 1,
                            "limit": 6000,
                        },
                        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                        {
                            "rateLimitType": "RAW_REQUESTS",
                            "interval": "MINUTE",
                            "intervalNum": 5,
                            "limit": 61000,
                        },
                    ],
                    "exchangeFilters": [],
                    "symbols": [self._spot_symbol(m) for m in markets],
                }
            )
        limit = 2400 if api == "linear" else 6000
        info = {
            "timezone": "UTC",
            "serverTime": now,
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": limit},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "symbols": [self._futures_symbol(m) for m in markets],
        }
        if api == "linear":
            info["futuresType"] = "U_MARGINED"
            info["assets"] = [
                {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
                {"asset": "BTC", "marginAvailable": True, "autoAssetExchange": "-0.10000000"},
            ]
        return json_response(info)

    def _spot_symbol(self, m: SimMarket) -> dict:
        return {
            "symbol": m.id,
            "status": "TRADING" if m.active else "BREAK",
            "baseAsset": m.base,
            "baseAssetPrecision": 8,
            "quoteAsset": m.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": _SPOT_ORDER_TYPES,
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "amendAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": m.active,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": _fix(m.tick),
                    "maxPrice": "1000000.00000000",
                    "tickSize": _fix(m.tick),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": _fix(m.min_qty),
                    "maxQty": _fix(m.max_qty),
                    "stepSize": _fix(m.lot),
                },
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": "0.00000000",
                    "maxQty": _fix(m.max_qty),
                    "stepSize": "0.00000000",
                },
                {
                    "filterType": "TRAILING_DELTA",
                    "minTrailingAboveDelta": 10,
                    "maxTrailingAboveDelta": 2000,
                    "minTrailingBelowDelta": 10,
                    "maxTrailingBelowDelta": 2000,
                },
                {
                    "filterType": "PERCENT_PRICE_BY_SIDE",
                    "bidMultiplierUp": "5",
                    "bidMultiplierDown": "0.2",
                    "askMultiplierUp": "5",
                    "askMultiplierDown": "0.2",
                    "avgPriceMins": 5,
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": "5.00000000",
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [],
            "permissionSets": [["SPOT", "MARGIN"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def _futures_symbol(self, m: SimMarket) -> dict:
        price_precision = raw_decimals(m.tick)
        qty_precision = raw_decimals(m.lot)
        filters = [
            {"minPrice": m.tick, "maxPrice": "4529764", "filterType": "PRICE_FILTER", "tickSize": m.tick},
            {"stepSize": m.lot, "filterType": "LOT_SIZE", "maxQty": m.max_qty, "minQty": m.min_qty},
            {"stepSize": m.lot, "filterType": "MARKET_LOT_SIZE", "maxQty": m.max_qty, "minQty": m.min_qty},
            {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
            {"limit": 10, "filterType": "MAX_NUM_ALGO_ORDERS"},
        ]
        if m.kind == "linear":
            filters.append({"notional": "100", "filterType": "MIN_NOTIONAL"})
        filters.append(
            {
                "multiplierDown": "0.9500",
                "multiplierUp": "1.0500",
                "multiplierDecimal": "4",
                "filterType": "PERCENT_PRICE",
            }
        )
        status = "TRADING" if m.active else "SETTLING"
        out = {
            "symbol": m.id,
            "pair": m.id.split("_")[0],
            "contractType": "PERPETUAL",
            "deliveryDate": PERPETUAL_DELIVERY,
            "onboardDate": m.listing_ms,
        }
        if m.kind == "linear":
            out["status"] = status
        else:
            out["contractStatus"] = status
            out["contractSize"] = int(m.contract_size)
        out.update(
            {
                "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000",
                "baseAsset": m.base,
                "quoteAsset": m.quote,
                "marginAsset": m.settle,
                "pricePrecision": price_precision,
                "quantityPrecision": qty_precision,
                "baseAssetPrecision": 8,
                "quotePrecision": 8,
                "underlyingType": "COIN",
                "underlyingSubType": ["PoW"] if m.base == "BTC" else ["Layer-1"],
                "triggerProtect": "0.0500",
                "liquidationFee": "0.012500" if m.kind == "linear" else "0.015000",
                "marketTakeBound": "0.05",
                "maxMoveOrderLimit": 10000,
                "filters": filters,
                "orderTypes": _FUT_ORDER_TYPES,
                "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"]
                if m.kind == "linear"
                else ["GTC", "IOC", "FOK", "GTX"],
            }
        )
        if m.kind == "inverse":
            out["equalQtyPrecision"] = 4
        return out

    # -- klines -------------------------------------------------------------------------------------
    def _klines(self, api: str, query: dict[str, str]) -> Response:
        symbol = query.get("symbol")
        if not symbol:
            return _err(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        interval = query.get("interval")
        if not interval:
            return _err(-1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.")
        try:
            start = opt_int(query, "startTime")
            end = opt_int(query, "endTime")
            limit = opt_int(query, "limit")
        except BadParam as e:
            msg = f"Illegal characters found in parameter '{e.name}'; legal range is '^[0-9]{{1,20}}$'."
            return _err(-1100, msg)
        market = next((m for m in self._api_markets(api) if m.id == symbol), None)
        if market is None:
            return _err(-1121, "Invalid symbol.")
        tf = BINANCE_INTERVALS.get(interval)
        if tf is None:
            return _err(-1120, "Invalid interval.")
        if limit is None:
            limit = KLINES_DEFAULT
        if limit <= 0:
            return _err(-1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, KLINES_MAX[api])
        if start is not None and end is not None and start > end:
            return _err(-1023, "Start time is greater than end time.")
        anchor = "start" if start is not None else "end"
        rows = market.series.select(tf, self.now_ms, start, end, limit, anchor)
        return json_response(self._format(market, tf, rows))

    def _format(self, m: SimMarket, tf, rows) -> list:
        if m.kind == "spot":
            f = Formats(m, price_decimals=8)
            out = []
            for r in rows.tolist():
                ts = r[TS]
                out.append(
                    [
                        ts,
                        f.price(r[OPEN]),
                        f.price(r[HIGH]),
                        f.price(r[LOW]),
                        f.price(r[CLOSE]),
                        f.base(r[BASE]),
                        tf.end(ts) - 1,
                        f.quote(r[QUOTE]) + "00",
                        r[TRADES],
                        f.base(r[TB_BASE]),
                        f.quote(r[TB_QUOTE]) + "00",
                        "0",
                    ]
                )
            return out
        f = Formats(m)
        out = []
        if m.kind == "linear":
            for r in rows.tolist():
                ts = r[TS]
                out.append(
                    [
                        ts,
                        f.price(r[OPEN]),
                        f.price(r[HIGH]),
                        f.price(r[LOW]),
                        f.price(r[CLOSE]),
                        f.base_at_lot(r[BASE]),
                        tf.end(ts) - 1,
                        f.quote(r[QUOTE]),
                        r[TRADES],
                        f.base_at_lot(r[TB_BASE]),
                        f.quote(r[TB_QUOTE]),
                        "0",
                    ]
                )
            return out
        for r in rows.tolist():
            ts = r[TS]
            out.append(
                [
                    ts,
                    f.price(r[OPEN]),
                    f.price(r[HIGH]),
                    f.price(r[LOW]),
                    f.price(r[CLOSE]),
                    f.contracts(r[CONTRACTS]),
                    tf.end(ts) - 1,
                    f.base(r[BASE]),
                    r[TRADES],
                    f.contracts(r[TB_CONTRACTS]),
                    f.base(r[TB_BASE]),
                    "0",
                ]
            )
        return out


_MARKET_DATA = {
    "aggTrades": lambda venue, api, query: venue._agg_trades(api, query),
    "trades": lambda venue, api, query: venue._plain_trades(api, query, historical=False),
    "historicalTrades": lambda venue, api, query: venue._plain_trades(api, query, historical=True),
    "depth": lambda venue, api, query: venue._depth(api, query),
    "fundingRate": lambda venue, api, query: venue._funding_rate(api, query) if api != "spot" else venue._not_found(),
}
