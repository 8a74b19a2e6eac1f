"""Which ccxt failures are worth retrying, and the retry loop itself (tenacity).

ccxt maps some permanent HTTP answers (400, 403, 404 with a body it does not recognise) to
``ExchangeNotAvailable``, a ``NetworkError``; the HTTP status seen by the client decides instead.
``Retry-After`` and binance's "banned until" are honoured; every other wait is exponential with jitter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import ccxt
import tenacity

from zvt_ccxt import interrupts
from zvt_ccxt.errors import PERMANENT_NETWORK_FAILURES, ExchangeRequestError, network_cause
from zvt_ccxt.exchange.profiles import profile_for

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: HTTP statuses that no amount of waiting fixes.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 451})
_PERMANENT_TYPES = (
    ccxt.AuthenticationError,
    ccxt.PermissionDenied,
    ccxt.AccountSuspended,
    ccxt.BadRequest,
    ccxt.BadSymbol,
    ccxt.NotSupported,
    ccxt.ArgumentsRequired,
)
_BANNED_UNTIL = re.compile(r"banned until (\d{13})")


class MalformedResponse(ccxt.NetworkError):
    """A 2xx answer whose body is not JSON (an HTML error page, a truncated body): ccxt raises nothing for it."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped per wait and in total."""

    attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0
    #: the longest server-requested pause (Retry-After, ban) that is waited out rather than failed
    max_server_wait: float = 600.0


_default_policy = RetryPolicy()


def default_policy() -> RetryPolicy:
    """The policy new exchange clients get."""
    return _default_policy


def set_default_policy(policy: RetryPolicy) -> RetryPolicy:
    """Change the policy of clients built from now on; returns the previous one."""
    global _default_policy
    previous, _default_policy = _default_policy, policy
    return previous


def is_transient(error: BaseException, status: int | None = None, exchange: str | None = None) -> bool:
    """True when waiting and asking again can succeed. A name that does not resolve, a refused connection or a
    TLS failure is not: with no network a command fails in seconds instead of retrying for a minute."""
    if isinstance(error, MalformedResponse):
        return True
    network = network_cause(error)
    if network is not None and network[0] in PERMANENT_NETWORK_FAILURES:
        return False
    if any(marker in str(error) for marker in profile_for(exchange).transient_errors):
        return True
    if status in PERMANENT_STATUSES:
        return False
    if isinstance(error, _PERMANENT_TYPES):
        return False
    if status is not None and (status >= 500 or status in (408, 418, 429)):
        return True
    # OperationFailed is ccxt's "the request failed, asking again may work" (NetworkError is one kind of it).
    return isinstance(error, ccxt.OperationFailed)


def server_wait(error: BaseException, retry_after: str | None, now_ms: int) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After`` or a ban-until timestamp."""
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    match = _BANNED_UNTIL.search(str(error))
    if match:
        return max(0.0, (int(match.group(1)) - now_ms) / 1000)
    return None


class _Waiter:
    def __init__(self, policy: RetryPolicy, hints: Callable[[BaseException], float | None]) -> None:
        self.exponential = tenacity.wait_exponential_jitter(initial=policy.initial_wait, max=policy.max_wait)
        self.hints = hints

    def __call__(self, state: tenacity.RetryCallState) -> float:
        backoff = self.exponential(state)
        error = state.outcome.exception() if state.outcome else None
        hinted = self.hints(error) if error else None
        return max(backoff, hinted) if hinted is not None else backoff


def call_with_retry(
    func: Callable[[], T],
    *,
    exchange: str,
    symbol: str | None,
    status_of: Callable[[], int | None],
    retry_after_of: Callable[[], str | None],
    now_ms: Callable[[], int],
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = interrupts.sleep,
) -> T:
    """Run ``func``, retrying transient ccxt errors; raise ``ExchangeRequestError`` naming exchange and symbol."""

    def hinted_wait(error: BaseException) -> float | None:
        return server_wait(error, retry_after_of(), now_ms())

    def should_retry(error: BaseException) -> bool:
        if not is_transient(error, status_of(), exchange):
            return False
        hinted = hinted_wait(error)
        return hinted is None or hinted <= policy.max_server_wait

    def log_retry(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "%s %s: %s, retry %d/%d in %.1fs",
            exchange,
            symbol or "",
            type(error).__name__,
            state.attempt_number,
            policy.attempts - 1,
            state.next_action.sleep if state.next_action else 0.0,
        )

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=_Waiter(policy, hinted_wait),
        retry=tenacity.retry_if_exception(should_retry),
        before_sleep=log_retry,
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(func)
    except ccxt.BaseError as error:
        status = status_of()
        transient = is_transient(error, status, exchange)
        raise ExchangeRequestError(exchange, symbol, error, transient=transient, status=status) from error
