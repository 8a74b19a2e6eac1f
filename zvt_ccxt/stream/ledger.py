"""What a stream stored, as coverage windows with their source: one ledger write per flush, whatever its rows.

Each series (ledger key, entity) a stream writes has one open window per run, from its first accounted row to
its last (a bar's whole length for candles), upserted under the same start after every flush that stored rows of
it, ``fetched``, with the run's source (``zvt_ccxt.provenance``: live, replay or simulator). So ``coverage`` shows
streamed data beside recorded data with its source, a REST resume does not fetch again what a stream stored, and
a live run (REST or stream) discards replayed or simulated streamed windows with their rows. A gap the stream
could not repair splits its series' window and is saved ``failed`` (``coverage --check`` and repair see it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING

from zvt_ccxt import levels, store
from zvt_ccxt.backfill import coverage
from zvt_ccxt.domain.coverage import FAILED, FETCHED
from zvt_ccxt.store.coverage import Window

if TYPE_CHECKING:
    from zvt_ccxt.stream.writer import Table

_EPOCH = dt.datetime(1970, 1, 1)
_ENTITY = itemgetter(1)


@dataclass
class _Open:
    start_ms: int
    end_ms: int
    rows: int


def _text_ms(text: str) -> int:
    """The store's time text (naive UTC) as epoch ms."""
    return int((dt.datetime.fromisoformat(str(text)) - _EPOCH) / dt.timedelta(milliseconds=1))


class StreamLedger:
    """The windows of one stream run, kept open and saved by the writer after each flush."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._open: dict[tuple[str, str], _Open] = {}
        #: windows waiting to be saved, by (key, entity, start): a later change of the same window replaces it
        self._pending: dict[tuple[str, str, int], Window] = {}
        self._time_index: dict[tuple[str, ...], tuple[int, bool]] = {}
        #: ranges lost per series (start, end, why), kept while a window of this run could still reach them
        self._holes: dict[tuple[str, str], list[tuple[int, int, str]]] = {}

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def note(
        self, key: str, columns: tuple[str, ...], bar_level: str | None, chunks: Iterable[Sequence[Sequence]]
    ) -> None:
        """Stored rows, in ``chunks`` (sequences of tuples in ``columns`` order, entity id second; bars of
        ``bar_level``, or instants when None), widen their series' open windows."""
        index, is_ms = self._index(columns)
        at = itemgetter(index)
        spans: dict[str, list[int]] = {}
        for rows in chunks:
            if not rows:
                continue
            entities = set(map(_ENTITY, rows))
            if is_ms and len(entities) == 1:  # a stream's chunk is one symbol's: its bounds in two passes in C
                times = list(map(at, rows))
                self._widen(spans, entities.pop(), int(min(times)), int(max(times)), len(rows))
                continue
            for row in rows:
                ms = int(row[index]) if is_ms else _text_ms(row[index])
                self._widen(spans, row[1], ms, ms, 1)
        for entity_id, (low, high, count) in spans.items():
            end = high + 1 if bar_level is None else levels.next_bar_start(high, bar_level)
            series = (key, entity_id)
            window = self._open.get(series)
            if window is None:
                window = _Open(low, end, 0)
            else:
                # a repair can bring rows from before the window's start: the window then starts earlier (under
                # a new key; the one saved before lies inside it)
                window.start_ms = min(window.start_ms, low)
                window.end_ms = max(window.end_ms, end)
            window.rows += count
            self._open[series] = window = self._cut(series, window)
            if window.end_ms > window.start_ms:
                self._queue(series, Window(window.start_ms, window.end_ms, FETCHED, window.rows, source=self.source))

    @staticmethod
    def _widen(spans: dict[str, list[int]], entity_id: str, low: int, high: int, count: int) -> None:
        span = spans.get(entity_id)
        if span is None:
            spans[entity_id] = [low, high, count]
        else:
            span[0], span[1] = min(span[0], low), max(span[1], high)
            span[2] += count

    def failed(self, key: str, entity_id: str, start_ms: int, end_ms: int, error: str) -> None:
        """``[start_ms, end_ms)`` of a series is lost (a gap not repaired): saved ``failed``, and no ``fetched``
        window of this run covers it, whether its rows around it were stored before or after (windows are cut)."""
        if end_ms <= start_ms:
            return
        series = (key, entity_id)
        self._holes.setdefault(series, []).append((start_ms, end_ms, error))
        self._queue(series, Window(start_ms, end_ms, FAILED, 0, error, self.source))
        window = self._open.get(series)
        if window is not None:
            self._open[series] = window = self._cut(series, window)
            if window.end_ms > window.start_ms:
                self._queue(series, Window(window.start_ms, window.end_ms, FETCHED, window.rows, source=self.source))

    def _cut(self, series: tuple[str, str], window: _Open) -> _Open:
        """``window`` with every lost range of the series cut out: the part before a hole is queued as it is, the
        window goes on after it."""
        holes = self._holes.get(series)
        if not holes:
            return window
        for hole_start, hole_end, error in sorted(holes):
            if not (window.start_ms < hole_end and hole_start < window.end_ms):
                continue
            if hole_start > window.start_ms:
                self._queue(series, Window(window.start_ms, hole_start, FETCHED, window.rows, source=self.source))
            elif hole_start < window.start_ms:  # what was saved under the window's start must not cover the hole
                self._queue(series, Window(window.start_ms, hole_end, FAILED, 0, error, self.source))
            window = _Open(hole_end, max(window.end_ms, hole_end), 0)
        self._holes[series] = [h for h in holes if h[1] > window.start_ms]
        return window

    def take(self) -> list[tuple[str, str, Window]]:
        """The windows to save now (``restore`` them if saving fails)."""
        entries = [(key, entity_id, window) for (key, entity_id, _), window in self._pending.items()]
        self._pending.clear()
        return entries

    def restore(self, entries: list[tuple[str, str, Window]]) -> None:
        """Windows whose save failed wait for the next flush, unless a newer version of them is waiting already."""
        for key, entity_id, window in entries:
            self._pending.setdefault((key, entity_id, window.start_ms), window)

    def _queue(self, series: tuple[str, str], window: Window) -> None:
        self._pending[(*series, window.start_ms)] = window

    def _index(self, columns: tuple[str, ...]) -> tuple[int, bool]:
        found = self._time_index.get(columns)
        if found is None:
            found = (columns.index("ts_ms"), True) if "ts_ms" in columns else (columns.index("timestamp"), False)
            self._time_index[columns] = found
        return found


def replace_synthetic(series: Iterable[tuple[Table, str]]) -> int:
    """Before a live stream writes: discard the replayed or simulated windows of every ``(table, entity id)`` it
    will write, with their rows, as a live REST run does (``backfill.coverage.drop_synthetic``), so that synthetic
    rows never sit beside live ones as if they were exchange history. Returns how many windows went."""
    dropped = 0
    for table, entity_id in series:
        if table.ledger is None:
            continue
        windows = store.coverage.windows(table.ledger, entity_id)
        rows_where = dict(table.discard_where) or None
        kept = coverage.drop_synthetic(table.ledger, entity_id, windows, table.schema, rows_where)
        dropped += len(windows) - len(kept)
    return dropped
