"""OKX v5 public REST."""

from __future__ import annotations

from ..pricing import BASE, CLOSE, CONTRACTS, HIGH, LOW, OPEN, QUOTE, TS, stable_hash
from ..timeframes import OKX_BARS
from ..universe import SimMarket
from .common import BadParam, Formats, Request, Response, Venue, json_response, opt_int
from .okx_data import OkxMarketData

# real per-request caps
CANDLES_DEFAULT = 100
CANDLES_MAX = 300
HISTORY_CANDLES_MAX = 300
RECENT_CANDLES_WINDOW = 1440  # /market/candles only serves the latest 1440 bars

_HOSTS = ("www.okx.com", "aws.okx.com", "my.okx.com", "app.okx.com", "eea.okx.com", "us.okx.com")
_INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")


def _ok(data: list) -> Response:
    return json_response({"code": "0", "data": data, "msg": ""})


def _err(code: str, msg: str, status: int) -> Response:
    return json_response({"code": code, "data": [], "msg": msg}, status=status)


def _empty_param(name: str) -> Response:
    return _err("50014", f"Parameter {name} can not be empty.", 400)


def _param_error(name: str) -> Response:
    return _err("51000", f"Parameter {name} error", 400)


def _unknown_instrument() -> Response:
    return _err("51001", "Instrument ID or Spread ID doesn't exist.", 200)


class Okx(OkxMarketData, Venue):
    name = "okx"

    def handles(self, host: str) -> bool:
        return host in _HOSTS

    def handle(self, req: Request) -> Response:
        method, path, query = req.method, req.path, req.query
        if method == "GET":
            if path == "/api/v5/public/time":
                return _ok([{"ts": str(self.now_ms)}])
            if path == "/api/v5/public/instruments":
                return self._instruments(query)
            if path == "/api/v5/market/candles":
                return self._candles(query, history=False)
            if path == "/api/v5/market/history-candles":
                return self._candles(query, history=True)
            if path in ("/api/v5/market/trades", "/api/v5/market/history-trades"):
                return self._trades(query, history=path.endswith("history-trades"))
            if path == "/api/v5/market/books":
                return self._books(query)
            if path == "/api/v5/public/funding-rate-history":
                return self._funding_history(query)
            if path == "/api/v5/rubik/stat/contracts/open-interest-volume":
                return self._open_interest_volume(query)
            if path == "/api/v5/rubik/stat/contracts/open-interest-history":
                return self._open_interest_history(query)
        return json_response({"msg": "Not Found", "code": "404"}, status=404)

    # -- instruments --------------------------------------------------------------------------------
    @staticmethod
    def _inst_type(m: SimMarket) -> str:
        return "SPOT" if m.kind == "spot" else "SWAP"

    def _instruments(self, query: dict[str, str]) -> Response:
        inst_type = query.get("instType")
        if not inst_type:
            return _empty_param("instType")
        if inst_type not in _INST_TYPES:
            return _param_error("instType")
        family = query.get("instFamily") or query.get("uly")
        if inst_type == "OPTION" and not family:
            return _err("50014", "Parameter instFamily can not be empty.", 400)
        # margin trading pairs are the spot pairs with leverage
        kind_type = "SPOT" if inst_type == "MARGIN" else inst_type
        markets = [m for m in self.markets() if self._inst_type(m) == kind_type]
        if inst_type == "MARGIN":
            markets = [m for m in markets if m.active]
        if family:
            markets = [m for m in markets if m.contract and f"{m.base}-{m.quote}" == family]
        inst_id = query.get("instId")
        if inst_id:
            markets = [m for m in markets if m.id == inst_id]
        return _ok([self._instrument(m, inst_type) for m in markets])

    @staticmethod
    def _instrument(m: SimMarket, inst_type: str) -> dict:
        state = "live" if m.active else "suspend"
        code = stable_hash("okx:" + m.id) % 900_000 + 10_000
        common = {
            "alias": "",
            "auctionEndTime": "",
            "contTdSwTime": "",
            "expTime": "",
            "futureSettlement": False,
            "instIdCode": code,
            "instType": inst_type,
            "listTime": str(m.listing_ms),
            "lotSz": m.lot,
            "maxIcebergSz": "9999999999.0000000000000000",
            "maxTwapSz": "9999999999.0000000000000000",
            "minSz": m.min_qty,
            "openType": "",
            "optType": "",
            "ruleType": "normal",
            "state": state,
            "stk": "",
            "tickSz": m.tick,
            "tradeQuoteCcyList": [m.quote] if m.kind == "spot" else [],
        }
        if m.kind == "spot":
            common.update(
                {
                    "baseCcy": m.base,
                    "category": "1",
                    "ctMult": "",
                    "ctType": "",
                    "ctVal": "",
                    "ctValCcy": "",
                    "instFamily": "",
                    "instId": m.id,
                    "lever": "10" if m.active else "",
                    "maxLmtAmt": "20000000",
                    "maxLmtSz": m.max_qty,
                    "maxMktAmt": "1000000",
                    "maxMktSz": "1000000",
                    "maxStopSz": "1000000",
                    "maxTriggerSz": m.max_qty,
                    "quoteCcy": m.quote,
                    "settleCcy": "",
                    "uly": "",
                }
            )
            return common
        family = f"{m.base}-{m.quote}"
        common.update(
            {
                "baseCcy": "",
                "category": "1",
                "ctMult": "1",
                "ctType": m.kind,
                "ctVal": m.contract_size,
                "ctValCcy": m.quote if m.kind == "inverse" else m.base,
                "instFamily": family,
                "instId": m.id,
                "lever": "100" if m.base == "BTC" else "75",
                "maxLmtAmt": "20000000",
                "maxLmtSz": m.max_qty,
                "maxMktAmt": "",
                "maxMktSz": "12000" if m.kind == "linear" else "10000",
                "maxStopSz": "12000",
                "maxTriggerSz": m.max_qty,
                "quoteCcy": "",
                "settleCcy": m.settle,
                "uly": family,
            }
        )
        return common

    # -- candles ------------------------------------------------------------------------------------
    def _candles(self, query: dict[str, str], history: bool) -> Response:
        inst_id = query.get("instId")
        if not inst_id:
            return _empty_param("instId")
        try:
            after = opt_int(query, "after")
            before = opt_int(query, "before")
            limit = opt_int(query, "limit")
        except BadParam as e:
            return _param_error(e.name)
        bar = query.get("bar") or "1m"
        tf = OKX_BARS.get(bar)
        if tf is None:
            return _param_error("bar")
        market = next((m for m in self.markets() if m.id == inst_id), None)
        if market is None:
            return _unknown_instrument()
        if limit is None:
            limit = CANDLES_DEFAULT
        if limit <= 0:
            return _param_error("limit")
        limit = min(limit, HISTORY_CANDLES_MAX if history else CANDLES_MAX)
        now = self.now_ms
        lo = None if before is None else before + 1  # "before": newer than this ts
        hi = None if after is None else after - 1  # "after": older than this ts
        if not history:
            bounds = market.series.bounds(tf, now)
            if bounds is not None:
                oldest = tf.add(bounds[1], -(RECENT_CANDLES_WINDOW - 1))
                lo = oldest if lo is None else max(lo, oldest)
        rows = market.series.select(tf, now, lo, hi, limit, "end")
        return _ok(self._format(market, tf, rows[::-1], now))

    @staticmethod
    def _format(m: SimMarket, tf, rows, now: int) -> list:
        f = Formats(m)
        out = []
        for r in rows.tolist():
            ts = r[TS]
            confirm = "1" if tf.end(ts) <= now else "0"
            o, h, lw, c = (
                f.price(r[OPEN], True),
                f.price(r[HIGH], True),
                f.price(r[LOW], True),
                f.price(r[CLOSE], True),
            )
            quote = f.quote(r[QUOTE], True)
            if m.kind == "spot":
                vol, vol_ccy = f.base(r[BASE], True), quote
            else:
                vol, vol_ccy = f.contracts(r[CONTRACTS], True), f.base(r[BASE], True)
            out.append([str(ts), o, h, lw, c, vol, vol_ccy, quote, confirm])
        return out
