"""The websocket transport under the stream: what the handshake offers reaches the real connection."""

from __future__ import annotations

import asyncio
import time

import pytest

from zvt_ccxt.exchange.profiles import profile_for
from zvt_ccxt.stream import CcxtStream
from zvt_ccxt_testkit import simulated_streams
from zvt_ccxt_testkit.simulator.ws import TRADES

from conftest import SIM_NOW

SYMBOLS = {"binance": "BTC/USDT", "okx": "BTC/USDT", "bybit": "BTC/USDT", "coinbase": "BTC/USD"}


def negotiated_compression(exchange: str, options: dict | None) -> list[int]:
    """The permessage-deflate window bits of every open connection of a trades stream (0: uncompressed)."""
    stream = CcxtStream(exchange, [SYMBOLS[exchange]], ["trades"], flush_interval=0.05, options=options)

    async def scenario(server) -> list[int]:
        task = asyncio.ensure_future(stream.run())
        await stream.wait_ready(30)
        deadline = time.monotonic() + 20
        while server.subscribed(exchange, TRADES) < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert server.subscribed(exchange, TRADES) >= 1, f"{exchange}: no trades subscription"
        connections = [c.connection for c in stream.pro.exchange.clients.values() if c.connection is not None]
        stream.stop()
        await task
        return [connection.compress for connection in connections]

    with simulated_streams(SIM_NOW) as server:
        return asyncio.run(scenario(server))


@pytest.mark.parametrize("exchange", sorted(SYMBOLS))
def test_streams_offer_no_compression_unless_asked(store, exchange):
    assert profile_for(exchange).stream_compress == 0
    assert negotiated_compression(exchange, None) == [0]


def test_a_configured_compression_reaches_the_connection(store):
    # the simulator's server accepts permessage-deflate, so an offer made is an offer taken: the option is live
    assert negotiated_compression("binance", {"options": {"ws": {"compress": 15}}}) == [15]
