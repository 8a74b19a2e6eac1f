"""One view of a cluster run, however many workers: symbols done, rows, rate, ETA, failures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from zvt_ccxt.backfill.summary import SymbolResult
from zvt_ccxt.clock import duration_text


@dataclass
class RunProgress:
    """Updated by the driver as jobs finish; handed to ``on_update`` after each."""

    data_table: str
    symbols: int
    jobs: int
    jobs_done: int = 0
    symbols_done: int = 0
    rows: int = 0
    requests: int = 0
    failures: int = 0
    workers: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Remaining jobs at the pace of the finished ones; None before the first finishes."""
        if not self.jobs_done:
            return None
        return self.elapsed / self.jobs_done * (self.jobs - self.jobs_done)

    def add(self, result: SymbolResult, failed: bool) -> None:
        self.jobs_done += 1
        self.rows += result.rows
        self.requests += result.requests
        self.failures += int(failed)

    def line(self) -> str:
        eta = self.eta_seconds
        return (
            f"{self.data_table}: {self.symbols_done}/{self.symbols} symbols, {self.jobs_done}/{self.jobs} windows, "
            f"{self.rows:,} rows, {self.rows_per_second:,.0f} rows/s, {self.requests:,} requests, "
            f"ETA {'?' if eta is None else duration_text(eta)}, {self.failures} failed"
        )


