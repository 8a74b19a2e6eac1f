"""zvt-ccxt against the local exchanges: every ccxt client built inside the block talks to 127.0.0.1.

    from zvt_ccxt_testkit import simulated, simulated_streams

    with simulated() as exchange:               # REST: binance, okx, bybit and coinbase
        exchange.add_gap("okx", "BTC/USDT", start_ms, end_ms)
        CryptoPair1hKdata.record_data(provider="ccxt", exchange="okx", symbols=["BTC/USDT"], start_timestamp=...)

    with simulated_streams() as ws:             # their websockets too, REST answered behind them
        ...                                     # CcxtStream(...).run(); ws.play("binance", "BTC/USDT", 300)

Only the URLs change: ccxt's own parsers, the recorders and the store run as they do against the real
exchanges. Inside the block the package clock is frozen at the simulator's "now", so "the last 60 days" and
"the forming bar" mean the same thing on both sides.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from zvt_ccxt_testkit.simulator import ExchangeSimulator, repoint

if TYPE_CHECKING:
    from zvt_ccxt_testkit.simulator.ws import WsExchangeServer

#: 2025-06-01 12:34:56.789 UTC, inside a forming hour: the instant the bundled cassettes were made at
SIM_NOW_MS = 1_748_781_296_789


def _cap_pages(exchange: Any, limit: int) -> None:
    features = copy.deepcopy(exchange.features or {})
    for section in features.values():
        for part in [section, *(v for v in (section or {}).values() if isinstance(v, dict))]:
            if isinstance(part, dict) and isinstance(part.get("fetchOHLCV"), dict):
                part["fetchOHLCV"]["limit"] = limit
    exchange.features = features


def pointing_hook(
    base_url: str,
    *,
    page_cap: int | None = None,
    timeout_ms: int | None = None,
    ws: WsExchangeServer | None = None,
    rate_limit: bool = False,
    rate_limit_ms: float | None = None,
) -> Callable[[Any], None]:
    """A client hook sending every request to the simulator at ``base_url`` (and websockets to ``ws``).

    ``page_cap`` shrinks candle pages so a short history takes several requests; ``timeout_ms`` shortens
    ccxt's timeout so a stalled answer fails fast; ccxt's rate limiter is off unless ``rate_limit``: the
    simulator answers at once and, under a frozen clock, the limiter would only add sleeps. ``rate_limit_ms``
    replaces ccxt's ``rateLimit`` (ms per cost unit), to match a simulator limit other than the exchange's.
    """

    def hook(exchange: Any) -> None:
        repoint(exchange, base_url)
        if ws is not None:
            ws.repoint(exchange)
        exchange.enableRateLimit = rate_limit
        if rate_limit_ms:
            exchange.rateLimit = rate_limit_ms
        if page_cap:
            _cap_pages(exchange, page_cap)
        if timeout_ms:
            exchange.timeout = timeout_ms

    return hook


@contextlib.contextmanager
def simulated(
    now_ms: int = SIM_NOW_MS,
    *,
    page_cap: int | None = None,
    timeout_ms: int | None = None,
    rate_limit: bool = False,
    rate_limit_ms: float | None = None,
    **simulator_options: Any,
) -> Iterator[ExchangeSimulator]:
    """The REST simulator of the four exchanges running, the clock frozen at ``now_ms``, every ccxt client built
    inside pointed at it. Yields the :class:`ExchangeSimulator` (faults, gaps, delistings, ground truth).
    ``simulator_options`` go to it (``latency_ms``, ``weight_limit``); the others are :func:`pointing_hook`'s."""
    from zvt_ccxt import clock, provenance
    from zvt_ccxt.exchange.client import client_hook

    with (
        ExchangeSimulator(now_ms=now_ms, **simulator_options) as simulator,
        clock.frozen(now_ms),
        provenance.sourced(provenance.SIMULATOR),
    ):
        hook = pointing_hook(
            simulator.base_url, page_cap=page_cap, timeout_ms=timeout_ms, rate_limit=rate_limit,
            rate_limit_ms=rate_limit_ms,
        )
        with client_hook(hook):
            yield simulator


_process_pointing = contextlib.ExitStack()


def point_this_process(
    base_url: str,
    now_ms: int = SIM_NOW_MS,
    *,
    page_cap: int | None = None,
    timeout_ms: int | None = None,
    rate_limit: bool = False,
    rate_limit_ms: float | None = None,
    retry: dict[str, float] | None = None,
) -> None:
    """What ``simulated()`` does inside its block, for the rest of this process's life: the clock frozen at
    ``now_ms`` and every ccxt client pointed at the simulator at ``base_url``. For processes a test starts but
    cannot wrap in a block (the workers of a cluster, given this as their set-up); a second call re-points.
    ``retry``: fields of the ``RetryPolicy`` clients built from now on get."""
    from zvt_ccxt import clock
    from zvt_ccxt.exchange.client import client_hook
    from zvt_ccxt.exchange.retry import RetryPolicy, set_default_policy

    if retry:
        set_default_policy(RetryPolicy(**retry))

    _process_pointing.close()
    _process_pointing.enter_context(clock.frozen(now_ms))
    hook = pointing_hook(
        base_url, page_cap=page_cap, timeout_ms=timeout_ms, rate_limit=rate_limit, rate_limit_ms=rate_limit_ms
    )
    _process_pointing.enter_context(client_hook(hook))


@contextlib.contextmanager
def simulated_streams(
    now_ms: int = SIM_NOW_MS, *, spacing_ms: int = 100, rate_limit: bool = False
) -> Iterator[WsExchangeServer]:
    """The websocket simulator (ccxt.pro) with the REST simulator behind it, the clock frozen at ``now_ms``,
    every ccxt client built inside pointed at them. Yields the :class:`WsExchangeServer` (``play``, faults,
    subscriptions); its ``rest_sim`` is the REST simulator. ``spacing_ms``: time between a tape's trades."""
    from zvt_ccxt import clock, provenance
    from zvt_ccxt.exchange.client import client_hook
    from zvt_ccxt_testkit.simulator.ws import WsExchangeServer

    with (
        ExchangeSimulator(now_ms=now_ms) as rest,
        WsExchangeServer(rest=rest, spacing_ms=spacing_ms) as ws,
        clock.frozen(now_ms),
        provenance.sourced(provenance.SIMULATOR),
        client_hook(pointing_hook(ws.base_url, ws=ws, rate_limit=rate_limit)),
    ):
        yield ws


_hanging = contextlib.ExitStack()
_hung = threading.Event()


def hang_next_request(path_part: str) -> None:
    """From now on in this process, the first ccxt request whose URL holds ``path_part`` never returns: the thread
    that sent it blocks for good while the rest of the process runs on (a hung job in a live worker). For
    processes a test starts (given through ``Client.run``)."""
    from zvt_ccxt.exchange.client import client_hook

    _hung.clear()

    def hook(exchange: Any) -> None:
        fetch = exchange.fetch

        def hanging_fetch(url, *args, **kwargs):
            if path_part in url and not _hung.is_set():
                _hung.set()
                threading.Event().wait()
            return fetch(url, *args, **kwargs)

        exchange.fetch = hanging_fetch

    _hanging.close()
    _hanging.enter_context(client_hook(hook))
