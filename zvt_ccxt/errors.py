"""The exceptions zvt-ccxt raises: one small hierarchy, each naming what was wrong."""

from __future__ import annotations


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
    """A request failed permanently, or kept failing after every retry."""

    def __init__(self, exchange: str, symbol: str | None, cause: BaseException, *, transient: bool) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.cause = cause
        self.transient = transient
        kind = "gave up after retries" if transient else "failed"
        where = f"{exchange} {symbol}" if symbol else exchange
        super().__init__(f"{where}: request {kind}: {type(cause).__name__}: {_first_line(cause)}")


class DataValidationError(ZvtCcxtError, ValueError):
    """A payload from the exchange is malformed and was refused."""


class StorageError(ZvtCcxtError):
    """The database refused a write (read-only, disk full, locked too long)."""


def _first_line(error: BaseException, limit: int = 300) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else "")[:limit]
