"""One request budget per (exchange, egress address), shared through the store by every process on any machine.

Exchanges limit by IP address, not by process or key: every worker that reaches an exchange through the same
address spends from one budget, and a 429/418 answer seen by one of them pauses them all for as long as the
exchange asked. The budget is a row of the store (``zvt_ccxt.store.budget``) that each request moves in one
atomic statement, so it survives any worker's death and needs no service of its own: the database every worker
already writes into is the one thing they all reach. Workers that leave through different addresses (a bound
local source address, or a proxy) have budgets of their own, so each address adds its exchange's full limit.

The arithmetic is ``exchange.limiter``'s (the same ``HEADROOM``, burst and fixed windows), on the wall clock,
which the machines of a cluster must agree on (NTP keeps them within milliseconds).
"""

from __future__ import annotations

import time

from zvt_ccxt.exchange.limiter import BURST_UNITS, HEADROOM, budget_floor, observed_position, start_time

#: the budget of workers that bind no address of their own: the machine's default route
DEFAULT_EGRESS = "default"


class SharedBudget:
    """``acquire``/``pause`` like ``exchange.limiter.RequestLimiter``, for the budget of (exchange, egress)."""

    def __init__(self, exchange_id: str, egress: str, units_per_second: float, headroom: float = HEADROOM,
                 window: float | None = None) -> None:
        from zvt_ccxt.store import budget

        self._store = budget
        self.exchange_id = exchange_id
        self.egress = egress or DEFAULT_EGRESS
        self.seconds_per_unit = 1.0 / (units_per_second * headroom)
        self.burst_seconds = BURST_UNITS * self.seconds_per_unit
        self.window = window
        self._reserved_until = 0.0  # the budget's position as this process last saw it
        self.key = budget.ensure(exchange_id, self.egress)

    def acquire(self, cost: float = 1.0) -> float:
        """Block until ``cost`` units may be spent from the shared budget; return the seconds waited."""
        interval = cost * self.seconds_per_unit
        now = time.time()
        reserved_until, paused = self._store.reserve(self.key, budget_floor(now, self.window), interval)
        self._reserved_until = reserved_until
        start = start_time(reserved_until, interval, now, paused, self.burst_seconds, self.window)
        waited = 0.0
        while True:
            delay = start - time.time()
            if delay > 0:
                time.sleep(delay)
                waited += delay
            if waited == 0.0:
                return 0.0
            # a pause ordered by another worker while we slept holds us too
            start = self._store.paused_until(self.key)
            if start <= time.time():
                return waited

    def observe(self, used_units: float, sent_at: float) -> None:
        """The exchange's count of its window (``RequestLimiter.observe``): stored only when it is ahead of the
        budget as last seen, which the budget's own reservations usually are."""
        if not self.window:
            return
        position = observed_position(used_units, sent_at, time.time(), self.window, self.seconds_per_unit)
        if position is not None and position > self._reserved_until:
            self._store.advance(self.key, position)
            self._reserved_until = position

    def pause(self, seconds: float) -> None:
        """Hold every request of this (exchange, egress) for ``seconds``, in every process that shares it."""
        self._store.pause(self.key, time.time() + max(0.0, seconds))


def budgets_for(egress: str):
    """A ``limiter.use_budgets`` factory: each exchange's budget through ``egress``."""

    def factory(exchange_id: str, units_per_second: float, window: float | None) -> SharedBudget:
        return SharedBudget(exchange_id, egress, units_per_second, window=window)

    return factory
