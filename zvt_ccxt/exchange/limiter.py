"""One request budget per exchange, shared by every thread of the process.

ccxt describes each exchange's limit as ``rateLimit`` (ms per cost unit) and a cost per endpoint (binance:
6,000 request weight a minute, ``klines`` weight 2 = cost 0.4 at 50 ms). Its sync throttle only pauses since
the previous request of one instance, is not thread-safe, and reads the package clock, which replays freeze.
``RequestLimiter`` spends the same costs from one budget instead: threads that record different symbols at once
together stay just under the exchange's limit, and a 429/418 answer pauses them all for as long as the exchange
asked.

The budget is kept in one of two ways, by what the exchange counts (its profile's ``rate_limit_window``):

- **paced** (the default, a token bucket on the monotonic clock): one cost unit every ``1 / units_per_second``,
  as ccxt paces. It is safe under any kind of limit: a sliding window, a leaky bucket, or one not known.
- **fixed windows** (binance: request weight per minute of the wall clock, reset as each minute starts): the
  whole allowance of a window may go out at once, and a request that does not fit waits for the next window.
  A backfill that needs less than a window's allowance is never slowed at all, where pacing would spread it
  over the minute. Budget time runs as in the paced bucket: each window's allowance is ``window`` seconds of
  it, and a request may start when the window holding the end of its reservation opens. Where the exchange
  reports its own count of the window (binance's ``x-mbx-used-weight-1m``), the budget moves up to it
  (``observe``): what other programs on the same address spent, or a run just before, counts too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from zvt_ccxt.exchange.profiles import profile_for

#: makes the budget of (exchange id, units a second, fixed window in seconds or None)
BudgetFactory = Callable[[str, float, float | None], Any]

#: the share of the exchange's limit we plan to use: a fixed-window limit counts requests we sent just
#: before a window boundary in the next one, so running at 100% could cross it by a request or two.
HEADROOM = 0.97
#: cost units that may go out back to back after an idle spell (ccxt's own async bucket allows 1)
BURST_UNITS = 1.0
#: seconds after a fixed window opens on this machine's clock before its allowance is spent: the exchange's clock
#: may lag ours, and a request counted in the window before would be refused
WINDOW_MARGIN = 0.5


def budget_floor(now: float, window: float | None) -> float:
    """The earliest budget time a reservation made at ``now`` may start from: ``now`` when paced; the start of
    ``now``'s window otherwise (the part of the window already gone still counts, as it does at the exchange)."""
    return now if window is None else now - now % window


def observed_position(used_units: float, sent_at: float, now: float, window: float,
                      seconds_per_unit: float) -> float | None:
    """The budget time at which the exchange's count of its window stands, ``used_units`` in the answer to a
    request sent at ``sent_at``; None when the count may be the window before's: a request sent in the margin
    after a window opened, or answered after the next one opened (at a boundary the last window's count is
    still arriving, and taking it for the new window's would hold a window's allowance back for nothing)."""
    opened = budget_floor(now, window)
    if sent_at < opened + WINDOW_MARGIN:
        return None
    return opened + used_units * seconds_per_unit


def start_time(reserved_until: float, cost_seconds: float, now: float, paused_until: float, burst_seconds: float,
               window: float | None) -> float:
    """When a request may go whose reservation of ``cost_seconds`` of budget time ends at ``reserved_until``."""
    if window is None:
        return max(now, paused_until, reserved_until - cost_seconds - burst_seconds)
    opens = budget_floor(reserved_until - cost_seconds * 1e-6, window)  # the window holding the reservation's end
    if opens > budget_floor(now, window):
        return max(paused_until, opens + WINDOW_MARGIN)
    return max(now, paused_until)


class RequestLimiter:
    """A thread-safe request budget in ccxt cost units: ``units_per_second`` sustained; paced with ``burst`` units
    at once, or ``window`` seconds of allowance at once per fixed window of the wall clock."""

    def __init__(self, units_per_second: float, burst: float = BURST_UNITS, headroom: float = HEADROOM,
                 window: float | None = None) -> None:
        self.seconds_per_unit = 1.0 / (units_per_second * headroom)
        self.burst_seconds = burst * self.seconds_per_unit
        self.window = window
        self._lock = threading.Lock()
        self._next_free = 0.0  # budget time at which the budget is fully spent by reservations made so far
        self._paused_until = 0.0

    def _now(self) -> float:
        # a fixed window is the exchange's minute, so it is read off the wall clock; pacing needs no epoch
        return time.time() if self.window else time.monotonic()

    def acquire(self, cost: float = 1.0) -> float:
        """Block until ``cost`` units may be spent (first come, first served); return the seconds waited."""
        waited = 0.0
        cost_seconds = cost * self.seconds_per_unit
        with self._lock:
            now = self._now()
            reserved_until = max(self._next_free, budget_floor(now, self.window), self._paused_until) + cost_seconds
            self._next_free = reserved_until
            start = start_time(reserved_until, cost_seconds, now, self._paused_until, self.burst_seconds,
                               self.window)
        while True:
            delay = start - self._now()
            if delay > 0:
                time.sleep(delay)
                waited += delay
            with self._lock:  # a pause ordered while we slept applies to us too
                start = self._paused_until
            if start <= self._now():
                return waited

    def observe(self, used_units: float, sent_at: float) -> None:
        """The exchange counts ``used_units`` spent in its current window (by anyone on this address), answering a
        request sent at ``sent_at`` (wall clock): the budget moves up to that count. Paced budgets ignore it."""
        if not self.window:
            return
        with self._lock:
            position = observed_position(used_units, sent_at, time.time(), self.window, self.seconds_per_unit)
            if position is not None:
                self._next_free = max(self._next_free, position)

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (the exchange answered 429/418 with this wait)."""
        with self._lock:
            until = self._now() + max(0.0, seconds)
            self._paused_until = max(self._paused_until, until)
            self._next_free = max(self._next_free, until)


_limiters: dict[tuple[str, float], RequestLimiter] = {}
_limiters_lock = threading.Lock()
#: builds the limiter of (exchange id, units a second, fixed window or None) when set: a budget shared beyond
#: this process (``zvt_ccxt.cluster.budget``) instead of the process's own
_budget_factory: BudgetFactory | None = None


def use_budgets(factory: BudgetFactory | None) -> None:
    """Take every limiter from ``factory(exchange_id, units_per_second, window)`` from now on (None: the
    process's own); the object it returns has ``acquire(cost)`` and ``pause(seconds)`` like ``RequestLimiter``."""
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
            window = profile_for(exchange_id).rate_limit_window
            factory = _budget_factory
            made = (RequestLimiter(units_per_second, window=window) if factory is None
                    else factory(exchange_id, units_per_second, window))
            limiter = _limiters.setdefault(key, made)
    return limiter


class ProcessSharedLimiter(RequestLimiter):
    """``RequestLimiter`` whose bucket lives in memory shared by forked processes: processes that record
    different symbols of one exchange together stay under its limit, as threads of one process do. The
    monotonic and wall clocks are the machine's, so every process reads the same time."""

    def __init__(self, units_per_second: float, slot: tuple[Any, Any], burst: float = BURST_UNITS,
                 headroom: float = HEADROOM, window: float | None = None) -> None:
        self.seconds_per_unit = 1.0 / (units_per_second * headroom)
        self.burst_seconds = burst * self.seconds_per_unit
        self.window = window
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


def shared_budgets(exchange_ids: list[str]) -> BudgetFactory:
    """A ``use_budgets`` factory whose limiters for ``exchange_ids`` are shared with processes forked after this
    call (the memory is allocated now); another exchange gets a limiter of its process's own."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    slots = {exchange_id: (context.RawArray("d", 2), context.Lock()) for exchange_id in dict.fromkeys(exchange_ids)}

    def factory(exchange_id: str, units_per_second: float, window: float | None) -> RequestLimiter:
        slot = slots.get(exchange_id)
        if slot is None:
            return RequestLimiter(units_per_second, window=window)
        return ProcessSharedLimiter(units_per_second, slot, window=window)

    return factory
