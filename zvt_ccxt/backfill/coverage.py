"""Coverage accounting: which parts of a requested range are done, empty, failed or unknown.

Windows (recorded in the ledger, ``zvt_ccxt.store.coverage``) are half-open ``[start_ms, end_ms)``. A range
is covered where a ``fetched`` or ``empty`` window lies; everything else inside the requested range is
missing, and missing parts that overlap a ``failed`` window are reported as failed. Resume and repair both
fetch exactly the missing parts. Replayed or simulated windows never pass for exchange history: a live run
discards them (and their rows) before it looks for what is missing (``drop_synthetic``), so it fetches their
range from the exchange.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import pandas as pd

from zvt_ccxt import provenance
from zvt_ccxt.domain.coverage import EMPTY, FAILED, FETCHED, INTERRUPTED
from zvt_ccxt.errors import ZvtCcxtError
from zvt_ccxt.store.coverage import Window
from zvt_ccxt.store.reads import BarCount

Range = tuple[int, int]

#: what ``coverage`` shows for windows saved before their source was kept
UNKNOWN_SOURCE = "unknown"
#: the ledger key suffix of rows stored but not covering their table's range: a stream's forming bar, or a first
#: bar built from part of its trades (``partial_key``)
PARTIAL_SUFFIX = "_partial"


def partial_key(data_table: str) -> str:
    """The ledger key of ``data_table``'s rows that are stored, with their source, but cover nothing (a forming
    bar): a REST run still fetches their range, and a live run discards synthetic ones with their rows."""
    return f"{data_table}{PARTIAL_SUFFIX}"


def drop_synthetic(
    data_table: str,
    entity_id: str,
    windows: Sequence[Window],
    data_schema: type | None = None,
    rows_where: Mapping[str, object] | None = None,
) -> list[Window]:
    """``windows`` as a run from the current source may use them: in a live run, replayed and simulated windows are
    discarded from the ledger (with their rows in ``data_schema``, if given, those matching ``rows_where`` only if
    that is given) and left out, so their range is fetched from the exchange; a replayed or simulated run uses
    every window."""
    from zvt_ccxt import store

    if provenance.is_synthetic():
        return list(windows)
    synthetic = [w for w in windows if w.source in provenance.SYNTHETIC]
    if not synthetic:
        return list(windows)
    store.coverage.discard(data_table, entity_id, synthetic, data_schema, rows_where)
    return [w for w in windows if w.source not in provenance.SYNTHETIC]


def fail_missing(data_table: str, entity_id: str, start_ms: int, end_ms: int, error: BaseException) -> int:
    """Save every part of ``[start_ms, end_ms)`` no window covers as ``failed`` with ``error``'s text: what a run
    does when it stops on an error of any kind, so that the ledger (``coverage --check``, repair) sees it. Returns
    how many windows were saved."""
    text = str(error).strip() or type(error).__name__
    if not isinstance(error, ZvtCcxtError):  # an unexpected kind: its name says more than its message alone
        text = f"{type(error).__name__}: {text}"
    return _save_missing(data_table, entity_id, start_ms, end_ms, FAILED, text)


#: the error text of an ``interrupted`` window
INTERRUPTED_TEXT = "interrupted (SIGINT/SIGTERM) before it was fetched"


def interrupt_missing(data_table: str, entity_id: str, start_ms: int, end_ms: int) -> int:
    """Save every part of ``[start_ms, end_ms)`` no window covers as ``interrupted``: what a run asked for and was
    stopped before fetching. It covers nothing, so coverage counts it unknown (``coverage --check`` fails) and the
    next run fetches it. Returns how many windows were saved."""
    return _save_missing(data_table, entity_id, start_ms, end_ms, INTERRUPTED, INTERRUPTED_TEXT)


def _save_missing(data_table: str, entity_id: str, start_ms: int, end_ms: int, status: str, text: str) -> int:
    from zvt_ccxt import store

    if end_ms <= start_ms:
        return 0
    windows = store.coverage.windows(data_table, entity_id)
    failed = merge((w.start_ms, w.end_ms) for w in windows if w.status == FAILED)  # kept with their own errors
    missing = [part for span in missing_ranges(start_ms, end_ms, windows) for part in subtract(span, failed)]
    store.coverage.save(data_table, entity_id, [Window(s, e, status, 0, text) for s, e in missing])
    return len(missing)


def sources(windows: Sequence[Window]) -> str:
    """Where a series' windows came from, e.g. ``live``, ``replay`` or ``live+simulator``."""
    found = {w.source or UNKNOWN_SOURCE for w in windows}
    return "+".join(s for s in (*provenance.SOURCES, UNKNOWN_SOURCE) if s in found)

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


def snapshot_failed_ranges(windows: Sequence[Window]) -> list[Range]:
    """Failed ranges of a series of snapshots (order books) that no later snapshot succeeded after. A past book
    cannot be fetched again, so the time between snapshots is never missing, and a failure counts until the next
    snapshot shows the feed works again."""
    starts = [w.start_ms for w in windows if w.status == FETCHED]
    latest = max(starts, default=None)
    return [r for r in failed_ranges(windows) if latest is None or r[0] >= latest]


def entity_report(
    windows: Sequence[Window], level: str, entity_id: str, counted: Callable[[list[Range]], BarCount]
) -> dict:
    """Coverage of one (data table, entity): bars stored and expected, gaps with no trading, failed and unknown ranges.

    ``windows`` are the entity's recorded windows; ``counted(ranges)`` says how many bars the table holds, the
    first and last, and how many in each range (``store.reads.bar_counts``). Expected bars run over every window
    ever requested; a range's missing bars are its expected bars less those stored in it.
    """
    from zvt_ccxt import levels

    if not windows:
        stored = counted([])
        return {
            "entity_id": entity_id,
            "level": level,
            "requested_from": None,
            "requested_to": None,
            "bars": stored.total,
            "source": None,
        }
    start = min(w.start_ms for w in windows)
    end = max(w.end_ms for w in windows)
    fetched = merge((w.start_ms, w.end_ms) for w in windows if w.status == FETCHED)
    empty = merge((w.start_ms, w.end_ms) for w in windows if w.status == EMPTY)
    failed = failed_ranges(windows)
    unknown = [r for r in missing_ranges(start, end, windows) if not any(_overlaps(r, f) for f in failed)]
    kinds = (fetched, empty, failed, unknown)
    stored = counted([r for ranges in kinds for r in ranges])
    within = iter(stored.within)

    def missing(ranges: list[Range]) -> int:
        return sum(max(0, len(levels.bar_starts_array(s, e, level)) - next(within)) for s, e in ranges)

    no_trading, empty_bars, failed_bars, unknown_bars = (missing(ranges) for ranges in kinds)

    def stamp(ms: int | None):
        return None if ms is None else pd.Timestamp(ms, unit="ms")

    return {
        "entity_id": entity_id,
        "level": level,
        "requested_from": stamp(start),
        "requested_to": stamp(end),
        "bars": stored.total,
        "source": sources(windows),
        "expected_bars": len(levels.bar_starts_array(start, end, level)),
        "first_bar": stamp(stored.first_ms),
        "last_bar": stamp(stored.last_ms),
        "no_trading_bars": no_trading,
        "empty_bars": empty_bars,
        "failed_bars": failed_bars,
        "unknown_bars": unknown_bars,
        "failed_ranges": [(stamp(s), stamp(e)) for s, e in failed],
        "unknown_ranges": [(stamp(s), stamp(e)) for s, e in unknown],
    }


def _overlaps(a: Range, b: Range) -> bool:
    return a[0] < b[1] and b[0] < a[1]
