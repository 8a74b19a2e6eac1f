"""The local exchanges for other processes: what ``zvt-ccxt simulate`` runs.

``serving()`` starts the REST simulator of binance, okx, bybit and coinbase with their websocket servers in front,
keeps the simulator's "now" on the real clock (so a ``zvt-ccxt`` process running on the real clock asks for bars the
simulator has), plays trades on a few markets, and yields the environment that points a ``zvt-ccxt`` process at it
(``cli_environment``): ``ZVT_CCXT_<EXCHANGE>_OPTIONS`` re-pointing every REST and websocket URL, and
``ZVT_CCXT_SOURCE=simulator``, which marks what it records as simulated and keeps it apart from live data.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zvt_ccxt_testkit.simulated_exchanges import pointing_hook
from zvt_ccxt_testkit.simulator import ExchangeSimulator

EXCHANGES = ("binance", "okx", "bybit", "coinbase")
#: markets whose trades play from the start (others play once asked for through ``ws.play``)
PLAYED = ("BTC/USDT", "ETH/USDT")


def cli_environment(
    base_url: str, *, ws: Any = None, page_cap: int | None = None, exchanges: tuple[str, ...] = EXCHANGES
) -> dict[str, str]:
    """Environment variables pointing a ``zvt-ccxt`` process's ccxt clients at the simulator at ``base_url`` (and
    their websockets at ``ws``); ``page_cap`` shrinks candle pages as ``pointing_hook`` does."""
    import ccxt
    import ccxt.pro

    hook = pointing_hook(base_url, ws=ws, page_cap=page_cap)
    environment = {"ZVT_CCXT_SOURCE": "simulator"}
    for name in exchanges:
        client = getattr(ccxt.pro if ws is not None else ccxt, name)()
        hook(client)
        options: dict[str, Any] = {"urls": {"api": client.urls["api"]}, "enableRateLimit": False}
        if page_cap:
            options["features"] = _capped_features(client.features, page_cap)
        environment[f"ZVT_CCXT_{name.upper()}_OPTIONS"] = json.dumps(options, separators=(",", ":"))
    return environment


def _capped_features(features: dict, limit: int) -> dict:
    """Only the candle caps of ccxt's feature table, as options that merge into it."""
    overlay: dict[str, dict] = {}
    for name, section in (features or {}).items():
        if not isinstance(section, dict):
            continue
        if isinstance(section.get("fetchOHLCV"), dict):
            overlay.setdefault(name, {})["fetchOHLCV"] = {"limit": limit}
        for sub, part in section.items():
            if isinstance(part, dict) and isinstance(part.get("fetchOHLCV"), dict):
                overlay.setdefault(name, {})[sub] = {"fetchOHLCV": {"limit": limit}}
    return overlay


def shell_lines(environment: dict[str, str]) -> list[str]:
    """``export NAME=VALUE`` lines, quoted for a POSIX shell."""
    return [f"export {name}={shlex.quote(value)}" for name, value in environment.items()]


def read_environment(path: Path) -> dict[str, str]:
    """The variables of a file ``shell_lines`` wrote."""
    found = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            found[name] = value
    return found


@dataclass
class Served:
    rest: ExchangeSimulator
    ws: Any
    environment: dict[str, str]

    @property
    def base_url(self) -> str:
        return self.rest.base_url


@contextlib.contextmanager
def serving(
    *, trades_per_second: float = 20.0, latency_ms: float = 0.0, page_cap: int | None = None, follow_clock: bool = True
) -> Iterator[Served]:
    """The local exchanges running on 127.0.0.1 until the block ends (see the module's docstring)."""
    from zvt_ccxt_testkit.simulator.ws import WsExchangeServer

    stop = threading.Event()
    # trades start now and keep pace with the real clock: one every 1/trades_per_second seconds of tape time
    spacing_ms = max(1, int(1000 / trades_per_second)) if trades_per_second > 0 else 100
    with (
        ExchangeSimulator(latency_ms=latency_ms) as rest,
        WsExchangeServer(rest=rest, start_ms=rest.now_ms, spacing_ms=spacing_ms, history_from_rest=True) as ws,
    ):

        def follow() -> None:
            while not stop.wait(1.0):
                rest.set_now(int(time.time() * 1000))

        follower = threading.Thread(target=follow, name="simulator-clock", daemon=True)
        if follow_clock:
            follower.start()
        if trades_per_second > 0:
            for exchange in EXCHANGES:
                for symbol in PLAYED:
                    with contextlib.suppress(KeyError, LookupError):
                        ws.play(exchange, symbol, None, rate=trades_per_second)
        try:
            # REST through the websocket server: history from the REST simulator (the tapes began just now), book
            # snapshots from the books the websocket diffs follow (binance's diffs older than its snapshot are void)
            yield Served(rest, ws, cli_environment(ws.base_url, ws=ws, page_cap=page_cap))
        finally:
            stop.set()
            if follower.is_alive():
                follower.join(timeout=5)
