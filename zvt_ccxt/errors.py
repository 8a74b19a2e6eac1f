"""The exceptions zvt-ccxt raises: one small hierarchy, each naming what was wrong."""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

#: kinds of network failure ``network_cause`` names; the first three do not go away by asking again soon
DNS, REFUSED, TLS, RESET, TIMEOUT = "dns", "refused", "tls", "reset", "timeout"
PERMANENT_NETWORK_FAILURES = frozenset({DNS, REFUSED, TLS})
_URL = re.compile(r"\b(?:https?|wss?)://[^\s'\"]+")


class ZvtCcxtError(Exception):
    """Base class of every error raised by zvt-ccxt."""


class ZvtUnavailableError(ZvtCcxtError, ImportError):
    """zvt is not installed, or fails at import (a missing dependency of its own)."""


class ConfigError(ZvtCcxtError, ValueError):
    """An exchange option, config file or credential is malformed or unsafe."""


class UnknownExchangeError(ConfigError):
    """The exchange id is not one ccxt knows."""


class UnknownSymbolError(ZvtCcxtError, ValueError):
    """A code or symbol is not listed on the exchange (or not recorded yet)."""


class UnsupportedLevelError(ZvtCcxtError, ValueError):
    """The level cannot be served: not a bar level, or neither native nor derivable on the exchange."""


class InvalidTimeRangeError(ZvtCcxtError, ValueError):
    """A start or end timestamp is unparsable, in the future, or after the end."""


class CapabilityNotSupportedError(ZvtCcxtError):
    """The exchange does not offer this kind of data."""

    def __init__(self, exchange: str, capability: str, detail: str = "") -> None:
        self.exchange = exchange
        self.capability = capability
        message = f"{exchange} does not support {capability}"
        super().__init__(f"{message}: {detail}" if detail else message)


class ExchangeRequestError(ZvtCcxtError):
    """A request failed permanently, or kept failing after every retry. The message names the cause: a DNS
    failure, a refused connection, TLS, the HTTP status, or the exchange's own error."""

    def __init__(
        self, exchange: str, symbol: str | None, cause: BaseException, *, transient: bool, status: int | None = None
    ) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.cause = cause
        self.transient = transient
        self.status = status
        kind = "gave up after retries" if transient else "failed"
        where = f"{exchange} {symbol}" if symbol else exchange
        network = network_cause(cause)
        if network is not None:
            reason = f"{network[1]} ({type(cause).__name__})"
        else:
            reason = f"{type(cause).__name__}: {_first_line(cause)}"
            if status is not None and str(status) not in reason:
                reason = f"HTTP {status}: {reason}"
        super().__init__(f"{where}: request {kind}: {reason}")


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what caused it (``__cause__``, ``__context__``, aiohttp's ``os_error``), once each."""
    seen: set[int] = set()
    pending = [error]
    while pending and len(seen) < 32:
        link = pending.pop(0)
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        pending += [link.__cause__, link.__context__, getattr(link, "os_error", None)]  # type: ignore[list-item]


def _endpoint(error: BaseException) -> str:
    """``host:port`` of the first URL the failure's messages name (else "the exchange")."""
    for link in _chain(error):
        match = _URL.search(str(link))
        if match:
            parts = urlsplit(match.group(0))
            if parts.hostname:
                port = parts.port or {"http": 80, "ws": 80}.get(parts.scheme, 443)
                return f"{parts.hostname}:{port}"
    return "the exchange"


def network_cause(error: BaseException) -> tuple[str, str] | None:
    """What a failed request ran into below HTTP, from its exception chain: ``(kind, one line)`` with kind one of
    ``dns``, ``refused``, ``tls``, ``reset``, ``timeout``; None when the failure is not of that kind."""
    for link in _chain(error):
        name = type(link).__name__
        if isinstance(link, socket.gaierror) or name in ("NameResolutionError", "ClientConnectorDNSError"):
            host = _endpoint(error).rsplit(":", 1)[0]
            resolver = next((x for x in _chain(link) if isinstance(x, socket.gaierror)), None)
            detail = f" ({_first_line(resolver, 120)})" if resolver is not None else ""
            return DNS, f"DNS failure: cannot resolve {host}{detail}"
        if isinstance(link, ConnectionRefusedError):
            return REFUSED, f"connection refused by {_endpoint(error)}"
        if isinstance(link, ssl.SSLError) or name in ("SSLError", "ClientConnectorCertificateError", "ClientSSLError"):
            return TLS, f"TLS failure with {_endpoint(error)}: {_first_line(link, 160)}"
        if isinstance(link, ConnectionResetError):
            return RESET, f"connection reset by {_endpoint(error)}"
        if isinstance(link, socket.timeout | TimeoutError) or name in ("ReadTimeout", "ConnectTimeout"):
            return TIMEOUT, f"no answer from {_endpoint(error)} in time"
    return None


class DataValidationError(ZvtCcxtError, ValueError):
    """A payload from the exchange is malformed and was refused."""


class StorageError(ZvtCcxtError):
    """The database refused a write (read-only, disk full, locked too long)."""


def _first_line(error: BaseException, limit: int = 300) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else "")[:limit]
