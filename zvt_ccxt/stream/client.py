"""One ccxt.pro client per exchange for a stream, configured like the REST clients.

Options, credentials and redaction come from ``zvt_ccxt.config`` exactly as for ``get_client``; the
hooks of active ``client_hook`` blocks apply too (tests re-point it at local servers). Every raw frame
passes a tap first: it stamps the connection's last data time, counts frames, and feeds the exchange's
book checker before ccxt parses it; trade and candle frames of subscribed markets that the exchange's lean
decoder reads (``zvt_ccxt.stream.decoders``) stop there, decoded into ``feed``, and never reach ccxt's parser.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import ccxt
import ccxt.pro

from zvt_ccxt.config import load_exchange_config
from zvt_ccxt.errors import UnknownExchangeError
from zvt_ccxt.exchange import redaction
from zvt_ccxt.exchange.client import installed_hooks
from zvt_ccxt.exchange.profiles import ExchangeProfile, profile_for
from zvt_ccxt.stream.books import BookCheck, book_check_for
from zvt_ccxt.stream.decoders import DecodedFeed, decoder_for

logger = logging.getLogger(__name__)

#: entries ccxt keeps per symbol (ccxt's default): the stream drains them on every wake-up, and what overflows
#: under backpressure is detected and repaired, so memory stays bounded by symbols x this
CACHE_LIMIT = 2_000


def _is_heartbeat(profile: ExchangeProfile, message: object) -> bool:
    if type(message) is dict:  # every frame passes here: plain loops, no generators
        for key, value in profile.heartbeat_fields:
            if message.get(key) == value:
                return True
        for key in profile.heartbeat_keys:
            if key in message:
                return True
        return False
    if isinstance(message, str):
        return profile.heartbeat_text_frames
    if isinstance(message, dict):
        return any(message.get(key) == value for key, value in profile.heartbeat_fields) or any(
            key in message for key in profile.heartbeat_keys
        )
    return False


def _consume(future) -> None:
    if not future.cancelled():
        future.exception()


class ProClient:
    """A ccxt.pro exchange instance plus the frame tap and the book checker of its exchange."""

    def __init__(
        self,
        exchange_id: str,
        overrides: dict[str, Any] | None = None,
        cache_limit: int = CACHE_LIMIT,
        private: bool = False,
    ):
        if exchange_id not in ccxt.pro.exchanges:
            raise UnknownExchangeError(f"ccxt.pro has no streaming client for {exchange_id!r}")
        self.exchange_id = exchange_id
        self.config = load_exchange_config(exchange_id, overrides)
        for secret in self.config.credentials.values():
            redaction.register_secret(secret)
        # Credentials reach ccxt only for private channels: holding keys, ccxt calls private endpoints on its
        # own (binance, okx and bybit load currencies privately inside load_markets).
        self.private = private
        params = {"enableRateLimit": True, **(self.config.ccxt_params() if private else self.config.options)}
        options = dict(params.get("options") or {})
        self.profile = profile_for(exchange_id)
        if self.profile.market_types is not None and "fetchMarkets" not in options:
            options["fetchMarkets"] = {"types": list(self.profile.market_types)}
        for key, value in self.profile.stream_options.items():
            options.setdefault(key, copy.deepcopy(value))  # ccxt may change its options: the profile stays as is
        websocket = dict(options.get("ws") or {})
        websocket.setdefault("compress", self.profile.stream_compress)
        options["ws"] = websocket
        options.setdefault("tradesLimit", cache_limit)
        options.setdefault("OHLCVLimit", cache_limit)
        params["options"] = options
        self.exchange: ccxt.pro.Exchange = getattr(ccxt.pro, exchange_id)(params)
        redaction.install(self.exchange.logger)
        for hook in installed_hooks():
            hook(self.exchange)
        self.book_check: BookCheck | None = book_check_for(self.profile.book_check)
        #: trades and candles of subscribed markets decoded straight from the frames (the profile's decoder);
        #: idle until a subscription registers a market, so a bare client parses everything with ccxt
        self.feed = DecodedFeed(decoder_for(self.profile.stream_decoder), cache_limit)
        self.frames = 0
        self._tap()

    def __repr__(self) -> str:
        used = "yes" if self.private and self.config.has_credentials else "no"
        return f"ProClient({self.exchange_id!r}, credentials={used})"

    @property
    def has_credentials(self) -> bool:
        return self.config.has_credentials

    def _tap(self) -> None:
        original = self.exchange.handle_message
        check = self.book_check
        profile = self.profile
        feed = self.feed

        def handle_message(client, message):
            self.frames += 1
            if feed.active and feed.accept(message):
                # a decoded frame is a trade or a candle: data, never a heartbeat, and no book for the check
                client.last_data_ms = time.time() * 1000
                return None
            if not _is_heartbeat(profile, message):
                client.last_data_ms = time.time() * 1000
            if check is not None:
                check.inspect(client, message)
            return original(client, message)

        self.exchange.handle_message = handle_message

    def connections(self, hints: tuple[str, ...], symbols: list[str]) -> list[Any]:
        """The open ccxt connections carrying a subscription whose hash names a symbol and a channel hint."""
        found = []
        for client in list((self.exchange.clients or {}).values()):
            keys = [str(k) for k in list(client.subscriptions)]
            if any(s in k and any(h in k for h in hints) for k in keys for s in symbols):
                found.append(client)
        return found

    def drop_connections(self, clients: list[Any], reason: str) -> int:
        """Fail these connections: their pending watches raise a network error and the next watch reconnects."""
        for client in clients:
            for future in list(client.futures.values()):
                future.add_done_callback(_consume)  # futures nobody awaits any more must not log as unretrieved
            client.on_error(ccxt.RequestTimeout(f"{self.exchange_id}: {reason}"))
        return len(clients)

    async def close(self) -> None:
        try:
            await self.exchange.close()
        except Exception as error:  # closing must not mask the reason the stream stopped
            logger.warning("%s: closing the stream client failed: %s", self.exchange_id, error)
