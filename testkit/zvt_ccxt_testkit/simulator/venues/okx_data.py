"""OKX public trades, order books, funding rate history and open interest statistics.

Real rules kept: ``/market/trades`` answers the latest trades (limit max 500); ``/market/history-trades``
pages newest first by trade id (``type=1``, default) or timestamp (``type=2``) with ``after`` (older than)
and ``before`` (newer than; alone it still answers the *newest* page), limit max 100, three months back;
``/market/books`` takes ``sz`` up to 400; ``/public/funding-rate-history`` pages like history-trades by
funding time (limit max 400, three months back); ``/rubik/stat/contracts/open-interest-volume`` is per
currency (``ccy``), in USD, over a period of 5m (two days back), 1H (30 days) or 1D (180 days);
``/rubik/stat/contracts/open-interest-history`` is per instrument (``instId``, swaps and futures only) as
``[ts, contracts, base currency, USD]`` rows, newest first, strictly between ``begin`` and ``end``, limit
default and max 100, over the latest 1,440 periods (the one in progress included) of any candle bar size
but 1m and 3m (``1D`` from 2024-01-01 on, the others from February 2024). Bars of 6H and longer open at
00:00 UTC+8 unless their name ends in ``utc``.
"""

from __future__ import annotations

import numpy as np

from .. import derivatives, tape
from ..timeframes import DAY_MS, HK_SHIFT_MS, HOUR_MS, MINUTE_MS, OKX_BARS, Timeframe, fixed
from ..universe import SimMarket
from .common import BadParam, Formats, Response, json_response, opt_int

TRADES_DEFAULT, TRADES_MAX = 100, 500
HISTORY_TRADES_MAX = 100
BOOKS_MAX = 400
FUNDING_MAX = 400
HISTORY_DAYS = 90
RUBIK_PERIODS = {"5m": (5 * MINUTE_MS, 2 * DAY_MS), "1H": (HOUR_MS, 30 * DAY_MS), "1D": (DAY_MS, 180 * DAY_MS)}
#: the bar sizes of contract open interest history: the candles' but 1m and 3m, and 5D besides
CONTRACT_OI_PERIODS: dict[str, Timeframe] = {
    **{name: bar for name, bar in OKX_BARS.items() if name not in ("1m", "3m")},
    "5D": fixed(5 * DAY_MS, -HK_SHIFT_MS),
    "5Dutc": fixed(5 * DAY_MS),
}
CONTRACT_OI_ENTRIES = 1440
CONTRACT_OI_LIMIT = 100
#: where the statistics begin: daily ones on 2024-01-01, the others in "early February 2024" (taken as the 1st)
CONTRACT_OI_DAILY_FROM_MS = 1_704_067_200_000
CONTRACT_OI_FROM_MS = 1_706_745_600_000


def _ok(data: list) -> Response:
    return json_response({"code": "0", "data": data, "msg": ""})


def _err(code: str, msg: str, status: int) -> Response:
    return json_response({"code": code, "data": [], "msg": msg}, status=status)


def _param_error(name: str) -> Response:
    return _err("51000", f"Parameter {name} error", 400)


def _unknown_instrument() -> Response:
    return _err("51001", "Instrument ID or Spread ID doesn't exist.", 200)


def _page(values: np.ndarray, after: int | None, before: int | None, limit: int) -> np.ndarray:
    """OKX cursor semantics over ascending ``values``: the newest ``limit`` strictly between the cursors."""
    keep = np.ones(len(values), dtype=bool)
    if after is not None:
        keep &= values < after
    if before is not None:
        keep &= values > before
    index = np.flatnonzero(keep)
    return index[-limit:]


class OkxMarketData:
    """Mixed into the okx venue: needs ``now_ms`` and ``markets``."""

    def _market_of_query(self, query: dict[str, str]) -> SimMarket | Response:
        inst_id = query.get("instId")
        if not inst_id:
            return _err("50014", "Parameter instId can not be empty.", 400)
        market = next((m for m in self.markets() if m.id == inst_id), None)
        return _unknown_instrument() if market is None else market

    # -- trades -------------------------------------------------------------------------------------
    def _trades(self, query: dict[str, str], history: bool) -> Response:
        market = self._market_of_query(query)
        if isinstance(market, Response):
            return market
        try:
            after, before, limit = opt_int(query, "after"), opt_int(query, "before"), opt_int(query, "limit")
        except BadParam as e:
            return _param_error(e.name)
        kind = query.get("type") or "1"
        if kind not in ("1", "2"):
            return _param_error("type")
        cap = HISTORY_TRADES_MAX if history else TRADES_MAX
        limit = TRADES_DEFAULT if limit is None else limit
        if limit <= 0:
            return _param_error("limit")
        limit = min(limit, cap)
        now = self.now_ms
        series = market.series
        if not history:
            trades = tape.backward(series, now, limit)
        else:
            oldest = now - HISTORY_DAYS * DAY_MS
            # the newest ``limit`` older than ``after``, of which those newer than ``before``
            if kind == "1":
                pool = tape.backward(series, now, limit, before_id=after)
                trades = pool.take(_page(pool.id, None, before, limit))
            else:
                pool = tape.backward(series, now, limit, before_ts=after)
                trades = pool.take(_page(pool.ts, None, before, limit))
            trades = trades.take(trades.ts >= oldest)
        f = Formats(market)
        out = []
        for i in range(len(trades) - 1, -1, -1):
            out.append(
                {
                    "instId": market.id,
                    "side": "buy" if trades.buy[i] else "sell",
                    "sz": f.contracts(int(trades.lots[i]), True),
                    "px": f.price(int(trades.price[i]), True),
                    "source": "0",
                    "tradeId": str(int(trades.id[i])),
                    "ts": str(int(trades.ts[i])),
                }
            )
        return _ok(out)

    # -- order book ---------------------------------------------------------------------------------
    def _books(self, query: dict[str, str]) -> Response:
        market = self._market_of_query(query)
        if isinstance(market, Response):
            return market
        try:
            size = opt_int(query, "sz")
        except BadParam as e:
            return _param_error(e.name)
        size = 1 if size is None else size
        if size <= 0 or size > BOOKS_MAX:
            return _param_error("sz")
        now = self.now_ms
        last = self.last_price_units(market)
        bids, asks = derivatives.order_book(market, last, size, now) if last else ([], [])
        f = Formats(market)

        def levels(side):
            return [[f.price(p, True), f.contracts(s, True), "0", str(1 + s % 7)] for p, s in side]

        return _ok([{"asks": levels(asks), "bids": levels(bids), "ts": str(now - 7)}])

    # -- funding ------------------------------------------------------------------------------------
    def _funding_history(self, query: dict[str, str]) -> Response:
        market = self._market_of_query(query)
        if isinstance(market, Response):
            return market
        if market.kind == "spot":
            return _param_error("instId")
        try:
            after, before, limit = opt_int(query, "after"), opt_int(query, "before"), opt_int(query, "limit")
        except BadParam as e:
            return _param_error(e.name)
        limit = FUNDING_MAX if limit is None else limit
        if limit <= 0:
            return _param_error("limit")
        limit = min(limit, FUNDING_MAX)
        now = self.now_ms
        times = derivatives.funding_times(market, now - HISTORY_DAYS * DAY_MS, now + 1, now)
        times = times[_page(times, after, before, limit)]
        rates = derivatives.funding_rates(market, times)
        out = []
        for t, rate in zip(times.tolist()[::-1], rates.tolist()[::-1], strict=True):
            text = f"{rate:.8f}".rstrip("0").rstrip(".")
            out.append(
                {
                    "formulaType": "noRate",
                    "fundingRate": text,
                    "fundingTime": str(t),
                    "instId": market.id,
                    "instType": "SWAP",
                    "method": "current_period",
                    "realizedRate": text,
                }
            )
        return _ok(out)

    # -- open interest ------------------------------------------------------------------------------
    def _open_interest_history(self, query: dict[str, str]) -> Response:
        market = self._market_of_query(query)
        if isinstance(market, Response):
            return market
        if market.kind == "spot":
            return _param_error("instId")
        period = query.get("period") or "5m"
        bar = CONTRACT_OI_PERIODS.get(period)
        if bar is None:
            return _param_error("period")
        try:
            begin, end, limit = opt_int(query, "begin"), opt_int(query, "end"), opt_int(query, "limit")
        except BadParam as e:
            return _param_error(e.name)
        limit = CONTRACT_OI_LIMIT if limit is None else limit
        if limit <= 0:
            return _param_error("limit")
        times = _contract_oi_times(market, bar, period, self.now_ms)
        keep = np.ones(len(times), dtype=bool)
        if begin is not None:
            keep &= times > begin
        if end is not None:
            keep &= times < end
        times = times[keep][-min(limit, CONTRACT_OI_LIMIT) :]
        contracts, base, value = derivatives.open_interest(market, times)
        places = _decimals(market.lot)
        out = [
            [str(t), f"{held:.{places}f}", _trimmed(amount, 4), _trimmed(usd, 2)]
            for t, held, amount, usd in zip(times.tolist(), contracts, base, value, strict=True)
        ]
        return _ok(out[::-1])

    def _open_interest_volume(self, query: dict[str, str]) -> Response:
        currency = query.get("ccy")
        if not currency:
            return _err("50014", "Parameter ccy can not be empty.", 400)
        period = query.get("period") or "5m"
        if period not in RUBIK_PERIODS:
            return _param_error("period")
        try:
            begin, end = opt_int(query, "begin"), opt_int(query, "end")
        except BadParam as e:
            return _param_error(e.name)
        step, lookback = RUBIK_PERIODS[period]
        now = self.now_ms
        contracts = [m for m in self.markets() if m.kind != "spot" and m.base == currency]
        if not contracts:
            return _ok([])
        first = max(now - lookback, min(m.listing_ms for m in contracts))
        times = derivatives.period_times(0 if begin is None else begin, now if end is None else end, step, now, first)
        total = np.zeros(len(times))
        for market in contracts:
            held, _, value = derivatives.open_interest(market, times)
            # inverse contracts are worth a fixed USD amount each; linear ones their base amount at the price
            total += held * float(market.contract_size) if market.kind == "inverse" else value
        volume = total * 0.3 * step / DAY_MS
        out = [[str(t), f"{oi:.4f}", f"{vol:.4f}"] for t, oi, vol in zip(times.tolist(), total, volume, strict=True)]
        return _ok(out[::-1])


def _contract_oi_times(market: SimMarket, bar: Timeframe, period: str, now_ms: int) -> np.ndarray:
    """Period starts of the contract open interest statistics okx keeps for ``market``, ascending."""
    latest = bar.floor(now_ms)
    if market.delist_ms is not None:
        latest = min(latest, bar.floor(market.delist_ms - 1))
    since = CONTRACT_OI_DAILY_FROM_MS if period in ("1D", "1Dutc") else CONTRACT_OI_FROM_MS
    first = max(bar.add(latest, 1 - CONTRACT_OI_ENTRIES), bar.ceil(max(market.listing_ms, since)))
    if first > latest:
        return np.zeros(0, dtype=np.int64)
    if not bar.is_month:
        return np.arange(first, latest + 1, bar.ms, dtype=np.int64)
    starts = [first]
    while starts[-1] < latest:
        starts.append(bar.add(starts[-1], 1))
    return np.array(starts, dtype=np.int64)


def _decimals(step: str) -> int:
    return len(step.split(".")[1].rstrip("0")) if "." in step else 0


def _trimmed(value: float, places: int) -> str:
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
