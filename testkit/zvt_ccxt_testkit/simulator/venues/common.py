"""Shared plumbing of the per-exchange request handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from ..pricing import BASE_DECIMALS, QUOTE_DECIMALS, Scale
from ..timeframes import MINUTE_MS, Timeframe

if TYPE_CHECKING:
    from ..server import ExchangeSimulator
    from ..universe import SimMarket


@dataclass
class Request:
    method: str
    host: str  # the real exchange host
    path: str  # the real path
    query: dict[str, str]  # last value of every parameter
    pairs: list[tuple[str, str]]  # every (name, value) in order
    raw_query: str


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def json_response(
    obj: Any, status: int = 200, content_type: str = "application/json", headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(obj, separators=(",", ":")).encode()
    out = {"Content-Type": content_type}
    if headers:
        out.update(headers)
    return Response(status, body, out)


def text_response(text: str, status: int, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status, text.encode(), {"Content-Type": content_type})


class BadParam(Exception):
    """Raised by parameter parsing; ``name`` is the offending parameter."""

    def __init__(self, name: str, kind: str = "invalid"):
        super().__init__(name)
        self.name = name
        self.kind = kind  # "invalid" or "missing"


def opt_int(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        try:
            value = float(raw)
        except ValueError:
            raise BadParam(name) from None
        if value != int(value):
            raise BadParam(name) from None
        return int(value)


def raw_decimals(text: str) -> int:
    exp = Decimal(text).as_tuple().exponent
    return max(0, -int(exp))


class Formats:
    """String renderers for one market's price and volume columns."""

    def __init__(self, market: SimMarket, price_decimals: int | None = None):
        tick = Decimal(market.tick)
        self.price = Scale(tick, raw_decimals(market.tick) if price_decimals is None else price_decimals)
        self.base = Scale(Decimal(1).scaleb(-BASE_DECIMALS), BASE_DECIMALS)
        self.quote = Scale(Decimal(1).scaleb(-QUOTE_DECIMALS), QUOTE_DECIMALS)
        lot = Decimal(market.lot)
        self.contracts = Scale(lot, raw_decimals(market.lot))
        self.base_at_lot = None
        if market.native == "base":
            # base amounts of base-native markets are whole lots: show them with the lot's decimals
            self.base_at_lot = Scale(Decimal(1).scaleb(-BASE_DECIMALS), raw_decimals(market.lot))


class Venue:
    """One exchange: answers requests for its hosts."""

    name = ""

    def __init__(self, sim: ExchangeSimulator):
        self.sim = sim

    @property
    def now_ms(self) -> int:
        return self.sim.now_ms

    def markets(self) -> list[SimMarket]:
        return [m for m in self.sim.markets[self.name] if not m.hidden]

    def handles(self, host: str) -> bool:
        raise NotImplementedError

    def handle(self, req: Request) -> Response:
        raise NotImplementedError

    def last_price_units(self, market: SimMarket) -> int | None:
        from ..timeframes import M1

        rows = market.series.select(M1, self.now_ms, None, None, 1, "end")
        return int(rows[-1, 4]) if len(rows) else None


def newest_first(rows: np.ndarray) -> np.ndarray:
    return rows[::-1]


def bar_confirmed(tf: Timeframe, start: int, now_ms: int) -> bool:
    return tf.end(start) <= now_ms


def minute_floor(ms: int) -> int:
    return ms // MINUTE_MS * MINUTE_MS
