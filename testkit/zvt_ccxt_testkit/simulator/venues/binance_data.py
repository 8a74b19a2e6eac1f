"""Binance public trades, order books, funding rate history and open interest statistics.

Endpoints and their real rules: ``aggTrades`` (limit default 500, max 1000; ``startTime``..``endTime`` at
most one hour apart, and a window holding more than ``limit`` trades answers with its *last* trades;
``fromId`` cannot be combined with a time window), ``trades`` and ``historicalTrades`` (by id), ``depth``
(spot: limit up to 5000; futures: only 5, 10, 20, 50, 100, 500, 1000), ``fundingRate`` (fapi/dapi; limit
default 100, max 1000, ascending from ``startTime``), and ``/futures/data/openInterestHist`` (limit default 30,
max 500, only the latest 30 days).
"""

from __future__ import annotations

import numpy as np

from .. import derivatives, tape
from ..timeframes import BINANCE_INTERVALS, DAY_MS, HOUR_MS
from ..universe import SimMarket
from .common import BadParam, Formats, Response, json_response, opt_int

AGG_TRADES_DEFAULT, AGG_TRADES_MAX = 500, 1000
TRADES_MAX = {"spot": 1000, "linear": 500, "inverse": 500}
FUTURES_DEPTHS = (5, 10, 20, 50, 100, 500, 1000)
FUNDING_DEFAULT, FUNDING_MAX = 100, 1000
OPEN_INTEREST_DEFAULT, OPEN_INTEREST_MAX = 30, 500
OPEN_INTEREST_DAYS = 30
OPEN_INTEREST_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")


def _err(code: int, msg: str, status: int = 400) -> Response:
    return json_response({"code": code, "msg": msg}, status=status)


def _bad_param(name: str) -> Response:
    return _err(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")


def _missing(name: str) -> Response:
    return _err(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


class BinanceMarketData:
    """Mixed into the binance venue: needs ``now_ms`` and ``_api_markets``."""

    def _market_of(self, api: str, query: dict[str, str], key: str = "symbol") -> SimMarket | Response:
        wanted = query.get(key)
        if not wanted:
            return _missing(key)
        market = next((m for m in self._api_markets(api) if m.id == wanted or m.id.split("_")[0] == wanted), None)
        return _err(-1121, "Invalid symbol.") if market is None else market

    @staticmethod
    def _formats(m: SimMarket) -> Formats:
        return Formats(m, price_decimals=8) if m.kind == "spot" else Formats(m)

    @staticmethod
    def _amount(m: SimMarket, f: Formats, lots: int) -> str:
        text = f.contracts(lots)
        return f"{float(text):.8f}" if m.kind == "spot" else text

    # -- trades -------------------------------------------------------------------------------------
    def _agg_trades(self, api: str, query: dict[str, str]) -> Response:
        market = self._market_of(api, query)
        if isinstance(market, Response):
            return market
        try:
            from_id, start, end = opt_int(query, "fromId"), opt_int(query, "startTime"), opt_int(query, "endTime")
            limit = opt_int(query, "limit")
        except BadParam as e:
            return _bad_param(e.name)
        limit = AGG_TRADES_DEFAULT if limit is None else limit
        if limit <= 0:
            return _err(-1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, AGG_TRADES_MAX)
        if from_id is not None and (start is not None or end is not None):
            return _err(-1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None:
            if end < start:
                return _err(-1023, "Start time is greater than end time.")
            if end - start > HOUR_MS:
                return _err(-1127, "More than 1 hours between startTime and endTime.")
            window = tape.between(market.series, start, end + 1, self.now_ms)
            trades = window.take(slice(max(0, len(window) - limit), len(window)))
        elif from_id is not None:
            trades = tape.forward(market.series, self.now_ms, limit, from_id=from_id)
        elif start is not None:
            trades = tape.forward(market.series, self.now_ms, limit, from_ts=start)
        elif end is not None:
            trades = tape.backward(market.series, self.now_ms, limit, before_ts=end + 1)
        else:
            trades = tape.backward(market.series, self.now_ms, limit)
        f = self._formats(market)
        out = []
        for ts, tid, price, lots, buy in zip(*_columns(trades), strict=True):
            row = {
                "a": tid,
                "p": f.price(price),
                "q": self._amount(market, f, lots),
                "f": tid,
                "l": tid,
                "T": ts,
                "m": not buy,
            }
            if market.kind == "spot":
                row["M"] = True
            out.append(row)
        return json_response(out)

    def _plain_trades(self, api: str, query: dict[str, str], historical: bool) -> Response:
        market = self._market_of(api, query)
        if isinstance(market, Response):
            return market
        try:
            from_id, limit = opt_int(query, "fromId"), opt_int(query, "limit")
        except BadParam as e:
            return _bad_param(e.name)
        limit = min(500 if limit is None else limit, TRADES_MAX[api])
        if limit <= 0:
            return _err(-1130, "Data sent for parameter 'limit' is not valid.")
        if historical and from_id is not None:
            trades = tape.forward(market.series, self.now_ms, limit, from_id=from_id)
        else:
            trades = tape.backward(market.series, self.now_ms, limit)
        f = self._formats(market)
        out = []
        for ts, tid, price, lots, buy in zip(*_columns(trades), strict=True):
            qty = self._amount(market, f, lots)
            quote = float(f.price(price)) * float(qty)
            out.append(
                {
                    "id": tid,
                    "price": f.price(price),
                    "qty": qty,
                    "quoteQty": f"{quote:.8f}",
                    "time": ts,
                    "isBuyerMaker": not buy,
                    "isBestMatch": True,
                }
            )
        return json_response(out)

    # -- order book ---------------------------------------------------------------------------------
    def _depth(self, api: str, query: dict[str, str]) -> Response:
        market = self._market_of(api, query)
        if isinstance(market, Response):
            return market
        try:
            limit = opt_int(query, "limit")
        except BadParam as e:
            return _bad_param(e.name)
        if api == "spot":
            limit = 100 if limit is None else limit
            if limit <= 0:
                return _err(-1130, "Data sent for parameter 'limit' is not valid.")
            limit = min(limit, 5000)
        else:
            limit = 500 if limit is None else limit
            if limit not in FUTURES_DEPTHS:
                return _err(-1130, "Data sent for parameter 'limit' is not valid.")
        now = self.now_ms
        last = self.last_price_units(market)
        bids, asks = derivatives.order_book(market, last or 1, limit, now) if last else ([], [])
        f = self._formats(market)
        body = {"lastUpdateId": derivatives.update_id(market, now)}
        if api != "spot":
            body.update({"E": now, "T": now - 3})
            if api == "inverse":
                body.update({"symbol": market.id, "pair": market.id.split("_")[0]})
        body["bids"] = [[f.price(p), self._amount(market, f, s)] for p, s in bids]
        body["asks"] = [[f.price(p), self._amount(market, f, s)] for p, s in asks]
        return json_response(body)

    # -- funding ------------------------------------------------------------------------------------
    def _funding_rate(self, api: str, query: dict[str, str]) -> Response:
        market = self._market_of(api, query)
        if isinstance(market, Response):
            return market
        try:
            start, end, limit = opt_int(query, "startTime"), opt_int(query, "endTime"), opt_int(query, "limit")
        except BadParam as e:
            return _bad_param(e.name)
        limit = FUNDING_DEFAULT if limit is None else limit
        if limit <= 0:
            return _err(-1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, FUNDING_MAX)
        now = self.now_ms
        times = derivatives.funding_times(market, 0 if start is None else start, (now if end is None else end) + 1, now)
        times = times[:limit] if start is not None else times[-limit:]
        rates = derivatives.funding_rates(market, times)
        marks = derivatives.mark_prices(market, times)
        f = self._formats(market)
        tick = float(market.tick)
        out = []
        for t, rate, mark in zip(times.tolist(), rates.tolist(), marks.tolist(), strict=True):
            row = {"symbol": market.id, "fundingTime": t, "fundingRate": f"{rate:.8f}"}
            if api == "linear":
                row["markPrice"] = f.price(round(mark / tick))
            out.append(row)
        return json_response(out)

    # -- open interest ------------------------------------------------------------------------------
    def _open_interest_hist(self, api: str, query: dict[str, str]) -> Response:
        market = self._market_of(api, query, "symbol" if api == "linear" else "pair")
        if isinstance(market, Response):
            return market
        period = query.get("period")
        if not period:
            return _missing("period")
        if period not in OPEN_INTEREST_PERIODS:
            return _err(-1120, "Invalid period.")
        try:
            start, end, limit = opt_int(query, "startTime"), opt_int(query, "endTime"), opt_int(query, "limit")
        except BadParam as e:
            return _bad_param(e.name)
        limit = OPEN_INTEREST_DEFAULT if limit is None else limit
        if limit <= 0:
            return _err(-1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, OPEN_INTEREST_MAX)
        contract_type = query.get("contractType", "PERPETUAL")
        if api == "inverse" and contract_type not in ("PERPETUAL", "ALL"):
            return json_response([])
        now = self.now_ms
        step = BINANCE_INTERVALS[period].ms
        oldest = max(market.listing_ms, now - OPEN_INTEREST_DAYS * DAY_MS)
        times = derivatives.period_times(0 if start is None else start, now if end is None else end, step, now, oldest)
        times = times[:limit] if start is not None else times[-limit:]
        contracts, base, value = derivatives.open_interest(market, times)
        out = []
        for i, t in enumerate(times.tolist()):
            if api == "linear":
                row = {
                    "symbol": market.id,
                    "sumOpenInterest": f"{base[i]:.8f}",
                    "sumOpenInterestValue": f"{value[i]:.8f}",
                    "CMCCirculatingSupply": "19870000.0",
                    "timestamp": t,
                }
            else:
                row = {
                    "pair": market.id.split("_")[0],
                    "contractType": "PERPETUAL",
                    "sumOpenInterest": f"{contracts[i]:.8f}",
                    "sumOpenInterestValue": f"{base[i]:.8f}",
                    "timestamp": t,
                }
            out.append(row)
        return json_response(out)


def _columns(trades: tape.Tape) -> tuple[list, ...]:
    return (
        trades.ts.tolist(),
        trades.id.tolist(),
        trades.price.tolist(),
        trades.lots.tolist(),
        np.asarray(trades.buy).tolist(),
    )
