"""A local websocket exchange that replays captured binance USD-M futures or okx frames, for streaming benchmarks.

It speaks just enough of each exchange for ccxt.pro and cryptofeed alike: binance raw streams
(``/binance/ws`` + ``SUBSCRIBE``, what ccxt uses) and combined streams (``/binance/stream?streams=...``,
what cryptofeed uses), okx ``/okx/ws/v5/public`` with ``subscribe``; REST in the package simulator's
``/_host/<real host>/<path>`` form, answered from the captured REST traffic (markets, depth). Each frame
goes to the connections subscribed to its stream. Playing starts once every stream of the frames is
subscribed (or after SUBSCRIBE_WAIT_S with what is), at ``--rate`` frames a second (0: as fast as the client
reads, aiohttp waits while a socket's buffer is full), with an optional burst of ``--burst-factor`` times
the rate for ``--burst-s`` seconds. ``--stamp-now`` sets each frame's event and trade time to the moment
it is sent, so a client's event-to-commit latency is send-to-commit.

``python -m benchmarks.replay_server --exchange binance --frames N ...`` prints ``{"base_url": ...}`` when
ready and serves until stdin closes; ``GET /_bench/stats`` reports what was sent and when.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from aiohttp import WSMsgType, web

from benchmarks import captures

CAPTURE_OF = {"binance": "BINANCE_FUTURES", "okx": "OKX"}
#: frames of these channels are replayed: what both a zvt-ccxt stream and cryptofeed turn into rows
CHANNELS = {"binance": ("aggTrade", "kline_1m"), "okx": ("trades",)}
EMPTY_EXCHANGE_INFO = {"timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [], "symbols": []}


def stream_key(exchange: str, frame: dict) -> str:
    """The subscription a frame belongs to: ``sushiusdt@aggTrade`` or ``trades:BTC-USDT``."""
    if exchange == "binance":
        return str(frame.get("stream"))
    arg = frame.get("arg") or {}
    return f"{arg.get('channel')}:{arg.get('instId')}"


#: how long playing waits for every stream to be subscribed (``--subscribe-wait``): a client process importing zvt
#: on a loaded 2-core machine can take over 20 s to subscribe, and frames sent before then are lost to it
SUBSCRIBE_WAIT_S = 20.0

#: okx instruments replayed: those a zvt-ccxt stream can hold (spot pairs and perpetuals)
OKX_INSTRUMENTS = ("BTC-USDT", "UNI-USD-SWAP")


def selected_frames(exchange: str, count: int) -> tuple[list[tuple[str, dict]], captures.Capture]:
    """``count`` (stream key, frame) of the capture's trade and candle frames, repeated and shifted."""
    directory = captures.captures_dir()
    if directory is None:
        raise SystemExit("no captures: set ZVT_CCXT_CAPTURES or put them in ../shared/captures")
    capture = captures.load(CAPTURE_OF[exchange], directory)
    wanted = CHANNELS[exchange]
    capture.frames = [f for f in capture.frames if _replayed(exchange, stream_key(exchange, f), wanted)]
    texts = captures.repeated(capture, count)
    frames = [json.loads(t) for t in texts]
    return [(stream_key(exchange, f), f) for f in frames], capture


def _replayed(exchange: str, key: str, channels: tuple[str, ...]) -> bool:
    if exchange == "binance":
        return key.split("@", 1)[-1] in channels
    channel, _, instrument = key.partition(":")
    return channel in channels and instrument in OKX_INSTRUMENTS


@dataclass
class Connection:
    ws: web.WebSocketResponse
    combined: bool  # binance combined stream (frames wrapped in {"stream", "data"})
    streams: set[str] = field(default_factory=set)


class ReplayServer:
    def __init__(self, exchange: str, count: int, rate: float, burst_factor: float, burst_s: float, stamp: bool):
        self.exchange = exchange
        self.frames, self.capture = selected_frames(exchange, count)
        self.keys = {key for key, _ in self.frames}
        # Rendered once, before playing: a server that serialises while it sends caps every client at its own
        # speed, and the clients, not the server, are what is measured.
        self.rendered = [(_render(exchange, frame, False), _render(exchange, frame, True)) for _, frame in self.frames]
        self.rate, self.burst_factor, self.burst_s, self.stamp = rate, burst_factor, burst_s, stamp
        self.subscribe_wait_s = SUBSCRIBE_WAIT_S
        self.connections: list[Connection] = []
        self._trades_by_symbol: dict[str, list[dict]] = {}
        self.subscribed = asyncio.Event()
        trades = sum(_trade_count(exchange, frame) for _, frame in self.frames)
        self.stats = {"frames": len(self.frames), "trades": trades, "sent": 0, "deliveries": 0, "unrouted": 0,
                      "first_send": None, "last_send": None, "done": False, "connections": 0}

    # -- websocket --------------------------------------------------------------------------------
    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        # combined streams (``/stream?streams=...``): cryptofeed 2.x asks for ``/stream``, 3.x for USD-M's
        # ``/market/stream`` (and ``/public/stream`` for books); ccxt subscribes on a raw ``/ws`` socket
        combined = request.path.startswith("/binance/") and request.path.rstrip("/").endswith("/stream")
        conn = Connection(ws, combined)
        if combined:
            conn.streams |= set(parse_qs(request.query_string).get("streams", [""])[0].split("/"))
        self.connections.append(conn)
        self.stats["connections"] += 1
        self._check_subscribed()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_text(conn, message.data)
        finally:
            self.connections.remove(conn)
        return ws

    async def _on_text(self, conn: Connection, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return  # okx's "ping"
        if self.exchange == "binance" and message.get("method") == "SUBSCRIBE":
            conn.streams |= set(message.get("params") or [])
            await conn.ws.send_str(json.dumps({"result": None, "id": message.get("id")}))
        elif self.exchange == "okx" and message.get("op") == "subscribe":
            for arg in message.get("args") or []:
                conn.streams.add(f"{arg.get('channel')}:{arg.get('instId')}")
                await conn.ws.send_str(json.dumps({"event": "subscribe", "arg": arg}))
        self._check_subscribed()

    def _check_subscribed(self) -> None:
        have = set().union(*(c.streams for c in self.connections)) if self.connections else set()
        if self.keys <= have:
            self.subscribed.set()

    # -- playing ----------------------------------------------------------------------------------
    async def play(self) -> None:
        try:
            await asyncio.wait_for(self.subscribed.wait(), self.subscribe_wait_s)
        except TimeoutError:
            pass
        await asyncio.sleep(0.2)  # let the client settle its subscriptions
        started = time.perf_counter()
        self.stats["first_send"] = time.time()
        for index, (key, frame) in enumerate(self.frames):
            if self.rate:
                due = started + self._due(index)
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            targets = [c for c in self.connections if key in c.streams]
            if not targets:
                self.stats["unrouted"] += 1
                continue
            if self.stamp:
                frame = _stamped(self.exchange, frame, int(time.time() * 1000))
                texts = (_render(self.exchange, frame, False), _render(self.exchange, frame, True))
            else:
                texts = self.rendered[index]
            self._remember(frame)
            for conn in targets:
                try:
                    await conn.ws.send_str(texts[conn.combined])
                except (ConnectionError, RuntimeError):
                    continue
                self.stats["deliveries"] += 1
            self.stats["sent"] += 1
        self.stats["last_send"] = time.time()
        self.stats["done"] = True

    def _due(self, index: int) -> float:
        """Seconds after the start at which frame ``index`` is sent: ``rate``, with the burst from second 2."""
        normal, fast = self.rate, self.rate * self.burst_factor
        before = 2.0 * normal
        if self.burst_factor <= 1 or index < before:
            return index / normal
        burst_frames = self.burst_s * fast
        if index < before + burst_frames:
            return 2.0 + (index - before) / fast
        return 2.0 + self.burst_s + (index - before - burst_frames) / normal

    # -- rest -------------------------------------------------------------------------------------
    def _remember(self, frame: dict) -> None:
        """Keep every binance trade as sent (times stamped), so REST answers a repair as the exchange would."""
        data = frame.get("data") or {}
        if self.exchange == "binance" and data.get("e") == "aggTrade":
            row = {k: data[k] for k in ("a", "p", "q", "f", "l", "T", "m")}
            self._trades_by_symbol.setdefault(data["s"], []).append(row)

    def _agg_trades(self, query) -> list[dict]:
        """binance ``aggTrades`` from the trades sent so far (what a stream asks for to repair a gap)."""
        rows = self._trades_by_symbol.get(query.get("symbol", ""), [])
        limit = min(int(query.get("limit") or 500), 1000)
        if query.get("fromId"):
            rows = [r for r in rows if r["a"] >= int(query["fromId"])]
        if query.get("startTime"):
            rows = [r for r in rows if r["T"] >= int(query["startTime"])]
        if query.get("endTime"):
            rows = [r for r in rows if r["T"] <= int(query["endTime"])]
        return rows[:limit]

    async def rest(self, request: web.Request) -> web.Response:
        host, path = request.match_info["host"], request.match_info["path"]
        if path.endswith("/aggTrades"):
            return web.json_response(self._agg_trades(request.query))
        target = path + ("?" + request.query_string if request.query_string else "")
        body = self.capture.rest.get(target) or self.capture.rest.get(path)
        if body is None and "exchangeInfo" in path:
            body = json.dumps({**EMPTY_EXCHANGE_INFO, "serverTime": int(time.time() * 1000)})
        if body is None and path.endswith("time"):
            body = json.dumps({"serverTime": int(time.time() * 1000)})
        if body is None and self.exchange == "okx" and "instruments" in path:
            body = json.dumps({"code": "0", "data": [], "msg": ""})
        if body is None:
            return web.json_response({"code": -1, "msg": f"not captured: {host}/{target}"}, status=404)
        return web.Response(text=body, content_type="application/json")

    async def stats_page(self, _request: web.Request) -> web.Response:
        return web.json_response(self.stats)


def _render(exchange: str, frame: dict, combined: bool) -> str:
    """The text sent for ``frame``: binance raw streams carry only the event, combined streams the wrapper."""
    payload = frame["data"] if exchange == "binance" and not combined else frame
    return json.dumps(payload, separators=(",", ":"))


def _trade_count(exchange: str, frame: dict) -> int:
    if exchange == "binance":
        return int((frame.get("data") or {}).get("e") == "aggTrade")
    return len(frame.get("data") or []) if (frame.get("arg") or {}).get("channel") == "trades" else 0


def _stamped(exchange: str, frame: dict, now_ms: int) -> dict:
    frame = json.loads(json.dumps(frame))
    if exchange == "binance":
        data = frame["data"]
        for key in ("E", "T"):
            if key in data:
                data[key] = now_ms
    else:
        for row in frame.get("data") or []:
            row["ts"] = str(now_ms)
    return frame


async def serve(args: argparse.Namespace) -> None:
    server = ReplayServer(args.exchange, args.frames, args.rate, args.burst_factor, args.burst_s, args.stamp_now)
    server.subscribe_wait_s = args.subscribe_wait
    app = web.Application()
    app.router.add_get("/_bench/stats", server.stats_page)
    app.router.add_get("/binance/{tail:.*}", server.websocket)  # ccxt: .../ws or .../market/ws/N; cryptofeed: /stream
    app.router.add_get("/okx/ws/v5/public", server.websocket)
    app.router.add_route("*", "/_host/{host}/{path:.*}", server.rest)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(json.dumps({"base_url": f"http://127.0.0.1:{port}", "ws_url": f"ws://127.0.0.1:{port}"}), flush=True)
    player = asyncio.ensure_future(server.play())
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    player.cancel()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchange", choices=sorted(CAPTURE_OF), required=True)
    parser.add_argument("--frames", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--burst-factor", type=float, default=1.0)
    parser.add_argument("--burst-s", type=float, default=0.0)
    parser.add_argument("--stamp-now", action="store_true")
    parser.add_argument("--subscribe-wait", type=float, default=SUBSCRIBE_WAIT_S, metavar="SECONDS")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
