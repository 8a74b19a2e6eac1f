"""Coinbase: the public Advanced Trade (v3 brokerage/market) and v2 data endpoints."""

from __future__ import annotations

import datetime as _dt
import uuid

from ..pricing import BASE, CLOSE, HIGH, LOW, OPEN, TS
from ..timeframes import COINBASE_GRANULARITIES
from ..universe import ASSETS, SimMarket
from .coinbase_data import CoinbaseMarketData
from .common import BadParam, Formats, Request, Response, Venue, json_response, opt_int

# real per-request cap of the candles endpoint (a range spanning more buckets is rejected)
CANDLES_MAX = 350

_HOSTS = ("api.coinbase.com",)
_PRODUCTS = "/api/v3/brokerage/market/products"
_FIAT = [("USD", "US Dollar", "0.01"), ("EUR", "Euro", "0.01"), ("GBP", "British Pound", "0.01")]
_B32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32 = f"bc1[{_B32}]([{_B32}]{{38}}|[{_B32}]{{58}})"
_BTC_ADDRESS = f"^([13][a-km-zA-HJ-NP-Z1-9]{{25,34}})|^({_BECH32})$"
_RANGE_INVALID = "start and end argument is invalid - "
_EVM_ADDRESS = "^(?:0x)?[0-9a-fA-F]{40}$"
_CRYPTO_NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "USDT": "Tether", "LUNA": "Terra", "USDC": "USDC"}
_CRYPTO_COLORS = {"BTC": "#F7931A", "ETH": "#627EEA", "USDT": "#22A079", "LUNA": "#F9D85E", "USDC": "#2775CA"}


def _error(status: int, error: str, details: str) -> Response:
    return json_response({"error": error, "error_details": details, "message": details}, status=status)


def _iso(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Coinbase(CoinbaseMarketData, Venue):
    name = "coinbase"

    def handles(self, host: str) -> bool:
        return host in _HOSTS

    def handle(self, req: Request) -> Response:
        path, query = req.path, req.query
        if req.method == "GET":
            if path == "/v2/currencies":
                return json_response({"data": [{"id": c, "name": n, "min_size": s} for c, n, s in _FIAT]})
            if path == "/v2/currencies/crypto":
                return json_response({"data": self._crypto()})
            if path == "/v2/exchange-rates":
                return self._rates(query)
            if path == "/v2/time":
                now = self.now_ms
                return json_response({"data": {"iso": _iso(now), "epoch": now // 1000}})
            if path == "/api/v3/brokerage/time":
                now = self.now_ms
                body = {"iso": _iso(now), "epochSeconds": str(now // 1000), "epochMillis": str(now)}
                return json_response(body)
            if path == _PRODUCTS:
                return self._products(req)
            if path.startswith(_PRODUCTS + "/"):
                rest = path[len(_PRODUCTS) + 1 :].split("/")
                if len(rest) == 1:
                    return self._product(rest[0])
                if len(rest) == 2 and rest[1] == "candles":
                    return self._candles(rest[0], query)
                if len(rest) == 2 and rest[1] == "ticker":
                    return self._market_trades(rest[0], query)
            if path == "/api/v3/brokerage/market/product_book":
                return self._product_book(query)
        return _error(404, "NOT_FOUND", "Not Found")

    # -- v2 -----------------------------------------------------------------------------------------
    def _crypto_codes(self) -> list[str]:
        codes: list[str] = []
        for m in self.sim.markets[self.name]:
            for code in (m.base, m.quote):
                if code not in codes and code not in {c for c, _, _ in _FIAT}:
                    codes.append(code)
        return codes

    def _crypto(self) -> list[dict]:
        out = []
        for i, code in enumerate(self._crypto_codes()):
            out.append(
                {
                    "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "coinbase-asset:" + code)),
                    "code": code,
                    "name": _CRYPTO_NAMES.get(code, code),
                    "color": _CRYPTO_COLORS.get(code, "#0052FF"),
                    "sort_index": 100 + i,
                    "exponent": 8,
                    "type": "crypto",
                    "address_regex": _BTC_ADDRESS if code == "BTC" else _EVM_ADDRESS,
                }
            )
        return out

    def _rates(self, query: dict[str, str]) -> Response:
        currency = query.get("currency") or "USD"
        rates: dict[str, str] = {}
        for code, _, _ in _FIAT:
            rates[code] = {"USD": "1.0", "EUR": "0.92", "GBP": "0.79"}[code]
        for code in self._crypto_codes():
            level = ASSETS.get(code, (1.0, 0.0))[0]
            rates[code] = f"{1.0 / level:.12f}".rstrip("0")
        return json_response({"data": {"currency": currency, "rates": rates}})

    # -- products -----------------------------------------------------------------------------------
    def _products(self, req: Request) -> Response:
        query = req.query
        product_type = query.get("product_type") or "SPOT"
        if product_type not in ("SPOT", "FUTURE", "UNKNOWN_PRODUCT_TYPE"):
            return _error(400, "INVALID_ARGUMENT", f"invalid value for enum type: {product_type!r}")
        markets = self.markets() if product_type != "FUTURE" else []
        ids = [v for k, v in req.pairs if k == "product_ids"]
        if ids:
            markets = [m for m in markets if m.id in ids]
        products = [self._product_json(m) for m in markets]
        return json_response({"products": products, "num_products": len(products)})

    def _product(self, product_id: str) -> Response:
        market = next((m for m in self.markets() if m.id == product_id), None)
        if market is None:
            return _error(404, "NOT_FOUND", "ProductID is invalid")
        return json_response(self._product_json(market))

    def _product_json(self, m: SimMarket) -> dict:
        price_units = self.last_price_units(m)
        f = Formats(m)
        price = "" if price_units is None else f.price(price_units, True)
        active = m.active
        return {
            "product_id": m.id,
            "price": price,
            "price_percentage_change_24h": "0",
            "volume_24h": "0",
            "volume_percentage_change_24h": "0",
            "base_increment": m.lot,
            "quote_increment": m.tick,
            "quote_min_size": "1",
            "quote_max_size": "150000000",
            "base_min_size": m.min_qty,
            "base_max_size": m.max_qty,
            "base_name": _CRYPTO_NAMES.get(m.base, m.base),
            "quote_name": "US Dollar" if m.quote == "USD" else _CRYPTO_NAMES.get(m.quote, m.quote),
            "watched": False,
            "is_disabled": not active,
            "new": False,
            "status": "online" if active else "delisted",
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": not active,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": m.quote,
            "base_currency_id": m.base,
            "fcm_trading_session_details": None,
            "mid_market_price": "",
            "alias": "",
            "alias_to": [],
            "base_display_symbol": m.base,
            "quote_display_symbol": m.quote,
            "view_only": False,
            "price_increment": m.tick,
            "display_name": f"{m.base}-{m.quote}",
            "product_venue": "CBE",
            "approximate_quote_24h_volume": "0",
            "new_at": _iso(m.listing_ms),
        }

    # -- candles ------------------------------------------------------------------------------------
    def _candles(self, product_id: str, query: dict[str, str]) -> Response:
        market = next((m for m in self.markets() if m.id == product_id), None)
        if market is None:
            return _error(404, "NOT_FOUND", "ProductID is invalid")
        granularity = query.get("granularity")
        if not granularity:
            return _error(400, "INVALID_ARGUMENT", "granularity is required")
        tf = COINBASE_GRANULARITIES.get(granularity)
        if tf is None:
            return _error(400, "INVALID_ARGUMENT", f"invalid value for enum type: {granularity!r}")
        try:
            start = opt_int(query, "start")
            end = opt_int(query, "end")
            limit = opt_int(query, "limit")
        except BadParam as e:
            return _error(400, "INVALID_ARGUMENT", f"invalid {e.name}")
        if start is None or end is None:
            missing = "start" if start is None else "end"
            return _error(400, "INVALID_ARGUMENT", f"{missing} is required")
        if end < start:
            return _error(400, "INVALID_ARGUMENT", _RANGE_INVALID + "end must be after start")
        if (end - start) * 1000 // tf.ms > CANDLES_MAX:
            return _error(
                400,
                "INVALID_ARGUMENT",
                _RANGE_INVALID + f"number of candles requested should be less than {CANDLES_MAX}",
            )
        limit = CANDLES_MAX if limit is None or limit <= 0 else min(limit, CANDLES_MAX)
        rows = market.series.select(tf, self.now_ms, start * 1000, end * 1000, limit, "end")
        f = Formats(market)
        base_scale = f.base_at_lot or f.base
        candles = []
        for r in rows[::-1].tolist():
            candles.append(
                {
                    "start": str(r[TS] // 1000),
                    "low": f.price(r[LOW], True),
                    "high": f.price(r[HIGH], True),
                    "open": f.price(r[OPEN], True),
                    "close": f.price(r[CLOSE], True),
                    "volume": base_scale(r[BASE]),
                }
            )
        return json_response({"candles": candles})
