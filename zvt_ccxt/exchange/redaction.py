"""Keeping credentials out of log lines: ccxt logs request headers (API keys included) at DEBUG.

Every credential a client is built with is registered here, and every log record created in the process
has any registered value replaced (message and traceback) before a handler sees it. A filter on a logger
would not do: it sees only records logged on that very logger, not those its children propagate.
"""

from __future__ import annotations

import logging
import threading

MASK = "***"
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember ``value`` so it never appears in a log record."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and traceback with every registered secret masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record is left for the handler to report
                return True
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            if record.exc_info and not record.exc_text:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = RedactingFilter()
for _name in ("ccxt.base.exchange", "zvt_ccxt", "vcr", "urllib3", "aiohttp"):
    _logger = logging.getLogger(_name)
    if _FILTER not in _logger.filters:
        _logger.addFilter(_FILTER)


def _install_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacting", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _FILTER.filter(record)
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_factory()


def install(logger: logging.Logger) -> None:
    """Filter ``logger`` too (a ccxt client may be given a logger of its own)."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
