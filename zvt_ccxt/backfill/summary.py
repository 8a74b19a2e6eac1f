"""What a recording run did, per symbol: rows written, windows by outcome, the range covered, the error."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd


@dataclass
class SymbolResult:
    entity_id: str
    symbol: str
    rows: int = 0
    requests: int = 0
    windows: Counter = field(default_factory=Counter)
    first_ms: int | None = None
    last_ms: int | None = None
    rejected: int = 0
    error: str | None = None
    #: cut short by SIGINT/SIGTERM (or not started because of one): what was fetched before is stored
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.windows.get("failed") and not self.interrupted

    def extend(self, first_ms: int, last_ms: int) -> None:
        self.first_ms = first_ms if self.first_ms is None else min(self.first_ms, first_ms)
        self.last_ms = last_ms if self.last_ms is None else max(self.last_ms, last_ms)


@dataclass
class RecordSummary:
    """Returned by every ``record_data`` call of a zvt-ccxt schema."""

    data_table: str
    results: list[SymbolResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[SymbolResult]:
        return [r for r in self.results if not r.ok and not r.interrupted]

    @property
    def interrupted(self) -> bool:
        """A SIGINT/SIGTERM cut the run short (``results`` say which symbols)."""
        return any(r.interrupted for r in self.results)

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.results)

    def to_frame(self) -> pd.DataFrame:
        def stamp(ms: int | None):
            return None if ms is None else pd.Timestamp(ms, unit="ms")

        return pd.DataFrame(
            [
                {
                    "entity_id": r.entity_id,
                    "symbol": r.symbol,
                    "rows": r.rows,
                    "requests": r.requests,
                    "fetched": r.windows.get("fetched", 0),
                    "empty": r.windows.get("empty", 0),
                    "failed": r.windows.get("failed", 0),
                    "rejected": r.rejected,
                    "first": stamp(r.first_ms),
                    "last": stamp(r.last_ms),
                    "error": r.error,
                    "interrupted": r.interrupted,
                }
                for r in self.results
            ]
        )

    def __str__(self) -> str:
        if not self.results:
            return f"{self.data_table}: nothing to record"
        lines = [f"{self.data_table}: {self.rows} rows, {len(self.failed)} of {len(self.results)} symbols failed"]
        for r in self.results:
            if r.interrupted:
                status = "interrupted"
            else:
                status = "ok" if r.ok else f"FAILED: {r.error or 'failed windows'}"
            lines.append(f"  {r.symbol:<24} {r.rows:>9} rows  {r.requests:>5} requests  {status}")
        return "\n".join(lines)

    __repr__ = __str__
