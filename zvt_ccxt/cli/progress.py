"""Live progress of a recording run: one line per symbol with rows, range covered, rate and ETA.

Recorders report through the callable from :meth:`ProgressBoard.tracker`, called as
``(result, done_ms, total_ms)`` when a symbol starts and after every page, possibly from several worker
threads at once. A symbol is finished when its done reaches its total (or when the run ends).

On a terminal the lines of the symbols in progress are redrawn in place as a block (at most ten times a
second) and each is frozen above the block when its symbol finishes; elsewhere (logs, pipes) a line is
printed when a symbol finishes and every ``plain_every`` seconds while it runs.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from zvt_ccxt.cli.messages import one_line
from zvt_ccxt.clock import duration_text

if TYPE_CHECKING:
    from zvt_ccxt.backfill.summary import SymbolResult

MODES = ("auto", "bar", "plain", "none")
ProgressCallback = Callable[["SymbolResult", int, int], None]


def _stamp(ms: int | None) -> str:
    import pandas as pd

    return "…" if ms is None else pd.Timestamp(ms, unit="ms").strftime("%Y-%m-%d %H:%M")




@dataclass
class _Line:
    label: str
    result: SymbolResult
    started: float
    done_ms: int = 0
    total_ms: int = 0
    printed: float = 0.0

    @property
    def complete(self) -> bool:
        return self.done_ms >= self.total_ms

    def fraction(self) -> float:
        return 1.0 if self.total_ms <= 0 else min(1.0, self.done_ms / self.total_ms)

    def status(self, now: float, finished: bool) -> str:
        result = self.result
        elapsed = max(now - self.started, 1e-9)
        parts = [f"{result.rows:>9,} rows"]
        if result.first_ms is not None:
            parts.append(f"{_stamp(result.first_ms)} → {_stamp(result.last_ms)}")
        parts.append(f"{result.rows / elapsed:>8,.0f} rows/s")
        if not finished:
            fraction = self.fraction()
            parts.append(f"ETA {duration_text(elapsed * (1 - fraction) / fraction)}" if fraction > 0 else "ETA …")
            return "  ".join(parts)
        parts.append(f"in {duration_text(elapsed)}")
        if result.interrupted:
            parts.append("interrupted")
        elif result.error:
            parts.append(f"FAILED: {one_line(result.error)}")
        elif result.windows.get("failed"):
            parts.append(f"FAILED: {result.windows['failed']} windows")
        elif self.total_ms == 0 and not result.rows:
            parts.append("up to date")
        else:
            parts.append("ok")
        return "  ".join(parts)


class ProgressBoard:
    """Shows the progress callbacks of one or more recorder runs; use as a context manager."""

    def __init__(
        self,
        stream: TextIO | None = None,
        mode: str = "auto",
        *,
        width: int = 24,
        plain_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        if mode not in MODES:
            raise ValueError(f"progress mode {mode!r}: use one of {', '.join(MODES)}")
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "plain"
        self.mode = mode
        self.width = width
        self.plain_every = plain_every
        self.clock = clock
        encoding = (getattr(self.stream, "encoding", None) or "").lower()
        self.glyphs = ("█", "░") if encoding.startswith("utf") else ("#", "-")
        self.active: dict[int, _Line] = {}
        self.finished: set[int] = set()
        self._lock = threading.RLock()
        self._drawn_lines = 0
        self._drawn_at = 0.0

    def __enter__(self) -> ProgressBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what recorders call ---------------------------------------------------------------------------

    def tracker(self, label: str) -> ProgressCallback:
        """A callback for one recorder run; ``label`` (e.g. ``okx 1h spot``) prefixes its lines."""

        def report(result: SymbolResult, done_ms: int, total_ms: int) -> None:
            with self._lock:
                key = id(result)
                if key in self.finished:
                    return
                now = self.clock()
                line = self.active.get(key)
                if line is None:
                    line = self.active[key] = _Line(label, result, now)
                line.done_ms, line.total_ms = done_ms, total_ms
                if line.complete:
                    self._finish(key)
                else:
                    self._progress(line, now)

        return report

    def finish_all(self) -> None:
        """Freeze every line still in progress with its outcome (the run they belong to has returned)."""
        with self._lock:
            for key in list(self.active):
                self._finish(key)
            self._redraw(force=True)

    def close(self) -> None:
        self.finish_all()
        with self._lock:
            self._erase()

    def write(self, text: str) -> None:
        """Print a line (a log message) above the lines in progress."""
        with self._lock:
            self._erase()
            self.stream.write(text.rstrip("\n") + "\n")
            self._redraw(force=True)

    # -- drawing ---------------------------------------------------------------------------------------

    def _prefix(self, line: _Line) -> str:
        return f"{line.label} {line.result.symbol:<16}"

    def _bar(self, line: _Line) -> str:
        fraction = line.fraction()
        full = int(round(fraction * self.width))
        return f"[{self.glyphs[0] * full}{self.glyphs[1] * (self.width - full)}] {fraction * 100:>3.0f}%"

    def _finish(self, key: int) -> None:
        line = self.active.pop(key)
        self.finished.add(key)
        if self.mode == "none":
            return
        if line.result.error is None and not line.result.windows.get("failed") and not line.result.interrupted:
            line.done_ms = max(line.done_ms, line.total_ms)
        bar = f" {self._bar(line)}" if self.mode == "bar" else ""
        self._erase()
        self.stream.write(f"{self._prefix(line)}{bar}  {line.status(self.clock(), finished=True)}\n")
        self._redraw(force=True)

    def _progress(self, line: _Line, now: float) -> None:
        if self.mode == "bar":
            self._redraw(force=False)
        elif self.mode == "plain":
            if not line.printed:  # the first report starts the clock
                line.printed = now
            elif now - line.printed >= self.plain_every:
                line.printed = now
                self.stream.write(f"{self._prefix(line)} {line.fraction() * 100:>3.0f}%  {line.status(now, False)}\n")
                self.stream.flush()

    def _erase(self) -> None:
        if self._drawn_lines:
            self.stream.write(f"\x1b[{self._drawn_lines}F\x1b[J")
            self._drawn_lines = 0

    def _redraw(self, force: bool) -> None:
        if self.mode != "bar":
            self.stream.flush()
            return
        now = self.clock()
        if not force and now - self._drawn_at < 0.1:
            return
        self._erase()
        for line in self.active.values():
            self.stream.write(f"{self._prefix(line)} {self._bar(line)}  {line.status(now, finished=False)}\n")
        self._drawn_lines = len(self.active)
        self._drawn_at = now
        self.stream.flush()
