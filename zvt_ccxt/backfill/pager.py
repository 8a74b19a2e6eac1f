"""Walk an exchange's OHLCV history forward in windows of its real per-request cap.

Every request names an explicit window ``[since, since + cap bars)`` (ccxt's ``until``), because the
exchanges disagree on what a bare ``since`` means (binance counts forward, bybit answers the newest bars,
okx and coinbase derive a window). Each window then ends in exactly one state:

- rows came back: ``fetched`` up to the last bar; bars missing inside had no trading;
- nothing came back: ``empty``; a coarse daily probe then skips long empty stretches (before listing,
  after delisting) in a few requests instead of thousands. An empty answer is believed only when asked
  twice, and not at all when the daily bars show trading inside the window (then it is ``failed``);
- the request failed for good: the rest of the range is ``failed`` and paging stops, so a later run
  repairs it.

A window whose first bar is later than its start is asked once more for the head, since an exchange
that caps a page from the newest end would otherwise hide older bars.

While one window's bars end exactly at its end, the next window is asked for before the current one's answer
is in (``_Lookahead``): two requests in flight per symbol, so the exchange's answer time and the parsing of
the page before it overlap. The pages yielded, and the windows asked for, are those of one request at a time;
a guess that turns out wrong (a window ending early) costs one request (two if its answer is empty), dropped.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar, overload

from zvt_ccxt import clock, interrupts, levels
from zvt_ccxt.backfill.coverage import Window
from zvt_ccxt.domain.coverage import EMPTY, FAILED, FETCHED
from zvt_ccxt.errors import DataValidationError, ExchangeRequestError
from zvt_ccxt.exchange.client import ExchangeClient
from zvt_ccxt.exchange.kline_decoders import AscendingRows, time_range

logger = logging.getLogger(__name__)

T = TypeVar("T")

PROBE_LEVEL = "1d"
#: requests one pager has in flight at most: the window awaited and the next one, asked for ahead
REQUESTS_IN_FLIGHT = 2


@dataclass
class Page:
    """One finished window and the raw rows that fell inside it."""

    window: Window
    rows: list = field(default_factory=list)


class OhlcvPager:
    """Pages one symbol at one native timeframe through ``[start_ms, end_ms)``."""

    def __init__(self, client: ExchangeClient, symbol: str, source_level: str, limit: int) -> None:
        self.client = client
        self.symbol = symbol
        self.level = source_level
        self.timeframe = levels.LEVEL_TIMEFRAMES[source_level]
        self.limit = max(1, int(limit))
        self.requests = 0
        self._counting = threading.Lock()  # windows are fetched from two threads at once (``_Lookahead``)
        probe = levels.LEVEL_TIMEFRAMES[PROBE_LEVEL]
        self._probe_timeframe = probe if probe in client.timeframes else None

    def _window_end(self, since: int, end_ms: int) -> int:
        return min(levels.bars_after(since, self.limit, self.level), end_ms)

    def _fetch(self, timeframe: str, since: int, until: int, limit: int) -> list:
        # An empty answer is asked again before it is believed: a glitching exchange now and then answers
        # nothing for a window that has bars, and a window taken for empty is never fetched again.
        for _ in range(2):
            with self._counting:
                self.requests += 1
            rows = self.client.fetch_ohlcv(self.symbol, timeframe, since, limit, until)
            if type(rows) is AscendingRows:  # integer times in order: the window is one slice
                rows = time_range(rows, since, until)
            else:
                rows = [r for r in rows if r and isinstance(r[0], int | float) and since <= r[0] < until]
            if rows:
                return rows
        return rows

    def _fetch_window(self, since: int, until: int) -> list:
        return self._fetch(self.timeframe, since, until, self.limit)

    def _with_head(self, since: int, rows: list) -> list:
        """A window's ``rows``, after asking again for the bars before its first (asked only for a window taken,
        never for one asked for ahead)."""
        while rows and rows[0][0] > since:
            head = self._fetch(self.timeframe, since, int(rows[0][0]), self.limit)
            if not head:
                break
            rows = head + rows
        return rows

    def _check_empty(self, since: int, until: int) -> None:
        """Raise if a daily bar lying wholly inside ``[since, until)`` shows trading the exchange just denied."""
        if self._probe_timeframe is None or levels.nominal_ms(self.level) >= levels.DAY_MS:
            return
        first_day = levels.next_bar_start(levels.bar_start(since - 1, PROBE_LEVEL), PROBE_LEVEL)
        if first_day + levels.DAY_MS > until:
            return
        for day in self._fetch(self._probe_timeframe, first_day, until, self.limit):
            volume = day[5] if len(day) > 5 else None
            if day[0] + levels.DAY_MS <= until and isinstance(volume, int | float) and volume > 0:
                raise DataValidationError(
                    f"{self.client.exchange_id} {self.symbol}: no {self.timeframe} bars came back from {since} to "
                    f"{until} (ms) although the daily bar of {int(day[0])} shows trading; left failed for repair"
                )

    def _next_data_after(self, cursor: int, end_ms: int) -> int | None:
        """Start of the first day with data that ends after ``cursor``, skipping empty days; None if none."""
        if self._probe_timeframe is None or levels.nominal_ms(self.level) >= levels.DAY_MS:
            return cursor
        since = levels.bar_start(cursor, PROBE_LEVEL)
        while since < end_ms:
            until = min(since + self.limit * levels.DAY_MS, end_ms + levels.DAY_MS)
            days = self._fetch(self._probe_timeframe, since, until, self.limit)
            for day in days:
                if day[0] + levels.DAY_MS > cursor:
                    return max(int(day[0]), cursor)
            since = until
        return None

    def first_bar_ms(self) -> int | None:
        """The first bar the exchange serves, found by stepping back from now in windows of daily bars."""
        timeframe = self._probe_timeframe or self.timeframe
        step_level = PROBE_LEVEL if self._probe_timeframe else self.level
        until = levels.next_bar_start(levels.bar_start(clock.now_ms(), step_level), step_level)
        earliest = None
        while until > 0:
            since = max(0, until - self.limit * levels.nominal_ms(step_level))
            rows = self._fetch(timeframe, since, until, self.limit)
            if not rows:
                return earliest
            earliest = int(rows[0][0])
            until = since
        return earliest

    def pages(self, start_ms: int, end_ms: int) -> Iterator[Page]:
        with _Lookahead(self._fetch_window) as lookahead:
            yield from self._pages(start_ms, end_ms, lookahead)

    def _pages(self, start_ms: int, end_ms: int, lookahead: _Lookahead) -> Iterator[Page]:
        cursor = levels.bar_start(start_ms, self.level)
        if cursor < start_ms:
            cursor = levels.next_bar_start(cursor, self.level)
        whole = False  # whether the last window's bars ran to its end: then the next one starts there
        while cursor < end_ms:
            window_end = self._window_end(cursor, end_ms)
            if whole and window_end < end_ms:
                lookahead.ask(window_end, self._window_end(window_end, end_ms))
            try:
                rows = self._with_head(cursor, lookahead.take(cursor, window_end))
                if rows:
                    # Stop at the last bar, not the window end: a cap smaller than ours would hide the tail.
                    stop = levels.next_bar_start(int(rows[-1][0]), self.level)
                    whole = stop == window_end
                    yield Page(Window(cursor, stop, FETCHED, len(rows)), rows)
                    cursor = stop
                    continue
                whole = False
                self._check_empty(cursor, window_end)
                yield Page(Window(cursor, window_end, EMPTY))
                cursor = window_end
                if cursor >= end_ms:
                    break
                resume = self._next_data_after(cursor, end_ms)
                if resume is None or resume >= end_ms:
                    yield Page(Window(cursor, end_ms, EMPTY))
                    return
                resume = levels.bar_start(resume, self.level)
                if resume > cursor:
                    yield Page(Window(cursor, resume, EMPTY))
                    cursor = resume
            except (ExchangeRequestError, DataValidationError) as error:
                yield Page(Window(cursor, end_ms, FAILED, 0, str(error)))
                raise


class _Lookahead:
    """Windows asked for ahead of their turn, on threads of their own; ``take`` answers a window from what was
    asked ahead, else asks for it now. Asked-ahead windows that are not taken next are dropped (their requests
    finish, their answers and errors are discarded)."""

    def __init__(self, fetch_window: Callable[[int, int], list]) -> None:
        self._fetch_window = fetch_window
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._asked: dict[tuple[int, int], concurrent.futures.Future] = {}

    def __enter__(self) -> _Lookahead:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._drop(self._asked)
        if self._executor is not None:
            # a request under way finishes here (its retries bounded by the client's policy): nothing asked for
            # by this pager goes out after it is done
            self._executor.shutdown(wait=True, cancel_futures=True)

    def ask(self, since: int, until: int) -> None:
        if (since, until) in self._asked:
            return
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                REQUESTS_IN_FLIGHT, thread_name_prefix="zvt-ccxt-lookahead"
            )
        self._asked[(since, until)] = self._executor.submit(self._fetch_window, since, until)

    def take(self, since: int, until: int) -> list:
        asked = self._asked.pop((since, until), None)
        self._drop({key: future for key, future in self._asked.items() if key[0] < until})
        return asked.result() if asked is not None else self._fetch_window(since, until)

    def _drop(self, futures: dict[tuple[int, int], concurrent.futures.Future]) -> None:
        for key, future in list(futures.items()):
            self._asked.pop(key, None)
            if not future.cancel():
                future.add_done_callback(_discard)


def _discard(future: concurrent.futures.Future) -> None:
    future.exception()  # retrieved: an asked-ahead window that was not needed


_DONE = object()


@overload
def prefetched(pages: Iterator[Page], depth: int = 2, transform: None = None) -> Iterator[Page]: ...


@overload
def prefetched(pages: Iterator[Page], depth: int = 2, *, transform: Callable[[Page], T]) -> Iterator[T]: ...


def prefetched(
    pages: Iterator[Page], depth: int = 2, transform: Callable[[Page], T] | None = None
) -> Iterator[Page] | Iterator[T]:
    """Yield ``pages`` in order (each through ``transform``, if given) while a helper thread already fetches
    and transforms the next ``depth``.

    Fetching, parsing and transforming a page (network, JSON, ccxt, validation) then overlaps storing the
    previous one (SQLite, which releases the GIL while it writes), and the page's Python rows die in the
    helper thread instead of piling up in the queue. An error of the pager or of ``transform`` reaches the
    caller after the pages before it; a caller that stops early stops the helper after the request it is making.
    """
    handoff: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page if transform is None else transform(page)):
                    return
        except BaseException as error:  # handed to the caller, raised there
            put(_Raised(error))
            return
        put(_DONE)

    helper = threading.Thread(target=produce, name="zvt-ccxt-prefetch", daemon=True)
    helper.start()
    # On SIGINT/SIGTERM (zvt_ccxt.interrupts) the pages already fetched are still handed over, then
    # KeyboardInterrupt is raised: only the page in flight is lost.
    draining = False
    try:
        while True:
            if not draining and interrupts.requested():
                draining = True
                stop.set()
            try:
                if draining:
                    item = handoff.get_nowait()
                else:
                    with interrupts.waiting():
                        item = handoff.get()
            except queue.Empty:
                raise KeyboardInterrupt from None
            except KeyboardInterrupt:
                draining = True
                stop.set()
                continue
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                if draining:
                    raise KeyboardInterrupt
                raise item.error
            yield item
    finally:
        stop.set()
        helper.join(timeout=1.0 if draining else None)  # interrupted: the answer in flight is not waited for
        close = getattr(pages, "close", None)
        if close is not None and not helper.is_alive():
            close()


@dataclass
class _Raised:
    error: BaseException
