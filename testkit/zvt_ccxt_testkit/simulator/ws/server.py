"""The websocket server: plays deterministic tapes to subscribed connections and injects faults.

It runs an aiohttp application on 127.0.0.1 in a thread of its own (so synchronous tests and a stream's
event loop can both use it). Websocket paths start with the exchange (``/binance/stream/ws/0``,
``/okx/ws/v5/public``, ``/bybit/v5/public/spot``, ``/coinbase``); REST requests in the HTTP simulator's form
(``/_host/<real host>/<path>``) are answered from the tapes where a stream needs them (trades for repair,
depth snapshots, funding) and passed to the HTTP simulator otherwise, so one base URL serves a client.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
from aiohttp import web

from zvt_ccxt_testkit.simulator.universe import build_universe
from zvt_ccxt_testkit.simulator.ws.base import BOOK, FUNDING, HOUR, KLINE, MINUTE, TRADES, Conn, Protocol, dumps
from zvt_ccxt_testkit.simulator.ws.binance import Binance
from zvt_ccxt_testkit.simulator.ws.bybit import Bybit
from zvt_ccxt_testkit.simulator.ws.coinbase import Coinbase
from zvt_ccxt_testkit.simulator.ws.okx import Okx
from zvt_ccxt_testkit.simulator.ws.tape import Bar, Book, SimTrade, Tape

PROTOCOLS: tuple[type[Protocol], ...] = (Binance, Okx, Bybit, Coinbase)
#: trades one tape plays per tick at most, so a fast tape never blocks pings and other tapes
MAX_TRADES_PER_TICK = 2000


class WsExchangeServer:
    """Local websocket exchange. ``rest`` (an ``ExchangeSimulator``) answers the REST calls the tapes do not; with
    ``history_from_rest`` it answers every REST call but those a stream's book is built from (``book_rest``), so
    history reaches back before the tapes began while books still agree with their websocket diffs."""

    def __init__(
        self,
        rest: Any = None,
        start_ms: int | None = None,
        spacing_ms: int = 100,
        tick_s: float = 0.005,
        funding_every_s: float = 0.2,
        host: str = "127.0.0.1",
        history_from_rest: bool = False,
    ) -> None:
        self.rest_sim = rest
        self.history_from_rest = history_from_rest
        if start_ms is None:
            now = rest.now_ms if rest is not None else int(time.time() * 1000)
            start_ms = (now - 2 * HOUR) // MINUTE * MINUTE
        self.start_ms = int(start_ms)
        self.spacing_ms = int(spacing_ms)
        self.tick_s = tick_s
        self.funding_every_s = funding_every_s
        self.host = host
        self.markets = rest.markets if rest is not None else build_universe()
        self.protocols: dict[str, Protocol] = {cls.name: cls(self) for cls in PROTOCOLS}
        self.connections: list[Conn] = []
        self.frames_sent: Counter = Counter()
        self.frames_dropped: Counter = Counter()
        self._tapes: dict[tuple[str, str, str], Tape] = {}
        self._anchors: dict[int, tuple[float, int]] = {}
        self._books: dict[int, Book] = {}
        self._bars: dict[tuple[int, int], tuple[Bar, int]] = {}
        #: exchange -> (api key, secret, passphrase) a private login must sign with (unset: any login passes)
        self.credentials: dict[str, tuple[str, str, str]] = {}
        #: exchange -> currency -> (free, used): the account a private balance subscription is shown
        self.balances: dict[str, dict[str, tuple[str, str]]] = {}
        self._drops: Counter = Counter()
        self._corrupt: set[tuple[str, str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._port = 0
        self._error: BaseException | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> WsExchangeServer:
        self._thread = threading.Thread(target=self._serve, name="ws-exchange-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("websocket simulator did not start")
        if self._error:
            raise RuntimeError(f"websocket simulator failed to start: {self._error}")
        return self

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> WsExchangeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as error:  # reported to start() when it happens before ready
            self._error = error
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/_host/{host}/{path:.*}", self._rest)
        app.router.add_get("/{exchange}{tail:.*}", self._ws)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]
        self._session = aiohttp.ClientSession()
        producer = asyncio.ensure_future(self._produce())
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            producer.cancel()
            for conn in list(self.connections):
                if conn.transport is not None:
                    conn.transport.abort()
            await self._session.close()
            await runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self._port}"

    def repoint(self, exchange: Any) -> Any:
        """Point a ccxt.pro client's websocket URLs at this server (REST stays where it is; REST-only clients pass).

        Every websocket URL the client holds is replaced, the ones this server does not serve included (they get a
        path it refuses), so a key renamed by a ccxt release can never send a stream to a real host."""
        ws, name = self.ws_url, exchange.id
        if not isinstance(exchange.urls.get("api"), dict) or "ws" not in exchange.urls["api"]:
            return exchange
        served: dict[str, str] = {}
        if name == "binance":
            # ccxt <= 4.5.85 names the perpetual streams future/delivery, later releases linear/inverse
            fstream, dstream = f"{ws}/binance/fstream/ws", f"{ws}/binance/dstream/ws"
            served = {"spot": f"{ws}/binance/stream/ws", "margin": f"{ws}/binance/stream/ws"}
            served |= {"future": fstream, "linear": fstream, "delivery": dstream, "inverse": dstream}
        elif name == "okx":
            exchange.urls["api"]["ws"] = f"{ws}/okx/ws/v5"
        elif name == "bybit":
            served = {f"public.{kind}": f"{ws}/bybit/v5/public/{kind}" for kind in ("spot", "linear", "inverse")}
            served["private.contract"] = f"{ws}/bybit/v5/private"
        elif name == "coinbase":
            exchange.urls["api"]["ws"] = f"{ws}/coinbase"
        exchange.urls["api"]["ws"] = _local_urls(exchange.urls["api"]["ws"], served, ws, name)
        return exchange

    # -- tapes --------------------------------------------------------------------------------------

    def tape_by_id(self, exchange: str, market_id: str, kind: str | None, create: bool = True) -> Tape | None:
        for market in self.markets.get(exchange, []):
            if market.id == market_id and (kind is None or market.kind == kind) and not market.hidden:
                key = (exchange, market.kind, market.id)
                tape = self._tapes.get(key)
                if tape is None and create:
                    tape = Tape.for_market(market, self.start_ms, self.spacing_ms, first_id=1000)
                    self._tapes[key] = tape
                return tape
        return None

    def tape(self, exchange: str, symbol: str) -> Tape:
        """The tape of a market by ccxt symbol (created on first use)."""
        for market in self.markets[exchange]:
            if market.symbol == symbol:
                tape = self.tape_by_id(exchange, market.id, market.kind)
                assert tape is not None
                return tape
        raise KeyError(f"{exchange} has no simulated market {symbol!r}")

    def book(self, tape: Tape) -> Book:
        book = self._books.get(id(tape))
        if book is None:
            book = self._books[id(tape)] = Book(tape)
        return book

    def funding(self, tape: Tape) -> dict:
        now = tape.start_ms + tape.position * tape.spacing_ms
        rate = 0.0001 + 0.00005 * math.sin(tape.position / 500.0)
        return {"rate": f"{rate:.8f}", "next_ms": (now // (8 * HOUR) + 1) * 8 * HOUR, "now_ms": now}

    def now_ms(self, exchange: str) -> int:
        times = [t.start_ms + t.position * t.spacing_ms for (e, _, _), t in self._tapes.items() if e == exchange]
        return max(times, default=self.start_ms)

    # -- controls (callable from any thread) ---------------------------------------------------------

    def _call(self, function: Callable[[], Any]) -> Any:
        async def run() -> Any:
            result = function()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def play(self, exchange: str, symbol: str, count: int | None = None, rate: float = math.inf) -> Tape:
        """Produce ``count`` more trades (None: without end) at ``rate`` per second (inf: as fast as possible)."""
        tape = self.tape(exchange, symbol)

        def apply() -> None:
            tape.limit = None if count is None else tape.position + int(count)
            tape.rate = rate
            self._anchors[id(tape)] = (self._loop.time(), tape.position)

        self._call(apply)
        return tape

    def pause(self, exchange: str, symbol: str) -> None:
        tape = self.tape(exchange, symbol)
        self._call(lambda: setattr(tape, "rate", 0.0))

    def drop(self, exchange: str, count: int, channel: str = TRADES) -> None:
        """Skip the next ``count`` frames of ``channel`` on any connection of ``exchange`` (a frame lost in transit)."""
        self._call(lambda: self._drops.update({(exchange, channel): count}))

    def corrupt_book(self, exchange: str, symbol: str) -> None:
        """Break the next book update of ``symbol``: a bad checksum (okx) or a sequence gap (everywhere else)."""
        tape = self.tape(exchange, symbol)
        self._call(lambda: self._corrupt.add((exchange, tape.market_id)))

    def stall(self, exchange: str) -> int:
        """Stop sending data on every open connection of ``exchange``, keeping them open and answering pings."""

        def apply() -> int:
            stalled = [c for c in self.connections if c.exchange == exchange]
            for conn in stalled:
                conn.stalled = True
            return len(stalled)

        return self._call(apply)

    def close_connections(self, exchange: str, abrupt: bool = True) -> int:
        """Close every connection of ``exchange``: abruptly (TCP reset, no close frame) or with a close frame."""

        async def apply() -> int:
            closing = [c for c in self.connections if c.exchange == exchange]
            for conn in closing:
                if abrupt and conn.transport is not None:
                    conn.transport.abort()
                else:
                    await conn.ws.close(code=1001, message=b"going away")
            return len(closing)

        return self._call(apply)

    def replay(self, exchange: str, frames: Iterable[Any], where: Callable[[Conn], bool] | None = None) -> int:
        """Send raw frames (text or JSON-able objects) to the open connections of ``exchange``."""
        payloads = [f if isinstance(f, str) else dumps(f) for f in frames]

        async def apply() -> int:
            sent = 0
            for conn in [c for c in self.connections if c.exchange == exchange and (where is None or where(c))]:
                for payload in payloads:
                    await self.protocols[exchange].send(conn, payload)
                    sent += 1
            return sent

        return self._call(apply)

    def push_private(self, exchange: str, channel: str, data: list[dict]) -> int:
        """Send a private push (okx ``orders``/``positions``/``account`` rows) to the logged-in subscribers."""
        protocol = self.protocols[exchange]

        async def apply() -> int:
            readers = [c for c in self.connections if c.exchange == exchange and (channel, "*") in c.subscriptions]
            for conn in readers:
                await protocol.send(conn, protocol.private_frame(channel, data))
            return len(readers)

        return self._call(apply)

    def subscribed(self, exchange: str, channel: str) -> int:
        """How many (connection, market) subscriptions of ``channel`` are open on ``exchange``."""
        return self._call(
            lambda: sum(
                1
                for c in self.connections
                if c.exchange == exchange
                for key in c.subscriptions
                if key[0] == channel and not c.stalled
            )
        )

    # -- producing ----------------------------------------------------------------------------------

    async def _produce(self) -> None:
        last_funding = 0.0
        while True:
            await asyncio.sleep(self.tick_s)
            now = self._loop.time()
            for tape in list(self._tapes.values()):
                if tape.rate <= 0:
                    continue
                anchor_time, anchor_position = self._anchors.get(id(tape), (now, tape.position))
                elapsed = now - anchor_time
                target = (anchor_position + int(elapsed * tape.rate)) if math.isfinite(tape.rate) else math.inf
                if tape.limit is not None:
                    target = min(target, tape.limit)
                stop = int(min(target, tape.position + MAX_TRADES_PER_TICK))
                if stop <= tape.position:
                    continue
                trades = tape.trades(tape.position, stop)
                tape.position = stop
                await self._dispatch(tape, trades)
            if now - last_funding >= self.funding_every_s:
                last_funding = now
                await self._push_funding()

    def _audience(self, tape: Tape) -> list[Conn]:
        return [c for c in self.connections if c.exchange == tape.exchange and (c.kind in (None, tape.kind))]

    async def _dispatch(self, tape: Tape, trades: list[SimTrade]) -> None:
        protocol = self.protocols[tape.exchange]
        audience = self._audience(tape)
        for conn in audience:
            if conn.subscribed(TRADES, tape.market_id):
                await self._send(conn, protocol.trade_frames(conn, tape, trades), TRADES)
        intervals = {c.subscriptions[(KLINE, tape.market_id)] for c in audience if c.subscribed(KLINE, tape.market_id)}
        for interval in intervals:
            updates = self._bar_updates(tape, interval, trades)
            for conn in audience:
                if conn.subscriptions.get((KLINE, tape.market_id)) == interval:
                    frames = [protocol.kline_frame(conn, tape, interval, bar, closed) for bar, closed in updates]
                    await self._send(conn, [f for f in frames if f], KLINE)
        book = self.book(tape)
        bids, asks = book.advance(trades[-1].price_units)
        corrupt = (tape.exchange, tape.market_id) in self._corrupt
        readers = [c for c in audience if c.subscribed(BOOK, tape.market_id)]
        if corrupt and readers:
            self._corrupt.discard((tape.exchange, tape.market_id))
        for conn in readers:
            await self._send(conn, protocol.book_update(conn, tape, book, bids, asks, corrupt), BOOK)

    def _bar_updates(self, tape: Tape, interval: int, trades: list[SimTrade]) -> list[tuple[Bar, bool]]:
        """Closed bars completed by ``trades`` (final values) and the forming bar after them."""
        key = (id(tape), interval)
        cached = self._bars.get(key)
        first = trades[0]
        if cached is None or cached[1] != first.index:
            start = first.ts // interval * interval
            history = tape.trades(tape.index_at(start), first.index)
            bar = None
            for trade in history:
                if bar is None:
                    bar = Bar.of(start, trade)
                else:
                    bar.add(trade)
        else:
            bar = cached[0]
        updates: list[tuple[Bar, bool]] = []
        for trade in trades:
            start = trade.ts // interval * interval
            if bar is None or bar.start != start:
                if bar is not None:
                    updates.append((bar, True))
                bar = Bar.of(start, trade)
            else:
                bar.add(trade)
        self._bars[key] = (bar, trades[-1].index + 1)
        updates.append((Bar(**vars(bar)), False))
        return updates

    async def _push_funding(self) -> None:
        for conn in list(self.connections):
            protocol = self.protocols[conn.exchange]
            for channel, market_id in list(conn.subscriptions):
                if channel != FUNDING:
                    continue
                tape = self.tape_by_id(conn.exchange, market_id, conn.kind)
                frame = protocol.funding_frame(conn, tape, self.funding(tape)) if tape else None
                if frame:
                    await self._send(conn, [frame], FUNDING)

    async def _send(self, conn: Conn, frames: list[str], channel: str) -> None:
        for frame in frames:
            if conn.stalled or conn.ws.closed:
                return
            key = (conn.exchange, channel)
            if self._drops.get(key):
                self._drops[key] -= 1
                self.frames_dropped[conn.exchange] += 1
                continue
            try:
                await conn.ws.send_str(self.protocols[conn.exchange].finalize(conn, frame))
            except (ConnectionError, RuntimeError):
                return
            conn.frames_sent += 1
            self.frames_sent[conn.exchange] += 1

    # -- handlers -----------------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        exchange = request.match_info["exchange"]
        protocol = self.protocols.get(exchange)
        if protocol is None:
            raise web.HTTPNotFound(text=f"no simulated stream for {exchange!r}")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        conn = Conn(ws, exchange, request.path, protocol.kind_of(request.path), transport=request.transport)
        self.connections.append(conn)
        try:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    try:
                        await protocol.on_text(conn, message.data)
                    except (ValueError, KeyError) as error:
                        await ws.send_str(dumps({"error": f"bad request: {error}"}))
        finally:
            if conn in self.connections:
                self.connections.remove(conn)
        return ws

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        host, path = request.match_info["host"], "/" + request.match_info["path"]
        query = dict(request.query)
        for protocol in self.protocols.values():
            if self.history_from_rest:
                answer = protocol.book_rest(host, path, query)
            else:
                answer = protocol.rest(host, path, query)
            if answer is not None:
                return web.json_response(answer.body, status=answer.status, dumps=dumps)
        if self.rest_sim is None:
            return web.json_response({"error": "not simulated"}, status=404)
        body = await request.read()
        async with self._session.request(
            request.method, self.rest_sim.base_url + request.path_qs, data=body or None
        ) as response:
            payload = await response.read()
            headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_HEADERS}
            return web.Response(body=payload, status=response.status, headers=headers)


_HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}


def _local_urls(urls: Any, served: dict[str, str], local: str, name: str, path: str = "") -> Any:
    """``urls`` with each URL at a dotted key path in ``served`` replaced by its local URL and every other URL not
    already under ``local`` by one under ``local/unserved/`` (answered 404)."""
    if isinstance(urls, dict):
        return {
            key: _local_urls(value, served, local, name, f"{path}.{key}" if path else key)
            for key, value in urls.items()
        }
    if not isinstance(urls, str) or urls.startswith(local):
        return urls
    return served.get(path, f"{local}/unserved/{name}/{path or 'root'}")
