"""The HTTP server: routes ``/_host/<real host>/<real path>`` to the exchange handlers."""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .pricing import BASE, CLOSE, HIGH, LOW, OPEN, TS, decimals_of
from .timeframes import UNIFIED_TIMEFRAMES
from .universe import SIMULATED_EXCHANGES, SimMarket, build_universe
from .venues import VENUES, Request, Response
from .venues.common import json_response

HOST_PREFIX = "/_host/"

_REAL_URL = re.compile(r"^https?://([^/]+)(.*)$", re.S)
_SIM_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]+" + re.escape(HOST_PREFIX) + r"([^/?#]+)(.*)$", re.S)



def real_url(sim_url: str) -> str:
    """Turn a simulator URL (``http://127.0.0.1:PORT/_host/HOST/path?q``) back into ``https://HOST/path?q``.
    Any other string is returned unchanged."""
    m = _SIM_URL.match(sim_url)
    if not m:
        return sim_url
    return f"https://{m.group(1)}{m.group(2)}"


def sim_url(url: str, base_url: str) -> str:
    """Turn a real ``https://HOST/...`` URL (``{hostname}`` placeholders allowed) into a simulator URL."""
    url = real_url(url)
    m = _REAL_URL.match(url)
    if not m:
        return url
    return f"{base_url.rstrip('/')}{HOST_PREFIX}{m.group(1)}{m.group(2)}"


def _rewrite(value: Any, base_url: str) -> Any:
    if isinstance(value, str):
        return sim_url(value, base_url)
    if isinstance(value, dict):
        return {k: _rewrite(v, base_url) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, base_url) for v in value]
    if isinstance(value, tuple):
        return tuple(_rewrite(v, base_url) for v in value)
    return value


def repoint(client: Any, base_url: str) -> Any:
    """Point every http(s) URL of ``client.urls["api"]`` at the simulator (websocket URLs are left alone).
    Re-pointing an already re-pointed client targets the new ``base_url``.  Returns the client."""
    client.urls["api"] = _rewrite(client.urls["api"], base_url)
    return client


@dataclass
class _Fault:
    exchange: str | None
    needle: str
    status: int
    body: bytes
    headers: dict[str, str]
    remaining: int | None
    skip: int = 0
    action: str | None = None
    delay: float = 0.0
    transform: Callable[[Any], Any] | None = None


@dataclass
class _FaultResponse(Response):
    """A fault's answer: ``action`` makes the handler stall, reset or truncate; ``transform`` rewrites the real one."""

    action: str | None = None
    delay: float = 0.0
    transform: Callable[[Any], Any] | None = None

    def rewrite(self, real: Response) -> Response:
        changed = self.transform(json.loads(real.body))  # type: ignore[misc]
        body = changed if isinstance(changed, bytes) else json.dumps(changed, separators=(",", ":")).encode()
        return _FaultResponse(real.status, body, dict(real.headers), self.action, self.delay)


def _fault_body(body: Any) -> tuple[bytes, str]:
    if body is None:
        return b"", "application/json"
    if isinstance(body, (dict, list)):
        return json.dumps(body, separators=(",", ":")).encode(), "application/json"
    if isinstance(body, bytes):
        text = body
    else:
        text = str(body).encode()
    kind = "text/html" if text.lstrip().startswith(b"<") else "application/json"
    return text, kind


@dataclass
class WeightLimit:
    """A request-weight budget per fixed wall-clock window, enforced per client address like binance's IP limit.

    Over budget a request is answered 429 with ``Retry-After``; a client that keeps asking after
    ``ban_after`` refusals in one window is banned for ``ban_ms`` (418, "banned until"). Each client address
    (127.0.0.1, 127.0.0.2, ...) has a budget of its own."""

    exchange: str = "binance"
    limit: int = 6000
    window_ms: int = 60_000
    #: weight by path suffix (binance spot: klines 2, exchangeInfo 20); anything else costs ``default_weight``
    weights: dict[str, int] = field(default_factory=lambda: {"/klines": 2, "/exchangeInfo": 20})
    default_weight: int = 1
    ban_after: int = 20
    ban_ms: int = 120_000

    def weight_of(self, path: str) -> int:
        return next((w for suffix, w in self.weights.items() if path.endswith(suffix)), self.default_weight)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "nginx"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        sim: ExchangeSimulator = self.server.simulator  # type: ignore[attr-defined]
        sim._client.address = self.client_address[0]
        if sim.latency_ms:
            time.sleep(sim.latency_ms / 1000)
        resp = sim._dispatch(self.command, self.path)
        action = getattr(resp, "action", None)
        if action == "stall":
            time.sleep(getattr(resp, "delay", 0.0))
        elif action == "reset":  # close at once: SO_LINGER 0 turns the close into a TCP reset
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(resp.status)
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body[: len(resp.body) // 2] if action == "truncate" else resp.body)
        if action == "truncate":  # the promised length never arrives
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet on client disconnects
        return


class ExchangeSimulator:
    """Local HTTP server speaking the public REST dialects of binance, okx, bybit and coinbase."""

    def __init__(
        self,
        now_ms: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        weight_limit: WeightLimit | None = None,
        hosts: tuple[str, ...] = (),
    ):
        self._lock = threading.RLock()
        self._now_ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
        self._host, self._port = host, port
        self.markets: dict[str, list[SimMarket]] = build_universe()
        self._venues = [cls(self) for cls in VENUES]
        self._faults: list[_Fault] = []
        self._weights: dict[str, tuple[int, int]] = {}
        #: added to every answer, as a round trip to a distant exchange would
        self.latency_ms = float(latency_ms)
        self.weight_limit = weight_limit
        #: per client address: (window start ms, weight used, refusals) of ``weight_limit``, and its ban
        self._windows: dict[str, tuple[int, int, int]] = {}
        self._banned_until: dict[str, int] = {}
        #: ground truth of the limit: weight let through per (client address, window start ms), and the
        #: 429/418 answers sent per client address
        self.weight_used: dict[tuple[str, int], int] = {}
        self.limit_answers: dict[str, int] = {}
        self._client = threading.local()
        #: more addresses to serve on besides ``host`` (127.0.0.2, ...), each its own port, one state for all
        self._extra_hosts = tuple(hosts)
        self._extra: list[tuple[_Server, threading.Thread]] = []
        self.requests: list[dict[str, Any]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> ExchangeSimulator:
        with self._lock:
            if self._server is not None:
                return self
            if self._closed:
                raise RuntimeError("simulator already closed")
            server = _Server((self._host, self._port), _Handler)
            server.simulator = self  # type: ignore[attr-defined]
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="exchange-simulator",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
            for host in self._extra_hosts:
                extra = _Server((host, 0), _Handler)
                extra.simulator = self  # type: ignore[attr-defined]
                worker = threading.Thread(
                    target=extra.serve_forever, kwargs={"poll_interval": 0.05}, name="exchange-simulator", daemon=True
                )
                worker.start()
                self._extra.append((extra, worker))
        return self

    def close(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server, self._thread, self._closed = None, None, True
            extra, self._extra = self._extra, []
        for other, worker in extra:
            other.shutdown()
            other.server_close()
            worker.join(timeout=5)
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> ExchangeSimulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_urls(self) -> dict[str, str]:
        """The URL of every address served (``host`` and ``hosts``), by address."""
        servers = [self._server] if self._server is not None else []
        servers += [server for server, _ in self._extra]
        return {s.server_address[0]: f"http://{s.server_address[0]}:{s.server_address[1]}" for s in servers}

    # -- controls -----------------------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        return self._now_ms

    def set_now(self, ms: int) -> None:
        with self._lock:
            self._now_ms = int(ms)

    def sync_clock(self, client: Any) -> Any:
        """Make ``client`` read the simulated now.  ccxt consults its own clock in places that shape requests
        (okx picks history-candles by it, coinbase derives start/end from it when no ``since`` is given,
        binance bounds inverse klines by it).  Returns the client."""
        client.milliseconds = lambda: self._now_ms
        client.seconds = lambda: self._now_ms // 1000
        client.microseconds = lambda: self._now_ms * 1000
        return client

    def market(self, exchange: str, symbol: str) -> SimMarket:
        """The simulated market by ccxt symbol (or, failing that, by exchange market id)."""
        markets = self.markets[exchange]
        for m in markets:
            if m.symbol == symbol:
                return m
        for m in markets:
            if m.id == symbol:
                return m
        raise KeyError(f"{exchange} has no simulated market {symbol!r}")

    def add_gap(self, exchange: str, symbol: str, start_ms: int, end_ms: int) -> None:
        """No trades in [start_ms, end_ms): the minutes starting in that window have no bars."""
        with self._lock:
            self.market(exchange, symbol).series.add_gap(start_ms, end_ms)

    def delist(self, exchange: str, symbol: str, at_ms: int | None = None, hidden: bool = False) -> None:
        """Stop trading at ``at_ms`` (default: now); the market turns inactive in the instrument lists
        (``hidden=True`` removes it from them entirely, and its candles become an unknown symbol)."""
        with self._lock:
            self.market(exchange, symbol).delist(self._now_ms if at_ms is None else int(at_ms), hidden)

    def inject(
        self,
        exchange: str | None,
        path_substring: str,
        status: int,
        body: Any = None,
        times: int | None = 1,
        headers: dict[str, str] | None = None,
        *,
        skip: int = 0,
        action: str | None = None,
        delay: float = 0.0,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        """Answer the next ``times`` requests of ``exchange`` (None: any) whose real path (with its query
        string) contains ``path_substring`` with ``status``/``body`` instead (``times=None``: forever).
        ``body`` may be a dict/list (sent as JSON), str or bytes (sent verbatim, e.g. truncated JSON or
        HTML). ``skip``: let the first ``skip`` matching requests through. ``action``: ``"stall"`` waits
        ``delay`` seconds before answering (a client timeout), ``"reset"`` drops the connection unanswered,
        ``"truncate"`` sends half the body and closes. ``transform``: answer as usual, with the decoded JSON
        body passed through ``transform`` (which may return raw bytes) instead of ``status``/``body``."""
        payload, kind = _fault_body(body)
        hdrs = {"Content-Type": kind}
        if headers:
            hdrs.update(headers)
        fault = _Fault(exchange, path_substring, int(status), payload, hdrs, times, skip, action, delay, transform)
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def start_new_windows(self) -> None:
        """Every client address starts a new window of ``weight_limit`` (and a new count for the used-weight
        header), as the turn of a minute would: a run does not inherit what the run before it spent."""
        with self._lock:
            self._windows.clear()
            self._weights.clear()

    def ohlcv(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        since: int | None = None,
        until: int | None = None,
        limit: int = 1_000_000,
    ) -> list[list[float]]:
        """Ground truth in ccxt's shape ``[ts, open, high, low, close, base volume]`` for bars starting in
        [since, until] (UTC alignment, Monday weeks, calendar months)."""
        tf = UNIFIED_TIMEFRAMES[timeframe]
        with self._lock:
            m = self.market(exchange, symbol)
            anchor = "start" if since is not None else "end"
            rows = m.series.select(tf, self._now_ms, since, until, limit, anchor)
        dec = decimals_of(m.series.spec.tick)
        mult, div = int(m.series.spec.tick.scaleb(dec)), 10.0**dec
        return [
            [
                int(r[TS]),
                r[OPEN] * mult / div,
                r[HIGH] * mult / div,
                r[LOW] * mult / div,
                r[CLOSE] * mult / div,
                r[BASE] / 1e8,
            ]
            for r in rows.tolist()
        ]

    def weight_counter(self, exchange: str) -> int:
        if self.weight_limit is not None and self.weight_limit.exchange == exchange:
            with self._lock:
                return self._windows.get(self._client_address(), (0, 0, 0))[1]
        minute = int(time.time() // 60)
        with self._lock:
            last_minute, count = self._weights.get(exchange, (minute, 0))
            count = count + 1 if last_minute == minute else 1
            self._weights[exchange] = (minute, count)
            return count * 2

    # -- request path -------------------------------------------------------------------------------
    def _dispatch(self, method: str, raw_path: str) -> Response:
        parts = urlsplit(raw_path)
        if not parts.path.startswith(HOST_PREFIX):
            return Response(404, b"not found", {"Content-Type": "text/plain"})
        host, _, rest = parts.path[len(HOST_PREFIX) :].partition("/")
        path = "/" + rest
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = dict(pairs)
        venue = next((v for v in self._venues if v.handles(host)), None)
        exchange = venue.name if venue else None
        with self._lock:
            fault = self._take_fault(exchange, path, parts.query)
            rewrite = fault if fault is not None and fault.transform is not None else None
            resp = None if rewrite else fault or self._charge_weight(exchange, path)
            if resp is None:
                if venue is None:
                    resp = Response(404, b"unknown host", {"Content-Type": "text/plain"})
                else:
                    try:
                        resp = venue.handle(Request(method, host, path, query, pairs, parts.query))
                    except Exception as exc:  # a handler bug must not kill the connection
                        resp = json_response({"error": "simulator failure", "detail": repr(exc)}, status=500)
            if rewrite is not None:
                resp = rewrite.rewrite(resp)
            self.requests.append(
                {
                    "exchange": exchange,
                    "method": method,
                    "host": host,
                    "path": path,
                    "query": query,
                    "status": resp.status,
                    "fault": fault is not None,
                    "client": self._client_address(),
                    "at": time.time(),
                }
            )
        return resp

    def _client_address(self) -> str:
        return getattr(self._client, "address", None) or self._host

    def _charge_weight(self, exchange: str | None, path: str) -> Response | None:
        """Count the request against ``weight_limit`` of its client address; the refusal to send instead when
        over budget."""
        rule = self.weight_limit
        if rule is None or exchange != rule.exchange:
            return None
        address = self._client_address()
        now = int(time.time() * 1000)
        start, used, refusals = self._windows.get(address, (0, 0, 0))
        if now - start >= rule.window_ms:
            start, used, refusals = now - now % rule.window_ms, 0, 0
        weight = rule.weight_of(path)
        banned_until = self._banned_until.get(address, 0)
        if now < banned_until or used + weight > rule.limit:
            refusals += 1
            if refusals > rule.ban_after and now >= banned_until:
                banned_until = self._banned_until[address] = now + rule.ban_ms
            self._windows[address] = (start, used, refusals)
            self.limit_answers[address] = self.limit_answers.get(address, 0) + 1
            if now < banned_until:
                until = banned_until
                status = 418
                msg = f"Way too many requests; IP banned until {until}. Please use the websocket for live updates."
            else:
                until = start + rule.window_ms
                status = 429
                msg = f"Too many requests; current limit of IP is {rule.limit} request weight per window."
            wait_s = str(max(1, -(-(until - now) // 1000)))
            used_header = {"x-mbx-used-weight-1m": str(used), "Retry-After": wait_s}
            return json_response({"code": -1003, "msg": msg}, status=status, headers=used_header)
        self._windows[address] = (start, used + weight, refusals)
        self.weight_used[(address, start)] = used + weight
        return None

    def _take_fault(self, exchange: str | None, path: str, raw_query: str) -> _FaultResponse | None:
        target = path + ("?" + raw_query if raw_query else "")
        for fault in self._faults:
            if fault.exchange not in (None, "*", exchange) or fault.needle not in target:
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return _FaultResponse(
                fault.status, fault.body, dict(fault.headers), fault.action, fault.delay, fault.transform
            )
        return None


__all__ = [
    "ExchangeSimulator",
    "WeightLimit",
    "HOST_PREFIX",
    "SIMULATED_EXCHANGES",
    "UNIFIED_TIMEFRAMES",
    "real_url",
    "repoint",
    "sim_url",
]
