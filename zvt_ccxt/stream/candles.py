"""Candles from a live stream: tracked from the exchange's own candle stream, or built from trades.

Either way a bar is emitted as *forming* (``closed=False``) whenever it changes and as *closed* exactly
once, with its final values. A bar is never closed from values that may be incomplete: after a reconnect
or a skipped bar the native tracker hands the range to REST repair instead, and the trade builder keeps
every bar that overlaps a gap under repair open until the missing trades are in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from zvt_ccxt import levels
from zvt_ccxt.trade_order import trade_order

#: ms of exchange time a trade-built bar waits after its end for late trades before it closes by time
CLOSE_GRACE_MS = 2_000


@dataclass
class BarValues:
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    turnover: float
    trades: int = 0


@dataclass
class NativeUpdate:
    forming: BarValues | None = None
    closed: list[BarValues] = field(default_factory=list)
    #: ``[start, end)`` to fetch over REST: bars whose final values the stream cannot vouch for
    repair: tuple[int, int] | None = None


class NativeCandles:
    """Follows one symbol's bars as the exchange streams them (``[ts, o, h, l, c, v]`` rows, updated in place)."""

    def __init__(self, level: str) -> None:
        self.level = level
        self.current: list | None = None
        self.suspect = False

    def interrupted(self) -> None:
        """The connection dropped: the bar being formed may have missed its last updates."""
        self.suspect = True

    def update(self, rows: list[list]) -> NativeUpdate:
        out = NativeUpdate()
        for row in sorted(rows, key=lambda r: r[0]):
            if not _valid(row):
                continue
            start = int(row[0])
            if self.current is None:
                self.current = list(row)
                continue
            current_start = int(self.current[0])
            if start < current_start:
                continue
            if start == current_start:
                self.current = list(row)
                continue
            regular = start == levels.next_bar_start(current_start, self.level)
            if self.suspect or not regular:
                out.repair = (current_start if out.repair is None else out.repair[0], start)
            else:
                out.closed.append(_values(self.current))
            self.suspect = False
            self.current = list(row)
        if self.current is not None:
            out.forming = _values(self.current)
        return out


def _valid(row) -> bool:
    return (
        isinstance(row, list | tuple)
        and len(row) >= 6
        and row[0] is not None
        and all(isinstance(v, int | float) and math.isfinite(v) for v in row[1:6])
    )


def _values(row: list) -> BarValues:
    o, h, lo, c, v = (float(x) for x in row[1:6])
    return BarValues(int(row[0]), o, h, lo, c, v, v * (h + lo + c) / 3.0)


@dataclass
class _Building:
    bar: BarValues
    first: tuple[int, int, str]
    last: tuple[int, int, str]


class TradeCandles:
    """Builds one symbol's bars of any level from its trades, in any arrival order (repairs come late)."""

    def __init__(self, level: str) -> None:
        self.level = level
        self.bars: dict[int, _Building] = {}
        self.closed_until: int | None = None
        self.holds: dict[object, tuple[int, int]] = {}
        self.latest_ms: int | None = None

    def add(self, trades: list[dict]) -> set[int]:
        """Fold ccxt trades (``timestamp``, ``id``, ``price``, ``amount``) in; return the bar starts touched."""
        touched = set()
        for trade in trades:
            ts, price, amount = trade.get("timestamp"), trade.get("price"), trade.get("amount")
            if ts is None or price is None or amount is None:
                continue
            start = levels.bar_start(int(ts), self.level)
            if self.closed_until is not None and start < self.closed_until:
                continue  # belongs to a bar already closed (only a repair overlapping it could bring one)
            key = trade_order(ts, trade.get("id"))
            price, amount = float(price), float(amount)
            cost = float(trade.get("cost") or price * amount)
            building = self.bars.get(start)
            if building is None:
                bar = BarValues(start, price, price, price, price, amount, cost, 1)
                self.bars[start] = _Building(bar, key, key)
            else:
                bar = building.bar
                bar.high, bar.low = max(bar.high, price), min(bar.low, price)
                bar.volume += amount
                bar.turnover += cost
                bar.trades += 1
                if key < building.first:
                    building.first, bar.open = key, price
                if key > building.last:
                    building.last, bar.close = key, price
            touched.add(start)
            self.latest_ms = int(ts) if self.latest_ms is None else max(self.latest_ms, int(ts))
        return touched

    def hold(self, key: object, start_ms: int, end_ms: int) -> None:
        """Keep bars overlapping ``[start_ms, end_ms]`` open until ``release(key)``."""
        self.holds[key] = (start_ms, end_ms)

    def release(self, key: object) -> None:
        self.holds.pop(key, None)

    def close_ready(self, exchange_now_ms: int | None = None) -> list[BarValues]:
        """Bars that ended before the newest trade (or before exchange time minus a grace) and are not held."""
        marks = [
            m
            for m in (self.latest_ms, None if exchange_now_ms is None else exchange_now_ms - CLOSE_GRACE_MS)
            if m is not None
        ]
        if not marks:
            return []
        watermark = max(marks)
        held_from = min((start for start, _ in self.holds.values()), default=None)
        ready = []
        for start in sorted(self.bars):
            end = levels.next_bar_start(start, self.level)
            if end > watermark or (held_from is not None and end > held_from):
                break
            ready.append(self.bars.pop(start).bar)
            self.closed_until = end
        return ready

    def forming(self, starts: set[int]) -> list[BarValues]:
        return [self.bars[s].bar for s in sorted(starts) if s in self.bars]
