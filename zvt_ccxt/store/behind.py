"""Writes run in order on a thread of their own, so storing one batch overlaps preparing the next.

A recorder's thread spends the GIL on parsing and encoding; a bar write (``writer.prepare_bars``) on SQLite holds it
only to start and finish its one SQLite statement. Handed to this thread, the write no longer waits its
turn for the GIL between steps, and the recorder does not wait for SQLite.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

_STOP = object()


class WriteBehind:
    """Runs submitted writes one after another on one thread, in the order submitted.

    The first write that fails skips every later one (a coverage window is never saved after its bars
    failed to be); its error is raised in the submitting thread by the next ``submit``, ``flush`` or ``close``.
    """

    def __init__(self, name: str = "zvt-ccxt-writer", depth: int = 2) -> None:
        self._name = name
        self._tasks: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._failed = False

    def submit(self, write: Callable[[], object]) -> None:
        """Queue ``write``; waits while ``depth`` writes are already queued."""
        self._raise()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._tasks.put(write)

    def flush(self) -> None:
        """Wait until every submitted write has run; raise the error of a failed one."""
        if self._thread is not None:
            self._tasks.join()
        self._raise()

    def close(self) -> None:
        """Flush and stop the thread (raising a write's error, once)."""
        try:
            self.flush()
        finally:
            if self._thread is not None:
                self._tasks.put(_STOP)
                self._thread.join()
                self._thread = None

    def _run(self) -> None:
        while True:
            task = self._tasks.get()
            try:
                if task is _STOP:
                    return
                if not self._failed:
                    task()
            except BaseException as error:  # raised in the submitting thread
                self._error, self._failed = error, True
            finally:
                self._tasks.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
