"""The benchmark's exchange: the test kit's simulator in a process of its own, with binance 1m klines pre-rendered.

The simulator renders every kline body from its synthetic trade stream (about 8 ms per 1,000 rows); a benchmark
that measures the client must not measure that, nor share a core with it. So this server renders one span of
BTCUSDT 1m rows once, in binance's wire format (the simulator's own bytes), and answers any spot symbol's 1m
``klines`` request with ``startTime`` by slicing them: a few microseconds per page. Everything else (exchangeInfo,
other intervals) is the simulator unchanged, and so are its optional latency and request-weight limit.

Run ``python -m benchmarks.server --start-ms S --end-ms E [--symbols N] [--latency-ms L] [--weight-limit W]``:
it prints one JSON line ``{"base_url": ...}`` when ready and serves until its stdin closes.
``GET /_bench/stats`` answers the count of requests by HTTP status, ``GET /_bench/weights`` the most request
weight each client address spent in one window of the limit and the 429/418 answers each was sent, and
``GET /_bench/fresh_window`` starts a new limit window for every address (and a new count for the used-weight
header), as the turn of a minute would.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
from collections import Counter
from pathlib import Path

from zvt_ccxt_testkit.simulator import ExchangeSimulator
from zvt_ccxt_testkit.simulator import server as sim_server
from zvt_ccxt_testkit.simulator import universe as sim_universe
from zvt_ccxt_testkit.simulator.server import WeightLimit
from zvt_ccxt_testkit.simulator.venues import binance as binance_venue
from zvt_ccxt_testkit.simulator.venues.common import Response, json_response

MINUTE_MS = 60_000
SOURCE_ID = "BTCUSDT"
PAGE = 1000


def bench_symbols(count: int) -> list[str]:
    """ccxt symbols of the extra spot markets the server lists (``B00/USDT``...), besides BTC/USDT and ETH/USDT."""
    return [f"B{i:02d}/USDT" for i in range(count)]


def _add_markets(sim: ExchangeSimulator, count: int) -> None:
    template = next(m for m in sim.markets["binance"] if m.id == SOURCE_ID)
    for symbol in bench_symbols(count):
        base = symbol.split("/")[0]
        sim_universe.ASSETS.setdefault(base, sim_universe.ASSETS["BTC"])
        sim.markets["binance"].append(
            sim_universe.SimMarket(
                exchange="binance",
                symbol=symbol,
                id=base + "USDT",
                kind="spot",
                base=base,
                quote="USDT",
                settle=None,
                tick=template.tick,
                lot=template.lot,
                min_qty=template.min_qty,
                max_qty=template.max_qty,
                listing_ms=template.listing_ms,
            )
        )


def render_rows(sim: ExchangeSimulator, start_ms: int, end_ms: int) -> list[bytes]:
    """BTCUSDT 1m kline rows opening in ``[start_ms, end_ms)`` as the simulator's JSON, one bytes per row (cached)."""
    cache = Path(tempfile.gettempdir()) / f"zvt-ccxt-bench-klines-{SOURCE_ID}-{start_ms}-{end_ms}-{sim.now_ms}.pickle"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    venue = next(v for v in sim._venues if v.name == "binance")
    rows: list[bytes] = []
    since = start_ms
    while since < end_ms:
        until = min(since + PAGE * MINUTE_MS, end_ms)
        query = {"symbol": SOURCE_ID, "interval": "1m", "startTime": str(since), "endTime": str(until - 1)}
        query["limit"] = str(PAGE)
        page = json.loads(venue._klines("spot", query).body)
        rows += [json.dumps(row, separators=(",", ":")).encode() for row in page]
        since = until
    temporary = cache.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_bytes(pickle.dumps(rows))
    temporary.replace(cache)
    return rows


class PrerenderedBinance(binance_venue.Binance):
    """Binance whose spot 1m klines with a ``startTime`` come from pre-rendered rows, for any listed spot symbol."""

    def __init__(self, sim: ExchangeSimulator, rows: list[bytes], first_ms: int) -> None:
        super().__init__(sim)
        self.rows = rows
        self.first_ms = first_ms

    def _klines(self, api: str, query: dict[str, str]) -> Response:
        start = query.get("startTime")
        if api != "spot" or query.get("interval") != "1m" or not start:
            return super()._klines(api, query)
        if not any(m.id == query.get("symbol") for m in self._api_markets(api)):
            return super()._klines(api, query)
        limit = min(int(query.get("limit") or binance_venue.KLINES_DEFAULT), binance_venue.KLINES_MAX["spot"])
        end = int(query["endTime"]) if query.get("endTime") else self.first_ms + len(self.rows) * MINUTE_MS
        first = max(0, -(-(int(start) - self.first_ms) // MINUTE_MS))
        last = min(len(self.rows), first + limit, (end - self.first_ms) // MINUTE_MS + 1)
        body = b"[" + b",".join(self.rows[first:last]) + b"]"
        return Response(200, body, {"Content-Type": "application/json"})


class BenchSimulator(ExchangeSimulator):
    """The simulator plus ``/_bench/stats`` (requests by status) and ``/_bench/weights`` for the benchmark to read,
    and ``/_bench/fresh_window``: a run does not inherit the weight the run before it spent in the same minute."""

    def _dispatch(self, method: str, raw_path: str) -> Response:
        if raw_path.startswith("/_bench/weights"):  # the most weight any client address spent in one window
            with self._lock:
                most: dict[str, int] = {}
                for (address, _), weight in self.weight_used.items():
                    most[address] = max(most.get(address, 0), weight)
                return json_response({"max_window_weight": most, "limit_answers": dict(self.limit_answers)})
        if raw_path.startswith("/_bench/fresh_window"):  # every address starts a new limit window, as a minute turns
            self.start_new_windows()
            return json_response({})
        if raw_path.startswith("/_bench/stats"):
            with self._lock:
                statuses = Counter(str(r["status"]) for r in self.requests)
            return json_response(dict(statuses))
        return super()._dispatch(method, raw_path)


def build(
    now_ms: int, start_ms: int, end_ms: int, symbols: int, latency_ms: float, weight_limit: int | None
) -> BenchSimulator:
    limit = WeightLimit(limit=weight_limit) if weight_limit else None
    sim = BenchSimulator(now_ms=now_ms, latency_ms=latency_ms, weight_limit=limit)
    _add_markets(sim, symbols)
    rows = render_rows(sim, start_ms, end_ms)
    sim._venues = [PrerenderedBinance(sim, rows, start_ms) if v.name == "binance" else v for v in sim._venues]
    return sim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--now-ms", type=int, required=True)
    parser.add_argument("--start-ms", type=int, required=True)
    parser.add_argument("--end-ms", type=int, required=True)
    parser.add_argument("--symbols", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--weight-limit", type=int, default=0)
    args = parser.parse_args()
    # freqtrade opens ~100 connections at once: the default listen backlog (5) would overflow and stall them
    sim_server._Server.request_queue_size = 1024
    sim = build(args.now_ms, args.start_ms, args.end_ms, args.symbols, args.latency_ms, args.weight_limit or None)
    with sim:
        print(json.dumps({"base_url": sim.base_url}), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
