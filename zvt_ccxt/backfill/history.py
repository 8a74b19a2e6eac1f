"""What the history pagers of trades, funding rates and open interest share.

A pager walks ``[start_ms, end_ms)`` with the exchange's own cursor and yields ``Batch``es: a coverage window
and the rows fetched for it. Rows may lie anywhere in the requested range (a page cut at a timestamp
shared by several rows carries them all), never outside it, except *context* rows a pager marks as such.
When a request fails for good the rest of the range is yielded ``failed`` and the error re-raised, so a
later run repairs exactly that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from zvt_ccxt.backfill.coverage import Window
from zvt_ccxt.domain.coverage import EMPTY, FAILED, FETCHED
from zvt_ccxt.errors import CapabilityNotSupportedError, DataValidationError, ExchangeRequestError
from zvt_ccxt.exchange.client import ExchangeClient
from zvt_ccxt.trade_order import trade_key

#: failures that leave the rest of a range failed (and re-raised)
PAGING_ERRORS = (ExchangeRequestError, DataValidationError, CapabilityNotSupportedError)


@dataclass
class Batch:
    """One finished window and the rows that came with it (ccxt structures, oldest first)."""

    window: Window
    rows: list[dict] = field(default_factory=list)
    #: rows outside the window given for reference only (the funding event before a range)
    context: list[dict] = field(default_factory=list)


def window(start_ms: int, end_ms: int, rows: list[dict]) -> Window:
    """``fetched`` when rows fell inside, else ``empty`` (the exchange answered with nothing)."""
    return Window(start_ms, end_ms, FETCHED if rows else EMPTY, len(rows))


def failed(start_ms: int, end_ms: int, error: BaseException) -> Batch:
    return Batch(Window(start_ms, end_ms, FAILED, 0, str(error)))


def timestamp(row: dict) -> int:
    return int(row["timestamp"])


def inside(rows: list[dict], start_ms: int, end_ms: int) -> list[dict]:
    return [r for r in rows if start_ms <= timestamp(r) < end_ms]


class Fetcher:
    """Calls one ccxt method for one symbol with retry, counting requests; an empty answer is asked twice.

    A glitching exchange now and then answers nothing where there is data, and a window taken for empty
    is never fetched again; a second empty answer is believed.
    """

    def __init__(self, client: ExchangeClient, method: str, symbol: str) -> None:
        self.client = client
        self.method = method
        self.symbol = symbol
        self.requests = 0

    def __call__(self, *args: Any, params: dict | None = None) -> list[dict]:
        rows: list[dict] = []
        for _ in range(2):
            self.requests += 1
            rows = self.client.call(self.method, self.symbol, *args, dict(params or {}), symbol=self.symbol)
            rows = [r for r in rows or [] if isinstance(r, dict) and isinstance(r.get("timestamp"), int | float)]
            if rows:
                break
        return sorted(rows, key=trade_key)


def guarded(pages: Iterator[Batch], uncovered: Callable[[], tuple[int, int]]) -> Iterator[Batch]:
    """Yield ``pages``; on a paging error yield the span still uncovered (``uncovered()``) as failed and re-raise."""
    try:
        yield from pages
    except PAGING_ERRORS as error:
        low, high = uncovered()
        if high > low:
            yield failed(low, high, error)
        raise
