"""Coverage accounting over ``CcxtCoverage``: which parts of a requested range are done, empty, failed or unknown.

Windows are half-open ``[start_ms, end_ms)``. A range is covered where a ``fetched`` or ``empty`` window
lies; everything else inside the requested range is missing, and missing parts that overlap a ``failed``
window are reported as failed. Resume and repair both fetch exactly the missing parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from zvt_ccxt import clock
from zvt_ccxt.domain.coverage import EMPTY, FAILED, FETCHED, CcxtCoverage
from zvt_ccxt.storage.writer import engine_for, sql_datetime, sql_datetimes, upsert

Range = tuple[int, int]

_COLUMNS = (
    "id",
    "entity_id",
    "timestamp",
    "data_table",
    "start_ms",
    "end_ms",
    "status",
    "rows",
    "error",
    "updated_timestamp",
)


@dataclass(frozen=True)
class Window:
    """The outcome of one requested window."""

    start_ms: int
    end_ms: int
    status: str
    rows: int = 0
    error: str | None = None


def save_windows(data_table: str, entity_id: str, windows: Sequence[Window]) -> None:
    if not windows:
        return
    starts = sql_datetimes(np.array([w.start_ms for w in windows], dtype="int64"))
    updated = sql_datetime(pd.Timestamp(clock.now_ms(), unit="ms"))
    rows = [
        (
            f"{data_table}|{entity_id}|{w.start_ms}",
            entity_id,
            start,
            data_table,
            int(w.start_ms),
            int(w.end_ms),
            w.status,
            int(w.rows),
            (w.error or "")[:500] or None,
            updated,
        )
        for w, start in zip(windows, starts, strict=True)
    ]
    upsert(CcxtCoverage, _COLUMNS, rows)


def load_windows(data_table: str, entity_id: str) -> list[Window]:
    engine = engine_for(CcxtCoverage)
    with engine.connect() as connection:
        result = connection.exec_driver_sql(
            "SELECT start_ms, end_ms, status, rows, error FROM ccxt_coverage "
            "WHERE data_table = ? AND entity_id = ? ORDER BY start_ms",
            (data_table, entity_id),
        )
        return [Window(int(s), int(e), status, int(n or 0), err) for s, e, status, n, err in result]


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Union of half-open ranges, sorted and non-overlapping."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def subtract(span: Range, covered: Sequence[Range]) -> list[Range]:
    """Parts of ``span`` not inside any of the merged ``covered`` ranges."""
    start, end = span
    missing = []
    cursor = start
    for c_start, c_end in covered:
        if c_end <= cursor:
            continue
        if c_start >= end:
            break
        if c_start > cursor:
            missing.append((cursor, min(c_start, end)))
        cursor = max(cursor, c_end)
        if cursor >= end:
            break
    if cursor < end:
        missing.append((cursor, end))
    return missing


def covered_ranges(windows: Sequence[Window]) -> list[Range]:
    return merge((w.start_ms, w.end_ms) for w in windows if w.status in (FETCHED, EMPTY))


def missing_ranges(start_ms: int, end_ms: int, windows: Sequence[Window]) -> list[Range]:
    """What still has to be fetched to cover ``[start_ms, end_ms)``."""
    if end_ms <= start_ms:
        return []
    return subtract((start_ms, end_ms), covered_ranges(windows))


def failed_ranges(windows: Sequence[Window]) -> list[Range]:
    """Parts of failed windows that no later window covered."""
    covered = covered_ranges(windows)
    failed = merge((w.start_ms, w.end_ms) for w in windows if w.status == FAILED)
    return [part for span in failed for part in subtract(span, covered)]
