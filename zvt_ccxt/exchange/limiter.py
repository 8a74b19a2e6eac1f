"""One request budget per exchange, shared by every thread of the process.

ccxt describes each exchange's limit as ``rateLimit`` (ms per cost unit) and a cost per endpoint (binance:
6,000 request weight a minute, ``klines`` weight 2 = cost 0.4 at 50 ms). Its sync throttle only pauses since
the previous request of one instance, is not thread-safe, and reads the package clock, which replays freeze.
``RequestLimiter`` spends the same costs from a token bucket on the monotonic clock instead: threads that
record different symbols at once together stay just under the exchange's limit, and a 429/418 answer
pauses them all for as long as the exchange asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

#: the share of the exchange's limit we plan to use: a fixed-window limit counts requests we sent just
#: before a window boundary in the next one, so running at 100% could cross it by a request or two.
HEADROOM = 0.97
#: cost units that may go out back to back after an idle spell (ccxt's own async bucket allows 1)
BURST_UNITS = 1.0


class RequestLimiter:
    """A thread-safe token bucket in ccxt cost units: ``units_per_second`` sustained, ``burst`` at once."""

    def __init__(self, units_per_second: float, burst: float = BURST_UNITS, headroom: float = HEADROOM) -> None:
        self.seconds_per_unit = 1.0 / (units_per_second * headroom)
        self.burst_seconds = burst * self.seconds_per_unit
        self._lock = threading.Lock()
        self._next_free = 0.0  # monotonic time at which the budget is fully spent by reservations made so far
        self._paused_until = 0.0

    def acquire(self, cost: float = 1.0) -> float:
        """Block until ``cost`` units may be spent (first come, first served); return the seconds waited."""
        waited = 0.0
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_free - self.burst_seconds, self._paused_until)
            self._next_free = max(self._next_free, start) + cost * self.seconds_per_unit
        while True:
            delay = start - time.monotonic()
            if delay > 0:
                time.sleep(delay)
                waited += delay
            with self._lock:  # a pause ordered while we slept applies to us too
                start = self._paused_until
            if start <= time.monotonic():
                return waited

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (the exchange answered 429/418 with this wait)."""
        with self._lock:
            until = time.monotonic() + max(0.0, seconds)
            self._paused_until = max(self._paused_until, until)
            self._next_free = max(self._next_free, until)


_limiters: dict[tuple[str, float], RequestLimiter] = {}
_limiters_lock = threading.Lock()
#: builds the limiter of (exchange id, units a second) when set: a budget shared beyond this process
#: (``zvt_ccxt.cluster.budget``) instead of the process's own token bucket
_budget_factory: Callable[[str, float], Any] | None = None


def use_budgets(factory: Callable[[str, float], Any] | None) -> None:
    """Take every limiter from ``factory(exchange_id, units_per_second)`` from now on (None: the process's own);
    the object it returns has ``acquire(cost)`` and ``pause(seconds)`` like ``RequestLimiter``."""
    global _budget_factory
    with _limiters_lock:
        _budget_factory = factory
        _limiters.clear()


def limiter_for(exchange_id: str, rate_limit_ms: float) -> RequestLimiter:
    """The process-wide limiter of an exchange whose ccxt ``rateLimit`` is ``rate_limit_ms``."""
    key = (exchange_id, float(rate_limit_ms))
    limiter = _limiters.get(key)
    if limiter is None:
        with _limiters_lock:
            units_per_second = 1000.0 / max(float(rate_limit_ms), 1e-3)
            factory = _budget_factory
            made = RequestLimiter(units_per_second) if factory is None else factory(exchange_id, units_per_second)
            limiter = _limiters.setdefault(key, made)
    return limiter


class ProcessSharedLimiter(RequestLimiter):
    """``RequestLimiter`` whose bucket lives in memory shared by forked processes: processes that record
    different symbols of one exchange together stay under its limit, as threads of one process do. The
    monotonic clock is the machine's, so every process reads the same time."""

    def __init__(self, units_per_second: float, slot: tuple[Any, Any], burst: float = BURST_UNITS,
                 headroom: float = HEADROOM) -> None:
        self.seconds_per_unit = 1.0 / (units_per_second * headroom)
        self.burst_seconds = burst * self.seconds_per_unit
        self._state, self._lock = slot  # [next free, paused until] and the lock guarding them

    @property  # type: ignore[override]
    def _next_free(self) -> float:
        return self._state[0]

    @_next_free.setter
    def _next_free(self, value: float) -> None:
        self._state[0] = value

    @property  # type: ignore[override]
    def _paused_until(self) -> float:
        return self._state[1]

    @_paused_until.setter
    def _paused_until(self, value: float) -> None:
        self._state[1] = value


def shared_budgets(exchange_ids: list[str]) -> Callable[[str, float], Any]:
    """A ``use_budgets`` factory whose limiters for ``exchange_ids`` are shared with processes forked after this
    call (the memory is allocated now); another exchange gets a limiter of its process's own."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    slots = {exchange_id: (context.RawArray("d", 2), context.Lock()) for exchange_id in dict.fromkeys(exchange_ids)}

    def factory(exchange_id: str, units_per_second: float) -> RequestLimiter:
        slot = slots.get(exchange_id)
        return RequestLimiter(units_per_second) if slot is None else ProcessSharedLimiter(units_per_second, slot)

    return factory
