"""A busy stream must not stop delivering: 100,000 frames through real ccxt.pro and aiohttp, every one stored.

With aiohttp 3.14.x, ccxt.pro 4.5's buffer draining leaks aiohttp's byte accounting and a busy connection
stops delivering after about 4,000 frames, with no error. This runs the pinned versions through the whole
stream (ccxt.pro, the subscription, the writer) and checks that every trade of every frame was stored
from the stream itself, not repaired over REST.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import ccxt
from test_stream import make_stream, started, trade_ids, until

from zvt_ccxt_testkit import simulated_streams
from zvt_ccxt_testkit.simulator.ws import TRADES

from conftest import SIM_NOW

FRAMES = 100_000
#: trades per second the server plays: ten times a busy day on binance's busiest market
RATE = 25_000


def test_every_one_of_100k_frames_arrives(store):
    entity = "cryptopair_binance_btcusdt"
    with simulated_streams(SIM_NOW) as ws:
        stream = make_stream("binance", ["BTC/USDT"], ["trades"], flush_interval=0.2, stall_after=30)

        async def scenario():
            task = await started(stream, ws, "binance", TRADES)
            frames_before = stream.pro.frames
            began = time.monotonic()
            tape = ws.play("binance", "BTC/USDT", FRAMES, rate=RATE)
            await until(lambda: stream.metrics.total("messages") == FRAMES, timeout=120, what="100k trades received")
            received_s = time.monotonic() - began
            stream.stop()
            await task
            return tape, stream.pro.frames - frames_before, received_s

        tape, frames, seconds = asyncio.run(scenario())
        sent = ws.frames_sent["binance"]
    ids = trade_ids(entity)
    assert len(ids) == FRAMES and sorted(ids) == list(range(tape.first_id, tape.first_id + FRAMES))
    assert sent >= FRAMES and frames >= FRAMES
    metrics = stream.metrics.subscriptions["binance trades spot"]
    assert metrics.gaps == 0 and metrics.repaired_rows == 0 and metrics.reconnects == 0 and metrics.drops == 0
    print(
        f"\n{FRAMES} frames in {seconds:.1f}s ({FRAMES / seconds:,.0f}/s), aiohttp {aiohttp.__version__}, "
        f"ccxt {ccxt.__version__}"
    )
