"""The lean frame decoders yield exactly what ccxt.pro's parsers yield, and leave the rest to ccxt.

Every frame is run through both: a fresh ccxt.pro client's own ``handle_message`` (the trades it appends to
its cache, the candle rows it stores) and the exchange's decoder for the same subscribed markets. Whatever
the decoder takes must equal ccxt's result on every key the stream reads and as stored rows; whatever it
declines is parsed by ccxt as before. Frames come from the local simulators of all four exchanges (recorded
off a running stream) and, where ``../shared/captures`` (or ``$ZVT_CCXT_CAPTURES``) holds real exchange
captures, from those: those cases skip without them.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import ccxt.pro
import pytest

from zvt_ccxt.exchange.profiles import profile_for
from zvt_ccxt.store.rows import trade_rows, valid_trade
from zvt_ccxt.stream import CcxtStream
from zvt_ccxt.stream.client import ProClient
from zvt_ccxt.stream.decoders import TRADE_KEYS, DecodedFeed, Signal, decoder_for, exact_cost
from zvt_ccxt.stream.gaps import CacheCursor
from zvt_ccxt_testkit import simulated_streams
from zvt_ccxt_testkit.simulator.ws import TRADES

from conftest import SIM_NOW

ROOT = Path(__file__).resolve().parents[1]
TARGET = SimpleNamespace(entity_id="cryptopair_test_x", code="x", exchange="test")


def _captures() -> Path | None:
    for candidate in (os.environ.get("ZVT_CCXT_CAPTURES"), ROOT.parent / "shared" / "captures"):
        if candidate and (Path(candidate) / "BINANCE_FUTURES.ws.1.0").exists():
            return Path(candidate)
    return None


def compare(exchange_id: str, markets: list[dict], frames: list[tuple[str, object]], subscribed: list[dict],
            timeframes=("1m",)) -> dict:
    """Run ``frames`` ((connection url, message)) through ccxt's handler and the decoder; assert they agree.
    Returns counts: frames decoded, trades and candles compared, frames ccxt parsed into trades the decoder
    declined, and the symbols whose trades the decoder took."""
    counts: dict = {"decoded": 0, "trades": 0, "candles": 0, "declined_trades": 0, "decoded_symbols": set()}

    async def run() -> None:
        parser = getattr(ccxt.pro, exchange_id)({"options": {"tradesLimit": 10**7, "OHLCVLimit": 10**7}})
        parser.set_markets(markets)
        feed = DecodedFeed(decoder_for(profile_for(exchange_id).stream_decoder), limit=10**7)
        signal = Signal()
        for market in subscribed:
            feed.register("trades", market, signal)
            for timeframe in timeframes:
                interval = str(parser.timeframes[timeframe])
                feed.register("ohlcv", market, signal, interval, timeframe)
        cursors: dict[str, CacheCursor] = {}
        try:
            for url, message in frames:
                client = parser.client(url)
                took = feed.active and feed.accept(copy.deepcopy(message))
                parser.handle_message(client, copy.deepcopy(message))
                parsed = {symbol: cursors.setdefault(symbol, CacheCursor()).take(cache)[0]
                          for symbol, cache in parser.trades.items()}
                parsed = {symbol: trades for symbol, trades in parsed.items() if trades}
                if not took:
                    counts["declined_trades"] += sum(len(t) for t in parsed.values())
                    continue
                counts["decoded"] += 1
                decoded = {symbol: feed.take_trades(symbol)[0] for symbol in list(feed.trades)}
                decoded = {symbol: trades for symbol, trades in decoded.items() if trades}
                assert {s: [{k: t[k] for k in TRADE_KEYS} for t in ts] for s, ts in parsed.items()} == decoded, message
                for symbol, trades in parsed.items():
                    mine = decoded[symbol]
                    assert trade_rows(TARGET, [t for t in trades if valid_trade(t)], "stream") == trade_rows(
                        TARGET, [t for t in mine if valid_trade(t)], "stream"
                    ), message
                    counts["trades"] += len(trades)
                    counts["decoded_symbols"].add(symbol)
                for (symbol, timeframe), rows in feed.candles.items():
                    stored = {row[0]: row for row in parser.ohlcvs[symbol][timeframe]}
                    for start, row in rows.items():
                        assert stored[start] == row, message
                        counts["candles"] += 1
                    rows.clear()
        finally:
            await parser.close()

    asyncio.run(run())
    return counts


# -- the pieces --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "amount", "size"),
    [("0.1", "3", None), ("7.6110", "297", "1"), ("29123.45", "0.00012", "0.01"), ("1", "0.30", None),
     ("0.000001", "123456789.123", "10")],
)
def test_exact_cost_is_the_decimal_product_rounded_once(price, amount, size):
    from ccxt.base.precise import Precise

    expected = Precise.string_mul(price, amount) if size is None else Precise.string_mul(
        Precise.string_mul(price, size), amount
    )
    assert exact_cost(price, amount, size) == float(expected)


@pytest.mark.parametrize(
    ("price", "amount", "size"),
    [("29123.45", "3", "100"), ("7", "1", "10"), ("0.0001234", "250", "1"), ("3", "7", "0.1"),
     ("64999.9", "12345", "100"), ("1", "1", "1")],
)
def test_an_inverse_contracts_cost_divides_by_the_price_as_ccxt_does(price, amount, size):
    from ccxt.base.precise import Precise

    expected = Precise.string_mul(Precise.string_mul(Precise.string_div("1", price), size), amount)
    assert exact_cost(price, amount, size, inverse=True) == float(expected)
    # without a contract size ccxt does not divide: the cost is the plain product
    assert exact_cost(price, amount, None, inverse=True) == float(Precise.string_mul(price, amount))


def test_an_inverse_trade_at_a_zero_price_has_no_cost_of_ours():
    assert exact_cost("0", "5", "100", inverse=True) is None
    assert exact_cost("0", "5", "100") == 0.0


@pytest.mark.parametrize("text", ["1e-5", "-1", "", ".5", "1.", "NaN", "١٢"])
def test_exact_cost_refuses_what_is_not_a_plain_decimal(text):
    assert exact_cost(text, "1", None) is None
    assert exact_cost("1", text, None) is None


def test_only_exchanges_with_a_decoder_have_one_and_unknown_names_are_refused():
    for exchange_id in ("binance", "okx", "bybit"):
        assert decoder_for(profile_for(exchange_id).stream_decoder) is not None
    assert decoder_for(profile_for("coinbase").stream_decoder) is None
    with pytest.raises(ValueError, match="unknown stream decoder 'nope'"):
        decoder_for("nope")


# -- fallback ----------------------------------------------------------------------------------------

LINEAR = {"id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT", "settle": "USDT",
          "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT", "type": "swap", "spot": False, "margin": False,
          "swap": True, "future": False, "option": False, "contract": True, "linear": True, "inverse": False,
          "contractSize": 1.0, "active": True, "precision": {"amount": 0.001, "price": 0.1}, "limits": {},
          "lowercaseId": "btcusdt", "subType": "linear"}
AGG_TRADE = {"e": "aggTrade", "E": 1700000000100, "s": "BTCUSDT", "a": 5, "p": "37000.10", "q": "0.003",
             "f": 10, "l": 11, "T": 1700000000050, "m": True}


@pytest.mark.parametrize(
    "variant",
    [
        {"p": "3.7e4"},  # not a plain decimal
        {"T": "1700000000050"},  # a time as text
        {"x": "TRADE"},  # an execution report, another branch of ccxt's parser
        {"m": "yes"},  # a side flag of another type
        {"s": "ETHUSDT"},  # a market nobody subscribed
        {"e": "markPriceUpdate"},  # another event
    ],
)
def test_a_frame_the_decoder_does_not_recognise_is_parsed_by_ccxt(variant):
    """Through the client's frame tap: a declined frame reaches ccxt's own handler, a recognised one does not."""
    reached_ccxt: list[dict] = []
    ccxt_handler = ccxt.pro.binance.handle_message

    def spy(self, client, message):
        reached_ccxt.append(message)
        try:
            return ccxt_handler(self, client, message)
        except Exception:  # ccxt may reject the odd frame: what matters here is that it got it
            return None

    async def run() -> int:
        with mock.patch.object(ccxt.pro.binance, "handle_message", spy):
            pro = ProClient("binance")
        pro.exchange.set_markets([LINEAR])
        pro.feed.register("trades", LINEAR, Signal())
        client = pro.exchange.client("ws://127.0.0.1:1/binance/ws")
        try:
            pro.exchange.handle_message(client, dict(AGG_TRADE))
            assert reached_ccxt == [] and len(pro.feed.trades["BTC/USDT:USDT"]) == 1
            pro.exchange.handle_message(client, {**AGG_TRADE, **variant})
            return len(pro.feed.trades["BTC/USDT:USDT"])
        finally:
            await pro.close()

    assert asyncio.run(run()) == 1, "the unrecognised frame was decoded"
    assert reached_ccxt == [{**AGG_TRADE, **variant}]


def test_a_market_id_two_subscriptions_share_is_left_to_ccxt():
    """binance serves spot and perpetual markets under one id on different connections: ccxt tells them apart."""
    spot = {**LINEAR, "symbol": "BTC/USDT", "type": "spot", "spot": True, "swap": False, "contract": False,
            "linear": None, "inverse": None, "contractSize": None}
    feed = DecodedFeed(decoder_for("binance_events"))
    assert feed.register("trades", LINEAR, Signal())
    assert not feed.register("trades", spot, Signal())
    assert not feed.accept(dict(AGG_TRADE))


def test_an_overflowing_feed_reports_the_eviction_like_ccxts_cache():
    feed = DecodedFeed(decoder_for("binance_events"), limit=3)
    feed.register("trades", LINEAR, Signal())
    for trade_id in range(5):
        assert feed.accept({**AGG_TRADE, "a": trade_id})
    trades, evicted = feed.take_trades("BTC/USDT:USDT")
    assert [t["id"] for t in trades] == ["2", "3", "4"] and evicted
    assert feed.take_trades("BTC/USDT:USDT") == ([], False)


def test_a_frame_touches_its_symbol_so_a_wake_up_reads_only_the_symbols_with_news():
    other = {**LINEAR, "id": "ETHUSDT", "symbol": "ETH/USDT:USDT", "base": "ETH", "baseId": "ETH"}
    feed = DecodedFeed(decoder_for("binance_events"))
    trades, candles = Signal(), Signal()
    for market in (LINEAR, other):
        feed.register("trades", market, trades)
        feed.register("ohlcv", market, candles, "1m", "1m")
    assert feed.accept({**AGG_TRADE, "s": "ETHUSDT"})
    kline = {"e": "kline", "E": 1700000000100, "s": "BTCUSDT",
             "k": {"t": 1699999980000, "s": "BTCUSDT", "i": "1m", "o": "1", "h": "2", "l": "0.5", "c": "1.5", "v": "3"}}
    assert feed.accept(kline)
    assert trades.pending and candles.pending
    assert trades.take_touched() == {"ETH/USDT:USDT"} and trades.take_touched() == set()
    assert candles.take_touched() == {"BTC/USDT:USDT"}


# -- the simulators' frames, all four exchanges ---------------------------------------------------------


@pytest.fixture
def ws(store):
    with simulated_streams(SIM_NOW) as server:
        yield server


SIMULATED = {
    "binance": ["ETH/USDT", "BTC/USDT:USDT", "BTC/USD:BTC"],
    "okx": ["BTC/USDT", "BTC/USDT:USDT", "BTC/USD:BTC"],
    "bybit": ["ETH/USDT", "BTC/USDT:USDT", "BTC/USD:BTC"],
    "coinbase": ["BTC/USD"],
}


@pytest.mark.parametrize("exchange_id", sorted(SIMULATED))
def test_decoders_yield_ccxts_rows_on_the_simulators_frames(ws, monkeypatch, exchange_id):
    recorded: list[tuple[str, object]] = []
    tap = ProClient._tap

    def recording_tap(self) -> None:  # outside the client's own tap: every frame, decoded or not
        tap(self)
        inner = self.exchange.handle_message

        def record(client, message):
            recorded.append((client.url, copy.deepcopy(message)))
            return inner(client, message)

        self.exchange.handle_message = record

    monkeypatch.setattr(ProClient, "_tap", recording_tap)
    symbols = SIMULATED[exchange_id]
    stream = CcxtStream(exchange_id, symbols, ["trades", "ohlcv"], "1m", flush_interval=0.05)

    async def scenario() -> list[dict]:
        task = asyncio.ensure_future(stream.run())
        await stream.wait_ready(30)
        deadline = asyncio.get_running_loop().time() + 30
        while ws.subscribed(exchange_id, TRADES) < len(symbols) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        for symbol in symbols:
            ws.play(exchange_id, symbol, 400, rate=4_000)
        while stream.metrics.total("rows", "trades") < 400 * len(symbols):
            assert asyncio.get_running_loop().time() < deadline, stream.metrics.log_line()
            await asyncio.sleep(0.05)
        markets = list(stream.pro.exchange.markets.values())
        stream.stop()
        await task
        return markets

    markets = asyncio.run(scenario())
    counts = compare(exchange_id, markets, recorded, [m for m in markets if m["symbol"] in symbols])
    print(exchange_id, counts)
    if profile_for(exchange_id).stream_decoder is None:
        assert counts["decoded"] == 0
        return
    assert counts["trades"] > 0 and counts["candles"] > 0, counts
    # spot, linear and inverse markets alike: every subscribed market's trades took the decoder's path
    assert counts["decoded_symbols"] == set(symbols), counts


# -- real exchange captures --------------------------------------------------------------------------


def _capture_frames(directory: Path, name: str) -> list[tuple[str, object]]:
    url, frames = "", []
    for line in (directory / f"{name}.ws.1.0").read_text().splitlines():
        if " <-> " in line and not line[:1].isdigit():
            url = line.split(" <-> ")[0]
            continue
        if " <- " in line[:300]:
            continue
        _, _, body = line.partition(": ")
        try:
            frames.append((url, json.loads(body)))
        except ValueError:
            continue
    return frames


def _capture_markets(exchange_id: str, directory: Path, name: str, types: list[str]) -> list[dict]:
    """ccxt's markets parsed from the captured REST answers (its own ``load_markets``, answered offline)."""
    answers = {}
    for line in (directory / f"{name}.0").read_text().splitlines():
        head, _, body = line.partition(": ")
        answers[head.split(" -> ")[0].split("://", 1)[-1].split("/", 1)[-1]] = body

    async def run() -> list[dict]:
        exchange = getattr(ccxt.pro, exchange_id)({"options": {"fetchMarkets": {"types": types}}})

        async def fetch(url, method="GET", headers=None, body=None):
            path = url.split("://", 1)[-1].split("/", 1)[-1]
            if path in answers:
                return json.loads(answers[path])
            if "exchangeInfo" in path:
                return {"timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [], "symbols": []}
            if "instruments" in path:
                return {"code": "0", "data": [], "msg": ""}
            raise ccxt.pro.NotSupported(f"not captured: {path}")

        exchange.fetch = fetch
        try:
            await exchange.load_markets()
            return list(exchange.markets.values())
        finally:
            await exchange.close()

    return asyncio.run(run())


CAPTURED = [
    ("binance", "BINANCE_FUTURES", ["linear"]),
    ("binance", "BINANCE", ["spot"]),
    ("okx", "OKX", ["spot", "swap", "future"]),
]


@pytest.mark.parametrize(("exchange_id", "name", "types"), CAPTURED, ids=[c[1] for c in CAPTURED])
def test_decoders_yield_ccxts_rows_on_every_captured_frame(exchange_id, name, types):
    directory = _captures()
    if directory is None or not (directory / f"{name}.ws.1.0").exists():
        pytest.skip("no exchange captures here (../shared/captures or $ZVT_CCXT_CAPTURES)")
    markets = _capture_markets(exchange_id, directory, name, types)
    frames = _capture_frames(directory, name)
    counts = compare(exchange_id, markets, frames, markets)
    print(name, counts)
    assert counts["decoded"] > 0 and counts["trades"] > 0, counts
