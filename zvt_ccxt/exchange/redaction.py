"""Keeping credentials out of log lines: ccxt logs request headers (API keys included) at DEBUG.

Every credential a client is built with is registered here; a filter on ccxt's logger and on the
package's loggers replaces any registered value in a record before a handler sees it.
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
    """Rewrites a record's message with every registered secret masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()
for _name in ("ccxt.base.exchange", "zvt_ccxt", "vcr", "urllib3", "aiohttp"):
    _logger = logging.getLogger(_name)
    if _FILTER not in _logger.filters:
        _logger.addFilter(_FILTER)


def install(logger: logging.Logger) -> None:
    """Filter ``logger`` too (a ccxt client may be given a logger of its own)."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
