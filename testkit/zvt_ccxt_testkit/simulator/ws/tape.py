"""Deterministic trade tapes and order books behind the websocket simulator.

Trade ``i`` of a tape depends only on the tape and ``i`` (id, exchange time, price, amount, side), so the
stream frames, the REST answers used for repair and a test's reference all read the same truth. Exchange
time is synthetic: trade ``i`` happens at ``start_ms + i * spacing_ms``, however fast the tape is played.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from decimal import Decimal

from zvt_ccxt_testkit.simulator.universe import ASSETS, SimMarket


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _decimals(step: Decimal) -> int:
    return max(0, -int(step.normalize().as_tuple().exponent))


@dataclass(frozen=True)
class SimTrade:
    """One trade of a tape; prices in ticks and amounts in lots keep sums exact."""

    index: int
    id: int
    ts: int
    price_units: int
    amount_units: int
    buy: bool


@dataclass
class Tape:
    """The trades of one market, produced at ``rate`` trades per wall second up to ``limit``."""

    exchange: str
    symbol: str
    market_id: str
    kind: str
    tick: Decimal
    lot: Decimal
    level: float
    start_ms: int
    spacing_ms: int
    first_id: int = 1
    rate: float = 0.0
    limit: int | None = None
    #: trades produced so far (the live position every connection streams from)
    position: int = 0
    seed: int = field(init=False)

    def __post_init__(self) -> None:
        self.seed = _hash(f"{self.exchange}:{self.market_id}")
        self.price_decimals = _decimals(self.tick)
        self.amount_decimals = _decimals(self.lot)
        self.tick_f = float(self.tick)
        self.lot_f = float(self.lot)
        self._level_units = self.level / self.tick_f

    @classmethod
    def for_market(cls, market: SimMarket, start_ms: int, spacing_ms: int, first_id: int = 1) -> Tape:
        level = ASSETS.get(market.base, (100.0, 1.0))[0]
        return cls(
            exchange=market.exchange,
            symbol=market.symbol,
            market_id=market.id,
            kind=market.kind,
            tick=Decimal(market.tick),
            lot=Decimal(market.lot),
            level=level,
            start_ms=start_ms,
            spacing_ms=spacing_ms,
            first_id=first_id,
        )

    def trade(self, index: int) -> SimTrade:
        noise = ((self.seed ^ (index * 0x9E3779B97F4A7C15)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFF
        wave = 0.003 * math.sin(index / 40.0) + 0.0015 * math.sin(index / 9.1) + 0.0004 * (noise / 0xFFFFFFFF - 0.5)
        price = max(1, round(self._level_units * (1.0 + wave)))
        amount = 1 + (noise >> 8) % 40
        return SimTrade(
            index, self.first_id + index, self.start_ms + index * self.spacing_ms, price, amount, bool(noise & 1)
        )

    def trades(self, start: int, stop: int) -> list[SimTrade]:
        return [self.trade(i) for i in range(max(0, start), max(0, stop))]

    def index_at(self, ts_ms: int) -> int:
        """Index of the first trade at or after ``ts_ms``."""
        return max(0, -(-(ts_ms - self.start_ms) // self.spacing_ms))

    def price(self, units: int) -> str:
        return f"{units * self.tick_f:.{self.price_decimals}f}"

    def amount(self, units: int) -> str:
        return f"{units * self.lot_f:.{self.amount_decimals}f}"

    def price_value(self, units: int) -> float:
        return float(self.price(units))

    def amount_value(self, units: int) -> float:
        return float(self.amount(units))


@dataclass
class Bar:
    """An OHLCV aggregate of tape trades (prices in ticks, volume in lots)."""

    start: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    count: int
    first_id: int
    last_id: int

    @classmethod
    def of(cls, start: int, trade: SimTrade) -> Bar:
        p = trade.price_units
        return cls(start, p, p, p, p, trade.amount_units, 1, trade.id, trade.id)

    def add(self, trade: SimTrade) -> None:
        p = trade.price_units
        self.high = max(self.high, p)
        self.low = min(self.low, p)
        self.close = p
        self.volume += trade.amount_units
        self.count += 1
        self.last_id = trade.id


class Book:
    """A deterministic order book around the last trade price; every update has the next sequence number."""

    def __init__(self, tape: Tape, depth: int = 20) -> None:
        self.tape = tape
        self.depth = depth
        self.sequence = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.advance(tape.trade(0).price_units)

    def _levels(self, mid: int) -> tuple[dict[int, int], dict[int, int]]:
        step = max(1, mid // 20000)
        k = self.sequence
        bids = {mid - j * step: 1 + (self.tape.seed + 7 * j + 3 * k) % 25 for j in range(1, self.depth + 1)}
        asks = {mid + j * step: 1 + (self.tape.seed + 11 * j + 5 * k) % 25 for j in range(1, self.depth + 1)}
        return bids, asks

    def advance(self, mid: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Move to the next state; return the changed (price, amount) levels per side, amount 0 removing a level."""
        self.sequence += 1
        bids, asks = self._levels(mid)
        delta_bids = _diff(self.bids, bids)
        delta_asks = _diff(self.asks, asks)
        self.bids, self.asks = bids, asks
        return delta_bids, delta_asks

    def sorted_bids(self) -> list[tuple[int, int]]:
        return sorted(self.bids.items(), reverse=True)

    def sorted_asks(self) -> list[tuple[int, int]]:
        return sorted(self.asks.items())


def _diff(old: dict[int, int], new: dict[int, int]) -> list[tuple[int, int]]:
    changes = [(price, amount) for price, amount in new.items() if old.get(price) != amount]
    changes += [(price, 0) for price in old if price not in new]
    return changes
