"""The one progress line of a cluster run (``record --scheduler``): symbols done, windows, rows, rate, ETA,
failures, from the driver's ``RunProgress`` however many workers record. Redrawn in place on a terminal (at most
ten times a second), a plain line every ``plain_every`` seconds elsewhere, and always a last one."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from zvt_ccxt.cluster.progress import RunProgress


class ClusterProgressLine:
    def __init__(self, stream: TextIO, mode: str = "auto", plain_every: float = 10.0) -> None:
        self.stream = stream
        if mode == "auto":
            mode = "bar" if getattr(stream, "isatty", lambda: False)() else "plain"
        self.mode = mode
        self.plain_every = plain_every
        self._shown = 0.0
        self._last: RunProgress | None = None

    def __call__(self, view: RunProgress) -> None:
        self._last = view
        now = time.monotonic()
        finished = view.jobs_done >= view.jobs
        if self.mode == "none":
            return
        if self.mode == "bar" and (finished or now - self._shown >= 0.1):
            self.stream.write("\r\x1b[2K" + view.line() + ("\n" if finished else ""))
        elif self.mode == "plain" and (finished or now - self._shown >= self.plain_every):
            self.stream.write(view.line() + "\n")
        else:
            return
        self.stream.flush()
        self._shown = now
