"""Stall detection judged by the exchange's own clock and each channel's normal rate.

ccxt's keepalive only notices a dead socket; a connection that keeps answering pings but stops delivering
data stays "healthy" forever. ``EventClock`` learns, per subscription, the offset between exchange event
time and local arrival time and the normal spacing of events; a subscription whose exchange-time
staleness exceeds ``factor`` times that spacing (bounded by ``floor_s`` and ``ceiling_s``) is stalled, and
the watchdog forces it to resubscribe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

#: event gaps a subscription must have shown before a silence counts as a stall
MIN_SAMPLES = 3


@dataclass
class EventClock:
    """Exchange time as seen from here: offset to the local clock and the typical gap between events."""

    offsets: deque = field(default_factory=lambda: deque(maxlen=64))
    last_event_ms: int | None = None
    last_arrival_ms: float | None = None
    interval_ms: float | None = None
    #: how many gaps between events the interval was learned from
    samples: int = 0

    def _learn(self, step: float) -> None:
        self.interval_ms = step if self.interval_ms is None else 0.9 * self.interval_ms + 0.1 * step
        self.samples += 1

    def observe(self, event_ms: int | None, arrival_ms: float | None = None) -> None:
        arrival_ms = time.time() * 1000 if arrival_ms is None else arrival_ms
        if event_ms is None:  # a channel without event times: its rhythm is judged on arrivals
            if self.last_arrival_ms is not None and arrival_ms > self.last_arrival_ms:
                self._learn(arrival_ms - self.last_arrival_ms)
            self.last_arrival_ms = arrival_ms
            return
        self.last_arrival_ms = arrival_ms
        self.offsets.append(arrival_ms - event_ms)
        if self.last_event_ms is not None and event_ms > self.last_event_ms:
            self._learn(event_ms - self.last_event_ms)
        if self.last_event_ms is None or event_ms > self.last_event_ms:
            self.last_event_ms = event_ms

    def exchange_now_ms(self, now_ms: float | None = None) -> int | None:
        """The exchange's current time, estimated with the smallest recent offset (the least delayed frame)."""
        if not self.offsets:
            return None
        now_ms = time.time() * 1000 if now_ms is None else now_ms
        return int(now_ms - min(self.offsets))

    @property
    def knows_its_rate(self) -> bool:
        """Enough events seen to tell a stall from a quiet market."""
        return self.samples >= MIN_SAMPLES

    def staleness_s(self, now_ms: float | None = None) -> float | None:
        if self.last_event_ms is None:
            if self.last_arrival_ms is None:
                return None
            return ((time.time() * 1000 if now_ms is None else now_ms) - self.last_arrival_ms) / 1000
        exchange_now = self.exchange_now_ms(now_ms)
        if exchange_now is None:
            return None
        return max(0.0, (exchange_now - self.last_event_ms) / 1000)


@dataclass
class Watched:
    name: str
    clock: EventClock
    on_stall: Callable[[float], Awaitable[None]]
    active: Callable[[], bool]


class StallWatchdog:
    """Checks every watched subscription periodically and forces a resubscribe on a silent stall."""

    def __init__(self, floor_s: float = 10.0, factor: float = 50.0, ceiling_s: float = 300.0) -> None:
        self.floor_s = floor_s
        self.factor = factor
        self.ceiling_s = ceiling_s
        self.watched: list[Watched] = []

    def watch(self, name: str, clock: EventClock, on_stall, active) -> None:
        self.watched.append(Watched(name, clock, on_stall, active))

    def threshold_s(self, clock: EventClock) -> float:
        normal = (clock.interval_ms or 0.0) / 1000 * self.factor
        return min(self.ceiling_s, max(self.floor_s, normal))

    async def run(self) -> None:
        period = max(0.05, min(1.0, self.floor_s / 4))
        while True:
            await asyncio.sleep(period)
            for item in self.watched:
                if not item.active() or not item.clock.knows_its_rate:
                    continue
                stale = item.clock.staleness_s()
                if stale is None:
                    continue
                limit = self.threshold_s(item.clock)
                if stale > limit:
                    logger.warning("%s: no data for %.1fs (limit %.1fs): resubscribing", item.name, stale, limit)
                    item.clock.last_event_ms = None
                    item.clock.last_arrival_ms = time.time() * 1000
                    await item.on_stall(stale)
