"""cryptofeed 3.x consuming the replay server: the streaming peer of ``benchmarks.peers_stream``.

Runs in its own virtualenv (``benchmarks/requirements-cryptofeed3.txt``, made by ``benchmarks.peers``) as
``python benchmarks/cryptofeed3_side.py ARGS_JSON OUT``: it re-points cryptofeed's endpoints at the local
server, counts trades and candles in its callbacks (nothing is stored: cryptofeed's own rate ceiling), on
uvloop as ``FeedHandler.run`` would choose, and writes what it saw, with the CPU seconds it used, to ``OUT``
as JSON. It imports nothing from zvt-ccxt. 3.x dropped ``run(start_loop=False)``: it runs ``run_async``.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(base_url: str, ws_url: str, exchange: str, symbols: list[str], expect_trades: int, timeout_s: float) -> dict:
    from cryptofeed import FeedHandler, connection
    from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
    from cryptofeed.defines import CANDLES, TRADES
    from cryptofeed.exchanges import OKX, BinanceFutures

    original_init = connection.WSAsyncConn.__init__

    def plain_websocket_init(self, address, *args, **kwargs):  # cryptofeed insists on wss://; the server is local
        original_init(self, address.replace("ws://", "wss://", 1), *args, **kwargs)
        self.address = address

    connection.WSAsyncConn.__init__ = plain_websocket_init

    if exchange == "binance":
        feed_cls, channels = BinanceFutures, [TRADES, CANDLES]
        feed_cls.websocket_endpoints = [WebsocketEndpoint(f"{ws_url}/binance", options={"compression": None})]
        feed_cls.rest_endpoints = [
            RestEndpoint(
                f"{base_url}/_host/fapi.binance.com",
                routes=Routes("/fapi/v1/exchangeInfo", l2book="/fapi/v1/depth?symbol={}&limit={}"),
            )
        ]
    else:
        feed_cls, channels = OKX, [TRADES]
        original = feed_cls.rest_endpoints[0]
        feed_cls.rest_endpoints = [RestEndpoint(f"{base_url}/_host/www.okx.com", routes=original.routes)]
        feed_cls.websocket_endpoints = [
            WebsocketEndpoint(f"{ws_url}/okx/ws/v5/public", channel_filter=(feed_cls.websocket_channels[TRADES],),
                              options={"compression": None})
        ]

    counts = {"trades": 0, "candles": 0}
    first: list[float] = []

    async def main() -> dict:
        done = asyncio.Event()
        cpu_before = _cpu()

        async def on_trade(trade, receipt_timestamp):
            if not first:
                first.append(time.time())
            counts["trades"] += 1
            if counts["trades"] >= expect_trades:
                done.set()

        async def on_candle(candle, receipt_timestamp):
            counts["candles"] += 1

        handler = FeedHandler(config={"log": {"filename": "/dev/null", "level": "WARNING"}})
        callbacks = {TRADES: on_trade, CANDLES: on_candle}
        handler.add_feed(feed_cls(symbols=symbols, channels=channels, callbacks={c: callbacks[c] for c in channels}))
        task = asyncio.ensure_future(handler.run_async(install_signal_handlers=False))
        started = time.time()
        try:
            await asyncio.wait_for(done.wait(), timeout_s)
        except TimeoutError:
            pass
        finished = time.time()
        cpu_used = _cpu() - cpu_before
        handler.request_stop()
        try:
            await asyncio.wait_for(task, 10)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
        return {"finished": finished, "waited_s": finished - started, "cpu_s": cpu_used}

    try:
        import uvloop

        outcome = uvloop.run(main())
        outcome["loop"] = "uvloop"
    except ImportError:
        outcome = asyncio.run(main())
        outcome["loop"] = "asyncio"
    return {"trades": counts["trades"], "candles": counts["candles"], "first_trade": first[0] if first else None,
            **outcome}


if __name__ == "__main__":
    import cryptofeed

    arguments = json.loads(sys.argv[1])
    result = run(**arguments)
    result["version"] = getattr(cryptofeed, "__version__", None) or "3"
    result["python"] = sys.version.split()[0]
    with open("/proc/self/status") as status:
        peaks = [int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:")]
    result["peak_rss_mb"] = peaks[0] if peaks else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(sys.argv[2], "w") as out:
        json.dump(result, out)
