"""Lean decoders for the hot frames of a stream: public trades and candles, straight from the wire.

ccxt.pro parses every frame through its generic machinery (a dict of handlers built per frame, ``safe_*``
lookups, decimal strings through ``Precise``, watch futures resolved and re-armed): that is most of a busy
stream's CPU. A decoder here reads only the frames it knows, for the markets the stream subscribed, and
yields exactly what ccxt's parser yields for them, on the keys the stream reads (``TRADE_KEYS``; candles are
ccxt's ``[time, open, high, low, close, volume]`` rows). Anything else it does not recognise (another event,
a field it does not know how to read, a number that is not a plain decimal, a market id two subscriptions
share) returns ``None`` and goes to ccxt's own handler, unchanged. ccxt.pro keeps the connections,
subscriptions, order books and reconnects: a decoder only takes over parsing.

Which decoder an exchange uses is its profile's ``stream_decoder``; ``tests/test_stream_decoders.py`` proves
each against ccxt's parser on every captured and simulated frame.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: the keys of a ccxt trade the stream reads (rows, ordering, gaps, candles)
TRADE_KEYS = ("id", "timestamp", "symbol", "side", "takerOrMaker", "price", "amount", "cost")

#: powers of ten by exponent, for the decimal places of a product
_POWERS = tuple(10**n for n in range(64))


@functools.lru_cache(maxsize=65_536)  # a market trades at few distinct prices and sizes: each text is read once
def _scaled(text: str) -> tuple[int, int, float] | None:
    """A plain decimal string (``123``, ``0.0450``) as (digits, decimal places, ``float(text)``), or None."""
    digits = text.replace(".", "", 1)
    if not (digits.isdigit() and digits.isascii()) or text[0] == "." or text[-1] == ".":
        return None
    dot = text.find(".")
    return int(digits), 0 if dot < 0 else len(text) - dot - 1, float(text)


#: ``float`` of a wire text, remembered: a candle's prices repeat from frame to frame, and a lookup costs a third of
#: a parse
_float_of_text = functools.lru_cache(maxsize=65_536)(float)


#: the decimal places of ccxt's ``Precise.string_div`` (its default precision): the quotient is cut there
_DIVISION_PLACES = 18


def exact_cost(price: str, amount: str, contract_size: str | None, inverse: bool = False) -> float | None:
    """A trade's cost as ccxt's ``safe_trade`` computes it in decimal, rounded once to a float: ``price *
    amount``, times ``contract_size`` for a contract, and for an inverse contract ``1 / price`` (cut to 18
    places, as ``Precise.string_div`` cuts it) in place of the price. None for anything not a plain decimal.

    The market's rules are a ``Target``'s, as the decoders apply them to every trade."""
    target = Target("", contract_size, inverse, spot=False)
    if not target.decodable:
        return None
    priced = _priced(price, amount, target.size, target.divides)
    return None if priced is None else priced[2]


def _priced(
    price: str, amount: str, size: tuple[int, int, float] | None, inverse: bool
) -> tuple[float, float, float] | None:
    """(price, amount, cost) as floats, the cost exact then rounded once; None unless both are plain decimals
    (and, for an ``inverse`` contract, the price is not zero: ccxt has no cost then)."""
    first, second = _scaled(price), _scaled(amount)
    if first is None or second is None:
        return None
    if inverse:
        if not first[0] or _DIVISION_PLACES + first[1] >= len(_POWERS):
            return None
        # 1 / price to 18 places, truncated: 10**(18 + places) // digits, positive operands
        digits = _POWERS[_DIVISION_PLACES + first[1]] // first[0] * second[0]
        places = _DIVISION_PLACES + second[1]
    else:
        digits, places = first[0] * second[0], first[1] + second[1]
    if size is not None:
        digits, places = digits * size[0], places + size[1]
    if places >= len(_POWERS):
        return None
    return first[2], second[2], digits / _POWERS[places]  # int / int is correctly rounded: the exact decimal


@dataclass
class Target:
    """A subscribed market a decoder may write to: its ccxt symbol and the contract facts cost needs."""

    symbol: str
    contract_size: str | None
    inverse: bool
    spot: bool

    def __post_init__(self) -> None:
        #: the contract size as exact decimal digits; a size that is 1 multiplies nothing
        scaled = None if self.contract_size is None else _scaled(self.contract_size)
        self.size = None if scaled is not None and scaled[0] == 10 ** scaled[1] else scaled
        #: ccxt prices an inverse contract's trade by 1 / price, and only where the market has a contract size
        self.divides = self.inverse and self.contract_size is not None
        #: decoded trades need a cost ccxt's way: sizes that are not plain decimals are left to ccxt
        self.decodable = self.contract_size is None or scaled is not None


class Registration:
    """A subscribed market's route: where its decoded frames go and who is woken."""

    __slots__ = ("target", "signal", "timeframe")

    def __init__(self, target: Target, signal: Signal, timeframe: str | None) -> None:
        self.target, self.signal, self.timeframe = target, signal, timeframe


class Decoded:
    """What one frame held: trades (ccxt trade dicts on ``TRADE_KEYS``) or candle rows, for one route."""

    __slots__ = ("kind", "route", "items")

    def __init__(self, kind: str, route: Registration, items: list) -> None:
        self.kind, self.route, self.items = kind, route, items


Lookup = Callable[[str, str, str | None], "Registration | None"]


class FrameDecoder:
    """Turns a frame into ``Decoded`` for a subscribed target, or None (ccxt parses it)."""

    def decode(self, message: Any, lookup: Lookup) -> Decoded | None:
        raise NotImplementedError

    @staticmethod
    def trade(target: Target, trade_id: str, timestamp: int, side: Any, taker_or_maker: Any, price: str,
              amount: str) -> dict | None:
        if not target.decodable:
            return None
        priced = _priced(price, amount, target.size, target.divides)
        if priced is None:
            return None
        return {"id": trade_id, "timestamp": timestamp, "symbol": target.symbol, "side": side,
                "takerOrMaker": taker_or_maker, "price": priced[0], "amount": priced[1], "cost": priced[2]}


def _floats(values: list) -> list[float] | None:
    """ccxt's ``safe_float``/``safe_number`` of wire strings (``float`` of the text); None if one is not text."""
    for value in values:
        if type(value) is not str:
            return None
    try:
        return [_float_of_text(value) for value in values]
    except ValueError:
        return None


def _integer(value: Any) -> int | None:
    if type(value) is int:
        return value
    if type(value) is str and value.isdigit():
        return int(value)
    return None


class BinanceEvents(FrameDecoder):
    """binance raw or combined-stream events: ``aggTrade`` / ``trade`` and ``kline``."""

    #: fields whose presence sends a trade through other branches of ccxt's parser (executions, options,
    #: spot account fields, explicit quote quantities): such a frame is left to ccxt
    _OTHER_TRADES = frozenset(("x", "isDustTrade", "time", "executionAt", "qty", "quantity", "symbol", "isMaker",
                               "maker", "side", "isBuyer", "commission", "optionSide", "quoteQty", "baseQty", "total",
                               "tradeId", "id", "price", "isBuyerMaker", "X", "o"))

    def decode(self, message: Any, lookup: Lookup) -> Decoded | None:
        if type(message) is not dict:
            return None
        event = message.get("e")
        if event is None and "stream" in message:
            message = message.get("data")
            if type(message) is not dict:
                return None
            event = message.get("e")
        if event == "aggTrade" or event == "trade":
            return self._trade(message, lookup)
        if event == "kline":
            return self._kline(message, lookup)
        return None

    def _trade(self, event: dict, lookup: Lookup) -> Decoded | None:
        if not self._OTHER_TRADES.isdisjoint(event):
            return None
        market_id = event.get("s")
        route = lookup("trades", market_id, None) if type(market_id) is str else None
        if route is None:
            return None
        trade_id = event.get("t")
        if trade_id is None:
            trade_id = event.get("a")
        timestamp, price, amount = event.get("T"), event.get("p"), event.get("q")
        if type(timestamp) is not int or trade_id is None or type(trade_id) is bool:
            return None
        if type(price) is not str or type(amount) is not str:
            return None
        maker = event.get("m")
        if maker is None:
            side = None
        elif type(maker) is bool:
            side = "sell" if maker else "buy"  # the buyer was the maker: the taker sold
        else:
            return None
        trade = self.trade(route.target, str(trade_id), timestamp, side, None, price, amount)
        return None if trade is None else Decoded("trades", route, [trade])

    def _kline(self, event: dict, lookup: Lookup) -> Decoded | None:
        kline = event.get("k")
        if type(kline) is not dict:
            return None
        market_id, interval = kline.get("s"), kline.get("i")
        if type(market_id) is not str or type(interval) is not str:
            return None
        route = lookup("ohlcv", market_id, interval)
        if route is None:
            return None
        start = kline.get("t")
        values = _floats([kline.get("o"), kline.get("h"), kline.get("l"), kline.get("c"), kline.get("v")])
        if type(start) is not int or values is None:
            return None
        return Decoded("ohlcv", route, [[start, *values]])


class OkxV5(FrameDecoder):
    """okx v5 pushes: ``trades`` and ``candle<bar>`` channels."""

    _TRADE_FIELDS = frozenset(("instId", "tradeId", "px", "sz", "side", "ts", "count", "source", "seqId"))

    def decode(self, message: Any, lookup: Lookup) -> Decoded | None:
        if type(message) is not dict or "event" in message:
            return None
        arg, data = message.get("arg"), message.get("data")
        if type(arg) is not dict or type(data) is not list or not data:
            return None
        channel, market_id = arg.get("channel"), arg.get("instId")
        if type(market_id) is not str or type(channel) is not str:
            return None
        if channel == "trades":
            return self._trades(market_id, data, lookup)
        if channel.startswith("candle"):
            return self._candles(market_id, channel[6:], data, lookup)
        return None

    def _trades(self, market_id: str, data: list, lookup: Lookup) -> Decoded | None:
        route = lookup("trades", market_id, None)
        if route is None:
            return None
        target = route.target
        trades = []
        for row in data:
            if type(row) is not dict or not self._TRADE_FIELDS.issuperset(row) or row.get("instId") != market_id:
                return None
            timestamp, trade_id = _integer(row.get("ts")), row.get("tradeId")
            side = row.get("side")
            if timestamp is None or type(trade_id) is not str or (side is not None and type(side) is not str):
                return None
            price, amount = row.get("px"), row.get("sz")
            if type(price) is not str or type(amount) is not str:
                return None
            trade = self.trade(target, trade_id, timestamp, side, None, price, amount)
            if trade is None:
                return None
            trades.append(trade)
        return Decoded("trades", route, trades)

    def _candles(self, market_id: str, interval: str, data: list, lookup: Lookup) -> Decoded | None:
        route = lookup("ohlcv", market_id, interval)
        if route is None:
            return None
        volume = 5 if route.target.spot else 6
        rows = []
        for row in data:
            if type(row) is not list or len(row) <= 6:
                return None
            start, values = _integer(row[0]), _floats([row[1], row[2], row[3], row[4], row[volume]])
            if start is None or values is None:
                return None
            rows.append([start, *values])
        return Decoded("ohlcv", route, rows)


class BybitV5(FrameDecoder):
    """bybit v5 public pushes: ``publicTrade.<id>`` and ``kline.<interval>.<id>`` topics."""

    def decode(self, message: Any, lookup: Lookup) -> Decoded | None:
        if type(message) is not dict:
            return None
        topic, data = message.get("topic"), message.get("data")
        if type(topic) is not str or type(data) is not list or not data:
            return None
        parts = topic.split(".")
        if parts[0] == "publicTrade" and len(parts) == 2:
            return self._trades(parts[1], data, lookup)
        if parts[0] == "kline" and len(parts) == 3:
            return self._candles(parts[2], parts[1], data, lookup)
        return None

    def _trades(self, market_id: str, data: list, lookup: Lookup) -> Decoded | None:
        route = lookup("trades", market_id, None)
        if route is None:
            return None
        trades = []
        for row in data:
            if type(row) is not dict or row.get("s") not in (None, market_id) or "q" in row or "t" in row:
                return None
            trade_id = next((row[k] for k in ("i", "T", "v") if row.get(k) is not None), None)
            timestamp, side, price, amount = row.get("T"), row.get("S"), row.get("p"), row.get("v")
            if type(timestamp) is not int or type(side) is not str or type(price) is not str or type(amount) is not str:
                return None
            if type(trade_id) is not str and type(trade_id) is not int:
                return None
            trade = self.trade(route.target, str(trade_id), timestamp, side.lower(), row.get("m"), price, amount)
            if trade is None:
                return None
            trades.append(trade)
        return Decoded("trades", route, trades)

    def _candles(self, market_id: str, interval: str, data: list, lookup: Lookup) -> Decoded | None:
        route = lookup("ohlcv", market_id, interval)
        if route is None or route.target.inverse:
            return None
        rows = []
        for row in data:
            if type(row) is not dict:
                return None
            start = row.get("start")
            values = _floats([row.get(k) for k in ("open", "high", "low", "close", "volume")])
            if type(start) is not int or values is None:
                return None
            rows.append([start, *values])
        return Decoded("ohlcv", route, rows)


#: decoders by the name a profile's ``stream_decoder`` gives
DECODERS: Mapping[str, type[FrameDecoder]] = {"binance_events": BinanceEvents, "okx_v5": OkxV5, "bybit_v5": BybitV5}


def decoder_for(name: str | None) -> FrameDecoder | None:
    if name is None:
        return None
    if name not in DECODERS:
        raise ValueError(f"unknown stream decoder {name!r}; known: {', '.join(sorted(DECODERS))}")
    return DECODERS[name]()


class Signal:
    """Wakes one subscription when the feed took a frame for it (set before anyone waits: no wake-up lost), and
    says which of its symbols have decoded frames waiting, so a wake-up reads those and not every symbol."""

    def __init__(self) -> None:
        self.pending = False
        self._waiter: asyncio.Future | None = None
        self._touched: set[str] = set()

    def touch(self, symbol: str) -> None:
        self._touched.add(symbol)
        self.set()

    def take_touched(self) -> set[str]:
        """The symbols touched since the last call."""
        touched, self._touched = self._touched, set()
        return touched

    def set(self) -> None:
        self.pending = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def wait(self) -> asyncio.Future:
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.get_running_loop().create_future()
        if self.pending:
            self._waiter.set_result(None)
        return self._waiter

    def clear(self) -> None:
        self.pending = False


@dataclass
class DecodedFeed:
    """Where decoded frames go: per symbol a bounded list of trades (with an eviction flag, as ccxt's cache
    would have) and per (symbol, timeframe) the latest candles by start time; each subscription that
    registered a market is signalled when a frame for it arrives."""

    decoder: FrameDecoder | None
    limit: int = 2_000
    trades: dict[str, deque] = field(default_factory=dict)
    evicted: dict[str, bool] = field(default_factory=dict)
    candles: dict[tuple[str, str], dict[int, list]] = field(default_factory=dict)
    _routes: dict[tuple, Registration | None] = field(default_factory=dict)
    #: a decoder and a registered market: the client's tap reads this at every frame, so it is kept, not derived
    active: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._find = self._lookup  # bound once: the decoder is handed it at every frame

    def register(self, kind: str, market: Mapping[str, Any], signal: Signal, interval: str | None = None,
                 timeframe: str | None = None) -> bool:
        """Route ``kind`` frames of ``market`` (at the exchange's ``interval``) here; False when no decoder,
        or when another subscribed market shares the id (ccxt then tells them apart by connection)."""
        if self.decoder is None:
            return False
        key = (kind, str(market["id"]), interval)
        size = market.get("contractSize")
        target = Target(market["symbol"], None if size is None else _decimal_text(size), bool(market.get("inverse")),
                        bool(market.get("spot")))
        self.active = True
        if key in self._routes:
            known = self._routes[key]
            if known is None or known.target.symbol != target.symbol:
                self._routes[key] = None
                return False
        self._routes[key] = Registration(target, signal, timeframe)
        return True

    def routed(self, kind: str, symbol: str) -> bool:
        return any(r is not None and k[0] == kind and r.target.symbol == symbol for k, r in self._routes.items())

    def _lookup(self, kind: str, market_id: str, interval: str | None) -> Registration | None:
        return self._routes.get((kind, market_id, interval))

    def accept(self, message: Any) -> bool:
        """Take ``message`` if it is a frame the decoder reads for a registered market; False: ccxt's."""
        decoded = self.decoder.decode(message, self._find)  # type: ignore[union-attr]
        if decoded is None:
            return False
        registration = decoded.route
        symbol = registration.target.symbol
        if decoded.kind == "trades":
            queue = self.trades.get(symbol)
            if queue is None:
                queue = self.trades[symbol] = deque()
            queue.extend(decoded.items)
            overflow = len(queue) - self.limit
            if overflow > 0:
                for _ in range(overflow):
                    queue.popleft()
                self.evicted[symbol] = True
            registration.signal.touch(symbol)
        else:
            cache = self.candles.setdefault((symbol, registration.timeframe or ""), {})
            for row in decoded.items:
                cache[row[0]] = row
            while len(cache) > self.limit:
                del cache[next(iter(cache))]
            registration.signal.touch(symbol)
        return True

    def take_trades(self, symbol: str) -> tuple[list[dict], bool]:
        """Every decoded trade of ``symbol`` not taken yet, and whether some were evicted unread."""
        queue = self.trades.get(symbol)
        evicted = self.evicted.pop(symbol, False)
        if not queue:
            return [], evicted
        taken = list(queue)
        queue.clear()
        return taken, evicted


def _decimal_text(value: Any) -> str:
    """A market's contract size as ccxt's ``safe_string`` gives it: the text its ``Precise`` arithmetic starts
    from (a float such as ``1e-05`` is not a plain decimal, so its trades go to ccxt)."""
    return str(value)
