"""One ccxt client per exchange in the process, so every recorder shares its rate limiter.

The limiter (``zvt_ccxt.exchange.limiter``) replaces ccxt's sync throttle with a token bucket that threads
share, keyed by exchange, so recording several symbols at once stays within the exchange's limit.

``ExchangeClient`` wraps the ccxt instance with the retry policy, the HTTP status and ``Retry-After`` seen
by the last response (ccxt's exception types alone cannot tell a 404 from an outage), refusal of
non-JSON 2xx bodies, the package clock, and the quote volume ccxt's unified OHLCV row leaves out.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import ccxt

from zvt_ccxt import clock
from zvt_ccxt.config import ExchangeConfig, load_exchange_config
from zvt_ccxt.errors import (
    CapabilityNotSupportedError,
    DataValidationError,
    UnknownExchangeError,
    UnknownSymbolError,
    ZvtCcxtError,
)
from zvt_ccxt.exchange import redaction
from zvt_ccxt.exchange.kline_decoders import AscendingRows, decode_page, since_limit
from zvt_ccxt.exchange.limiter import limiter_for
from zvt_ccxt.exchange.profiles import profile_for
from zvt_ccxt.exchange.retry import MalformedResponse, RetryPolicy, call_with_retry, default_policy, server_wait

logger = logging.getLogger(__name__)

ClientHook = Callable[[ccxt.Exchange], None]

_clients: dict[str, ExchangeClient] = {}
_clients_lock = threading.Lock()
_hooks: list[ClientHook] = []


def check_exchange_id(exchange_id: str) -> str:
    """Return the ccxt id, or raise naming the closest known ids."""
    if not isinstance(exchange_id, str) or exchange_id not in ccxt.exchanges:
        close = difflib.get_close_matches(str(exchange_id).lower(), ccxt.exchanges, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownExchangeError(f"unknown exchange {exchange_id!r}: ccxt has no such exchange{hint}")
    return exchange_id


class ExchangeClient:
    """A ccxt sync client plus the machinery every recorder needs around it."""

    def __init__(self, config: ExchangeConfig, policy: RetryPolicy | None = None, private: bool = False) -> None:
        self.exchange_id = check_exchange_id(config.exchange_id)
        self.config = config
        self.policy = policy or default_policy()
        # Credentials reach ccxt only when private use is asked for: holding keys, ccxt calls private
        # endpoints on its own (binance, okx and bybit load currencies privately inside load_markets).
        self.private = private
        params = {"enableRateLimit": True, **(config.ccxt_params() if private else config.options)}
        options = dict(params.get("options") or {})
        market_types = profile_for(self.exchange_id).market_types
        if market_types is not None and "fetchMarkets" not in options:
            options["fetchMarkets"] = {"types": list(market_types)}
        params["options"] = options
        for value in config.credentials.values():
            redaction.register_secret(value)
        self.ccxt: ccxt.Exchange = getattr(ccxt, self.exchange_id)(params)
        redaction.install(self.ccxt.logger)
        self._last = threading.local()
        self._markets_lock = threading.Lock()
        self._install_hooks()
        for hook in list(_hooks):
            hook(self.ccxt)

    def __repr__(self) -> str:
        return f"ExchangeClient({self.exchange_id!r}, credentials={'yes' if self.config.has_credentials else 'no'})"

    # -- hooks into the ccxt instance ------------------------------------------------------------------

    def _install_hooks(self) -> None:
        exchange = self.ccxt
        original_on_response = exchange.on_rest_response
        original_parse_ohlcv = exchange.parse_ohlcv
        last = self._last
        exchange_id = self.exchange_id

        used_weight = profile_for(exchange_id).used_weight_header

        def on_rest_response(code, reason, url, method, headers, body, request_headers, request_body):
            last.status = code
            last.retry_after = (headers or {}).get("Retry-After")
            used = used_units(used_weight, headers, url) if used_weight else None
            sent_at = getattr(last, "sent_at", None)
            if used is not None and sent_at is not None:
                limiter_for(exchange_id, exchange.rateLimit).observe(used, sent_at)
            if code in (418, 429):  # the exchange's limit is the process's: every thread waits, not just this one
                wait = server_wait(RuntimeError(str(body)), last.retry_after, clock.now_ms())
                wait = min(self.policy.max_server_wait, wait if wait is not None else self.policy.initial_wait)
                limiter_for(exchange_id, exchange.rateLimit).pause(wait)
            if isinstance(code, int) and 200 <= code < 300 and not _looks_like_json(body):
                raise MalformedResponse(f"{exchange_id} {method} {url} {code}: body is not JSON: {str(body)[:80]!r}")
            return original_on_response(code, reason, url, method, headers, body, request_headers, request_body)

        quote_index = profile_for(exchange_id).quote_volume_index

        def parse_ohlcv(ohlcv, market=None):
            # Runs for every row of every page, so it is kept to one call: ccxt's row is extended in place
            # with the quote volume (None where the exchange reports none, or for a malformed raw row).
            row = original_parse_ohlcv(ohlcv, market)
            if type(row) is not list or len(row) != 6:
                row = list(row[:6])
            quote = None
            if (
                quote_index is not None
                and not (market and market.get("inverse"))
                and isinstance(ohlcv, list | tuple)
                and len(ohlcv) > quote_index
            ):
                try:
                    quote = float(ohlcv[quote_index])
                except (TypeError, ValueError):
                    quote = None
            row.append(quote)
            return row

        layout = profile_for(exchange_id).kline_rows
        original_parse_ohlcvs = exchange.parse_ohlcvs

        def parse_ohlcvs(ohlcvs, market=None, timeframe="1m", since=None, limit=None, tail=False):
            # a page of the shape the profile describes is decoded here, to exactly the rows ccxt's parser and
            # the hook above make (kline_decoders); anything else goes to ccxt's parser
            rows = None
            if layout is not None and exchange.number is float and exchange.parse_ohlcv is parse_ohlcv:
                rows = decode_page(ohlcvs, layout, market, quote_index)
            if rows is None:
                return original_parse_ohlcvs(ohlcvs, market, timeframe, since, limit, tail)
            exact = type(since) is int and (limit is None or type(limit) is int) and not tail
            if exact and type(rows) is AscendingRows:
                return since_limit(rows, since, limit)  # what the two calls below make of such rows, by bisection
            return exchange.filter_by_since_limit(exchange.sort_by(rows, 0), since, limit, 0, tail)

        def throttle(cost=None):
            limiter_for(exchange_id, exchange.rateLimit).acquire(1 if cost is None else cost)
            last.sent_at = time.time()  # the window the exchange counts this request in, for ``observe``

        exchange.on_rest_response = on_rest_response
        exchange.parse_ohlcv = parse_ohlcv
        exchange.parse_ohlcvs = parse_ohlcvs
        exchange.throttle = throttle  # ccxt calls it before every request while enableRateLimit is on
        exchange.milliseconds = clock.now_ms

    # -- calls -----------------------------------------------------------------------------------------

    def call(self, method: str, *args: Any, symbol: str | None = None, **kwargs: Any) -> Any:
        """Call a unified ccxt method with retry; errors name the exchange and symbol."""
        function = getattr(self.ccxt, method)

        def attempt() -> Any:
            self._last.status = None
            self._last.retry_after = None
            return function(*args, **kwargs)

        try:
            return call_with_retry(
                attempt,
                exchange=self.exchange_id,
                symbol=symbol,
                status_of=lambda: getattr(self._last, "status", None),
                retry_after_of=lambda: getattr(self._last, "retry_after", None),
                now_ms=clock.now_ms,
                policy=self.policy,
            )
        except ZvtCcxtError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, ArithmeticError) as error:
            # ccxt's parsers raise these on a malformed answer (a price of "NaN" fails its decimal maths)
            where = f"{self.exchange_id} {symbol}" if symbol else self.exchange_id
            raise DataValidationError(f"{where}: malformed {method} answer: {error!r}") from error

    def require(self, capability: str) -> None:
        """Raise unless ccxt says the exchange offers ``capability`` (a unified method name, e.g. fetchOHLCV)."""
        if not self.ccxt.has.get(capability):
            raise CapabilityNotSupportedError(self.exchange_id, capability)

    def load_markets(self, reload: bool = False) -> dict[str, dict]:
        with self._markets_lock:
            if reload or not self.ccxt.markets:
                self.call("load_markets", reload)
        return self.ccxt.markets

    def market(self, symbol: str) -> dict:
        markets = self.load_markets()
        if symbol not in markets:
            close = difflib.get_close_matches(symbol, list(markets), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownSymbolError(f"{self.exchange_id} lists no market {symbol!r}{hint}")
        return markets[symbol]

    def ohlcv_limit(self, market: Mapping) -> int:
        """The exchange's candles-per-request cap for this market type, from ccxt's feature table."""
        features = self.ccxt.features or {}
        kind = market.get("type") or "spot"
        section = features.get(kind) or {}
        if kind in ("swap", "future"):
            section = section.get("inverse" if market.get("inverse") else "linear") or {}
        limit = ((section or {}).get("fetchOHLCV") or {}).get("limit")
        return int(limit) if limit else 500

    def fetch_ohlcv(self, symbol: str, timeframe: str, since: int, limit: int, until: int) -> list[list]:
        """Bars opening in ``[since, until)`` as ``[ts, open, high, low, close, volume, quote_volume|None]``."""
        return self.call("fetch_ohlcv", symbol, timeframe, since, limit, {"until": until - 1}, symbol=symbol)

    @property
    def timeframes(self) -> dict:
        return dict(self.ccxt.timeframes or {})


def used_units(used_weight: tuple[str, tuple[tuple[str, float], ...]], headers: Any, url: str) -> float | None:
    """The ccxt cost units the exchange says are used in its current window, from the profile's
    ``used_weight_header`` (None: no such header, or an API it does not name)."""
    name, weights = used_weight
    try:
        value = headers.get(name) if headers else None  # requests' headers ignore case
        if value is None:
            return None
        used = float(value)
    except (AttributeError, TypeError, ValueError):
        return None
    weight = next((weight for part, weight in weights if part in url), None)
    return used / weight if weight else None


def _looks_like_json(body: object) -> bool:
    if not isinstance(body, str):
        return True
    text = body.strip()
    if not text:
        return False
    return (text[0], text[-1]) in (("{", "}"), ("[", "]")) or text in ("null", "true", "false")


def get_client(exchange_id: str, *, private: bool = False, **overrides: Any) -> ExchangeClient:
    """The process-wide client of ``exchange_id`` (a new one when ``overrides`` differ from the cached one).

    ``private=True`` hands the configured credentials to ccxt, for private endpoints; without it no request
    is ever signed, whatever credentials the environment holds."""
    check_exchange_id(exchange_id)
    key = exchange_id if not overrides else f"{exchange_id}:{json.dumps(overrides, sort_keys=True, default=str)}"
    key += ":private" if private else ""
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = ExchangeClient(load_exchange_config(exchange_id, overrides), private=private)
            _clients[key] = client
        return client


def forget_inherited_connections() -> None:
    """In a forked process: let go of the HTTP connections inherited from the parent (the same sockets), so this
    process's requests open connections of its own; the clients, their markets and hooks are kept."""
    with _clients_lock:
        clients = list(_clients.values())
    for client in clients:
        session = getattr(client.ccxt, "session", None)
        if session is not None:
            session.close()  # closes this process's copies of the sockets; the adapters stay usable


def reset_clients() -> None:
    """Forget every cached client (their next use builds a new one with the current hooks and config)."""
    with _clients_lock:
        _clients.clear()


def installed_hooks() -> list[ClientHook]:
    """The hooks of every active ``client_hook`` block, for clients built elsewhere (the ccxt.pro streams)."""
    return list(_hooks)


@contextlib.contextmanager
def client_hook(hook: ClientHook) -> Iterator[None]:
    """Apply ``hook`` to every ccxt client built inside the block (replay, local servers, tests)."""
    reset_clients()
    _hooks.append(hook)
    try:
        yield
    finally:
        _hooks.remove(hook)
        reset_clients()
