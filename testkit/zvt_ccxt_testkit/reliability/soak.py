"""A soak of a live trade stream against the local websocket exchange, with random disconnects and stalls.

The server plays one market's trades without end while connections are dropped (TCP reset or close frame)
and silently stalled at random moments; at the end the tape is paused and every trade id it produced must
be in ``crypto_trade`` exactly once: zero lost, zero duplicated (binance trade ids are consecutive).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from zvt_ccxt.store.engines import engine_for
from zvt_ccxt_testkit.reliability.harness import clear_tables
from zvt_ccxt_testkit.simulated_exchanges import simulated_streams


@dataclass
class SoakOutcome:
    """What the soak injected and whether every trade arrived once."""

    exchange: str
    symbol: str
    seconds: float = 0.0
    disconnects: int = 0
    stalls: int = 0
    reconnects: int = 0
    trades_played: int = 0
    trades_stored: int = 0
    trades_lost: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def faults(self) -> int:
        return self.disconnects + self.stalls

    @property
    def passed(self) -> bool:
        return not self.problems and self.trades_lost == 0 and self.duplicates == 0 and self.trades_played > 0


def _trade_ids(entity_id: str) -> list[int]:
    from zvt_ccxt.domain import CryptoTrade

    with engine_for(CryptoTrade).connect() as connection:
        rows = connection.exec_driver_sql("SELECT trade_id FROM crypto_trade WHERE entity_id = ?", (entity_id,))
        return [int(r[0]) for r in rows]


async def _until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return False


def run_stream_soak(
    seconds: float, *, seed: int = 1, exchange: str = "binance", symbol: str = "BTC/USDT", rate: float = 300
) -> SoakOutcome:
    """Stream ``symbol``'s trades for ``seconds`` while disconnecting and stalling at random; count the losses."""
    from zvt_ccxt.stream import BackoffPolicy, CcxtStream
    from zvt_ccxt_testkit.simulator.ws import TRADES

    rng = random.Random(seed)
    outcome = SoakOutcome(exchange, symbol)
    entity_id = f"cryptopair_{exchange}_{symbol.replace('/', '').lower()}"
    clear_tables()
    started = time.perf_counter()
    with simulated_streams(spacing_ms=100) as ws:
        stream = CcxtStream(
            exchange,
            [symbol],
            ["trades"],
            "1m",
            backoff=BackoffPolicy(initial=0.05, maximum=0.5),
            flush_interval=0.05,
            stall_after=0.5,
            stall_factor=2,
        )

        async def scenario() -> None:
            task = asyncio.ensure_future(stream.run())
            await stream.wait_ready(30)
            if not await _until(lambda: ws.subscribed(exchange, TRADES) >= 1, 30):
                outcome.problems.append("the stream never subscribed")
            tape = ws.play(exchange, symbol, None, rate=rate)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                await asyncio.sleep(rng.uniform(0.5, 3.0))
                await _until(lambda: ws.subscribed(exchange, TRADES) >= 1, 30)  # one fault at a time
                kind = rng.random()
                if kind < 0.35:
                    outcome.disconnects += ws.close_connections(exchange, abrupt=True) > 0
                elif kind < 0.7:
                    outcome.disconnects += ws.close_connections(exchange, abrupt=False) > 0
                else:
                    outcome.stalls += ws.stall(exchange) > 0
            ws.pause(exchange, symbol)
            played.extend([tape.first_id, tape.first_id + tape.position - 1])
            if not await _until(lambda: len(_trade_ids(entity_id)) >= played[1] - played[0] + 1, 120):
                outcome.problems.append("not every played trade arrived within two minutes after the pause")
            stream.stop()
            await task

        played: list[int] = []
        asyncio.run(scenario())
        outcome.reconnects = int(stream.metrics.total("reconnects"))
    ids = _trade_ids(entity_id)
    first, last = played
    stored = set(ids)
    outcome.trades_played = last - first + 1
    outcome.trades_stored = len(stored)
    outcome.trades_lost = sum(1 for trade_id in range(first, last + 1) if trade_id not in stored)
    outcome.duplicates = len(ids) - len(stored)
    strays = [i for i in stored if not first <= i <= last]
    if strays:
        outcome.problems.append(f"{len(strays)} stored trades the tape never played")
    outcome.seconds = time.perf_counter() - started
    return outcome
