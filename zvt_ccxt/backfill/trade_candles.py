"""Candles built from stored trades, and the check of them against the exchange's own candles.

``candles_from_trades`` aggregates ``CryptoTrade`` rows into bars of any zvt level (open: the first trade by
time then exchange id, close: the last, volume: the summed amounts, turnover: the summed costs) and marks
each bar ``complete`` when the trade coverage spans all of it. ``check_candles_from_trades`` fetches the
exchange's candles for the complete bars and reports every bar and field that differs beyond a relative
tolerance, and every bar only one side has: this is how a user verifies recorded trades.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from zvt_ccxt import levels, store
from zvt_ccxt.backfill import coverage, instruments
from zvt_ccxt.backfill.candles import Candles, aggregate, bar_keys, concat, normalise
from zvt_ccxt.backfill.pager import OhlcvPager
from zvt_ccxt.domain.market_data import CryptoTrade
from zvt_ccxt.exchange.client import get_client
from zvt_ccxt.trade_order import trade_order

TRADE_TABLE = CryptoTrade.__tablename__
FIELDS = ("open", "high", "low", "close", "volume")
_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume", "turnover", "trades", "complete"]


def _ms(value) -> int | None:
    return None if value is None else levels.to_utc_ms(value)


def load_trades(entity_id: str, start=None, end=None) -> pd.DataFrame:
    """Stored trades of ``entity_id`` in ``[start, end)``, ordered by time then exchange trade id."""
    frame = store.reads.trades(entity_id, _ms(start), _ms(end))
    if frame.empty:
        return frame
    keys = [trade_order(ts, ident) for ts, ident in zip(frame.ts_ms.tolist(), frame.trade_id.tolist(), strict=True)]
    return frame.iloc[sorted(range(len(keys)), key=keys.__getitem__)].reset_index(drop=True)


def _covered(entity_id: str) -> list[tuple[int, int]]:
    return coverage.covered_ranges(store.coverage.windows(TRADE_TABLE, entity_id))


def _inside(span: tuple[int, int], covered: list[tuple[int, int]]) -> bool:
    index = bisect.bisect_right(covered, (span[0], float("inf"))) - 1
    return index >= 0 and covered[index][0] <= span[0] and span[1] <= covered[index][1]


def candles_from_trades(entity_id: str, level="1m", start=None, end=None) -> pd.DataFrame:
    """Bars of ``level`` from the stored trades of ``entity_id``: one row per bar holding trades.

    Columns: ``timestamp`` (bar open, naive UTC), ``open``, ``high``, ``low``, ``close``, ``volume`` (summed
    amounts, contracts for contract markets as the exchange's candles count them), ``turnover`` (summed
    costs), ``trades`` and ``complete`` (the trade coverage spans the whole bar).
    """
    level = levels.level_value(level)
    trades = load_trades(entity_id, start, end)
    if trades.empty:
        return pd.DataFrame(columns=_COLUMNS)
    ts = trades.ts_ms.to_numpy(dtype="int64")
    keys = bar_keys(ts, level)
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    last = np.r_[first[1:], keys.size] - 1
    price = trades.price.to_numpy(dtype="float64")
    amount = trades.amount.to_numpy(dtype="float64")
    cost = trades.cost.to_numpy(dtype="float64")
    covered = _covered(entity_id)
    starts = keys[first]
    complete = [_inside((int(k), levels.next_bar_start(int(k), level)), covered) for k in starts]
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(starts, unit="ms"),
            "open": price[first],
            "high": np.maximum.reduceat(price, first),
            "low": np.minimum.reduceat(price, first),
            "close": price[last],
            "volume": np.add.reduceat(amount, first),
            "turnover": np.add.reduceat(np.nan_to_num(cost), first),
            "trades": np.diff(np.r_[first, keys.size]),
            "complete": complete,
        }
    )


@dataclass
class CandleCheck:
    """The outcome of comparing candles from trades with the exchange's candles over the complete bars."""

    entity_id: str
    level: str
    tolerance: float
    bars_compared: int
    #: one row per difference: ``timestamp``, ``field``, ``from_trades``, ``from_exchange``, ``relative``,
    #: ``kind`` (``mismatch``, ``missing_in_trades`` or ``missing_at_exchange``)
    differences: pd.DataFrame

    @property
    def ok(self) -> bool:
        return self.differences.empty

    def __str__(self) -> str:
        verdict = "all equal" if self.ok else f"{len(self.differences)} differences"
        return (
            f"{self.entity_id} {self.level}: {self.bars_compared} bars compared with the exchange's candles "
            f"(relative tolerance {self.tolerance:g}): {verdict}"
        )

    __repr__ = __str__


def _complete_bars(entity_id: str, level: str, start_ms: int | None, end_ms: int | None) -> list[int]:
    bars: list[int] = []
    for low, high in _covered(entity_id):
        low = low if start_ms is None else max(low, start_ms)
        high = high if end_ms is None else min(high, end_ms)
        for bar in levels.bar_starts(low, high, level):
            if levels.next_bar_start(bar, level) <= high:
                bars.append(bar)
    return bars


def _spans(bars: list[int], level: str) -> list[tuple[int, int]]:
    return coverage.merge((bar, levels.next_bar_start(bar, level)) for bar in bars)


def exchange_candles(entity_id: str, level: str, spans: Sequence[tuple[int, int]]) -> Candles:
    """The exchange's own bars of ``level`` over ``spans`` (derived levels aggregated as the kdata recorder does)."""
    instrument = instruments.load([entity_id])[0]
    client = get_client(instrument.exchange)
    market = client.market(instrument.symbol)
    plan = levels.plan_timeframe(client.exchange_id, client.timeframes, level)
    parts = []
    for low, high in spans:
        pager = OhlcvPager(client, instrument.symbol, plan.source_level, client.ohlcv_limit(market))
        rows = [row for page in pager.pages(low, high) for row in page.rows]
        candles = normalise(
            rows,
            plan.source_level,
            inverse=bool(market.get("inverse")),
            contract_size=market.get("contractSize"),
            context=f"{instrument.exchange} {instrument.symbol} {plan.timeframe}",
        )
        parts.append(aggregate(candles, level) if plan.derived else candles)
    return concat(parts)


def check_candles_from_trades(
    entity_id: str, level="1m", start=None, end=None, tolerance: float = 1e-9, fields: Sequence[str] = FIELDS
) -> CandleCheck:
    """Compare candles built from stored trades with the exchange's candles over every complete bar.

    Only bars the trade coverage spans entirely are compared (so a partly recorded bar is not a false
    alarm); a bar the exchange has and the trades lack is reported as ``missing_in_trades`` (lost trades),
    the reverse as ``missing_at_exchange``. Differences are relative to the exchange's value.
    """
    level = levels.level_value(level)
    bars = _complete_bars(entity_id, level, _ms(start), _ms(end))
    if not bars:
        return CandleCheck(entity_id, level, tolerance, 0, pd.DataFrame(columns=_DIFF_COLUMNS))
    built = candles_from_trades(entity_id, level, bars[0], levels.next_bar_start(bars[-1], level))
    built = built.set_index(built.timestamp.astype("int64") // 1_000_000)
    theirs = exchange_candles(entity_id, level, _spans(bars, level))
    exchange = {int(t): i for i, t in enumerate(theirs.ts)}
    differences: list[tuple[pd.Timestamp, str, float | None, float | None, float | None, str]] = []
    compared = 0
    for bar in bars:
        ours = built.loc[bar] if bar in built.index else None
        index = exchange.get(bar)
        stamp = pd.Timestamp(bar, unit="ms")
        if ours is None and index is None:
            continue
        compared += 1
        if ours is None:
            differences.append((stamp, "*", None, float(theirs.close[index]), None, "missing_in_trades"))
            continue
        if index is None:
            differences.append((stamp, "*", float(ours["close"]), None, None, "missing_at_exchange"))
            continue
        for field in fields:
            mine, other = float(ours[field]), float(getattr(theirs, field)[index])
            relative = abs(mine - other) / max(abs(other), 1e-300)
            if not relative <= tolerance:
                differences.append((stamp, field, mine, other, relative, "mismatch"))
    return CandleCheck(entity_id, level, tolerance, compared, pd.DataFrame(differences, columns=_DIFF_COLUMNS))


_DIFF_COLUMNS = ["timestamp", "field", "from_trades", "from_exchange", "relative", "kind"]
