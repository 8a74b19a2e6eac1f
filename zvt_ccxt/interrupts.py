"""Stopping a recording run cleanly on SIGINT (Ctrl-C) or SIGTERM: what was fetched is stored, coverage stays exact.

While a run is inside ``handled()`` (every recorder's run, the ``record`` and ``repair`` commands), a signal only
sets a flag, and the run stops at the next safe point: between pages, after the pages already fetched are
stored and their windows saved. Only where the run merely waits (for the next page, inside ``waiting()``) does the
signal raise ``KeyboardInterrupt`` at once, so an answer still in flight is the one thing lost. Retry pauses end
early (``sleep``). Outside ``handled()`` (another thread, no run) nothing changes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested = threading.Event()
_depth = 0  # nesting of handled() in the main thread: the outermost installs and clears
_waiting = 0  # main-thread waits in progress: a signal raises there


def requested() -> bool:
    """True once SIGINT or SIGTERM arrived during the current ``handled()`` block (or ``request()`` was called)."""
    return _requested.is_set()


def request() -> None:
    """Ask the running recording to stop, as a signal does."""
    _requested.set()


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a stop was asked for: call it where stopping leaves nothing half done."""
    if _requested.is_set():
        raise KeyboardInterrupt


def _on_signal(number, frame) -> None:
    _requested.set()
    if _waiting:
        raise KeyboardInterrupt


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into a stop request for the block (main thread only; elsewhere a no-op); the previous
    handlers come back afterwards, and the outermost block clears the request."""
    global _depth
    if not _main_thread():
        yield
        return
    previous = {}
    if _depth == 0:
        _requested.clear()
        for number in _SIGNALS:
            try:
                previous[number] = signal.signal(number, _on_signal)
            except (ValueError, OSError):  # not settable here (an embedded interpreter)
                pass
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        for number, handler in previous.items():
            signal.signal(number, handler)
        if _depth == 0:
            _requested.clear()


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """A stretch where the main thread only waits (for a page, an answer): a signal raises ``KeyboardInterrupt`` in
    it at once. A stop asked for before it starts raises on entry."""
    global _waiting
    if not _main_thread():
        yield
        return
    check()
    _waiting += 1
    try:
        yield
    finally:
        _waiting -= 1


def interruptible(items: Iterable[T]) -> Iterator[T]:
    """``items`` (pages), each one waited for inside ``waiting()``; a stop asked for while the caller handled the
    previous one raises before the next is fetched."""
    iterator = iter(items)
    while True:
        with waiting():
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


def sleep(seconds: float) -> None:
    """``time.sleep`` that ends early, raising ``KeyboardInterrupt``, when a stop is asked for."""
    if _requested.wait(max(0.0, seconds)):
        raise KeyboardInterrupt
