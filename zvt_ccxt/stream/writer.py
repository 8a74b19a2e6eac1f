"""Bounded, batched writes of stream rows: a flush is one write, a transaction per database (``upsert_many``).

Trades and closed candles are queued in order and never dropped: when the database falls behind and the
queue is full, ``add`` waits, which pushes back on the stream (ccxt keeps receiving into its bounded cache;
anything that overflows it shows up as a gap and is repaired from REST). Snapshots, forming candles and
predicted funding are coalesced per key instead: only the newest waiting one is written. A failed batch
is retried, never discarded. Writes run in a forked process of their own (``write_process=True``, what
``CcxtStream`` asks for: ``store.write_process``) or in a worker thread, so the event loop keeps reading the sockets.
After each flush the windows of what it stored go to the coverage ledger in one write (``stream.ledger``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from zvt_ccxt import provenance
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store.processes import can_fork
from zvt_ccxt.store.write_process import WriteProcess, operation
from zvt_ccxt.stream.ledger import StreamLedger
from zvt_ccxt.stream.metrics import SubscriptionMetrics

logger = logging.getLogger(__name__)

#: the longest a row waits before its batch is written: short enough that a row is committed within tens of
#: milliseconds of arriving, long enough that a busy stream still writes hundreds of rows a transaction
DEFAULT_FLUSH_INTERVAL = 0.02
#: the running writer saves the coverage ledger at most this often (and at every explicit flush, the last one
#: included): a ledger write is a transaction of its own, and one per 20 ms flush kept a server database's
#: commits, not the stream's rows, on the critical path
LEDGER_INTERVAL = 0.25


@dataclass(frozen=True)
class Table:
    """Where a kind of row goes: a schema and the column order of its row tuples."""

    schema: Any  # a zvt schema class
    columns: tuple[str, ...]
    #: the coverage ledger key its stored rows are accounted under (None: not accounted)
    ledger: str | None = None
    #: the bar level of candle rows (a row's window runs to the bar's end), None: rows are instants
    bar_level: str | None = None
    #: which rows a live run discards with a synthetic window of this ledger key, as (column, value) pairs
    #: (empty: every row inside the window)
    discard_where: tuple[tuple[str, object], ...] = ()
    #: the ledger key of its rows stored but not accounted as covered (a forming bar), None: not kept
    partial_ledger: str | None = None


class _Chunk(NamedTuple):
    """Rows queued together, kept as the caller's lists: no per-row entry to allocate or hold while waiting."""

    rows: Sequence[tuple]
    event_ms: Sequence[int | None]
    metrics: SubscriptionMetrics
    #: whether the rows count as covered in the ledger (a forming bar, or a first bar built from part of its
    #: trades, does not)
    accounted: bool = True


class _Part(NamedTuple):
    """A table's rows in a flush's write: a batch of its queue, or its coalesced rows taken out of waiting."""

    table: Table
    batch: list[_Chunk]
    coalesced: bool


class StreamWriter:
    """Collects rows from every subscription and commits them in batches."""

    def __init__(
        self,
        max_pending_rows: int = 50_000,
        batch_rows: int = 5_000,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        retry_wait: float = 0.5,
        source: str | None = None,
        write_process: bool = False,
    ) -> None:
        self.max_pending_rows = max_pending_rows
        self.batch_rows = batch_rows
        self.flush_interval = flush_interval
        self.retry_wait = retry_wait
        self._queued: dict[Table, deque[_Chunk]] = {}
        self._latest: dict[Table, dict[object, tuple[tuple, int | None, SubscriptionMetrics, bool]]] = {}
        #: where this stream's rows come from, kept with their windows (default: the process's current source)
        self.ledger = StreamLedger(source or provenance.current())
        self._pending = 0
        self._space = asyncio.Condition()
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self.batches = 0
        self.ledger_saves = 0
        self.write_failures = 0
        #: where the writes run: a forked process of their own (``store.write_process``), or a worker thread
        self._process = WriteProcess() if write_process and can_fork() else None

    @property
    def write_process_id(self) -> int | None:
        """The process id of the write process while it runs (None: not started yet, or writing in a thread)."""
        return None if self._process is None else self._process.pid

    def close(self) -> None:
        """Let the write process go (after the last flush); a thread-writing writer has nothing to close."""
        if self._process is not None:
            self._process.close()

    @property
    def pending_rows(self) -> int:
        return self._pending + sum(len(rows) for rows in self._latest.values())

    async def add(
        self,
        table: Table,
        rows: Sequence[tuple],
        metrics: SubscriptionMetrics,
        event_ms: Sequence[int | None],
        repair: bool = False,
        accounted: bool = True,
    ) -> None:
        """Queue rows that must all be written (waits while the queue is full).

        ``repair`` rows (fetched to fill a gap) wait until the queue is at most half full: live rows come first,
        as a stream kept waiting behind repairs would fall further behind and open larger gaps.
        """
        if not rows:
            return
        if len(event_ms) != len(rows):
            raise ValueError(f"{len(rows)} rows but {len(event_ms)} event times")
        latest = self._latest.get(table)
        if latest:
            for row in rows:  # a queued row supersedes a waiting coalesced one with the same id (a bar closing)
                latest.pop(row[0], None)
        async with self._space:
            bound = self.max_pending_rows // 2 if repair else self.max_pending_rows
            await self._space.wait_for(lambda: self._pending < bound)
            self._queued.setdefault(table, deque()).append(_Chunk(rows, event_ms, metrics, accounted))
            self._pending += len(rows)
        if self._pending >= self.batch_rows:
            self._wake.set()

    def put_latest(
        self,
        table: Table,
        key: object,
        row: tuple,
        metrics: SubscriptionMetrics,
        event_ms: int | None,
        count_coalesced: bool = True,
        accounted: bool = True,
    ) -> None:
        """Keep ``row`` as the newest for ``key``; an older one still waiting is superseded."""
        latest = self._latest.setdefault(table, {})
        if key in latest and count_coalesced:
            metrics.coalesced += 1
        latest[key] = (row, event_ms, metrics, accounted)

    def abandon(self) -> int:
        """Give up on everything still waiting (the database is gone at shutdown): count it as dropped."""
        dropped = 0
        for queue in self._queued.values():
            for chunk in queue:
                chunk.metrics.drops += len(chunk.rows)
                dropped += len(chunk.rows)
            queue.clear()  # a flush writing meanwhile finds nothing left to remove
        for _, _, metrics, _ in (e for latest in self._latest.values() for e in latest.values()):
            metrics.drops += 1
            dropped += 1
        self._queued.clear()
        self._latest.clear()
        self._pending = 0
        return dropped

    async def run(self) -> None:
        # flushes start every flush_interval, counted from the previous start: a flush that took time (a
        # server database's commit) does not add a whole interval more before the rows that came meanwhile
        if self._process is not None:
            self._process.start()
        loop = asyncio.get_running_loop()
        started = saved = loop.time()
        while True:
            wait = self.flush_interval - (loop.time() - started)
            if wait > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
            else:
                await asyncio.sleep(0)  # the loop reads its sockets between back-to-back flushes
            self._wake.clear()
            started = loop.time()
            ledger_due = started - saved >= LEDGER_INTERVAL
            await self.flush(ledger=ledger_due)
            if ledger_due:
                saved = started

    async def flush(self, attempts: int | None = None, ledger: bool = True) -> None:
        """Write everything waiting; a failing batch is retried (``attempts`` bounds the tries, None: forever).
        ``ledger``: also save the windows of what was stored (the running writer does so every LEDGER_INTERVAL)."""
        async with self._flushing:  # one flush at a time: a batch is removed from the queue only once written
            await self._flush(attempts, ledger)

    async def _flush(self, attempts: int | None, ledger: bool = True) -> None:
        # one write for the head of every queue and every coalesced row: one transaction per database (one commit
        # a flush on a server database, where it was one a table), trades and closed bars ahead of the coalesced
        # rows within it. A forming bar cannot overwrite its closed bar: queuing the closed row removed its waiting
        # forming row, and none is put after it. Only what was queued when the flush began is written: rows
        # arriving meanwhile go with the next flush, so a busy table does not keep the others waiting.
        owed = {table: sum(len(chunk.rows) for chunk in queue) for table, queue in self._queued.items()}
        parts = [_Part(table, self._next_batch(queue), False) for table, queue in self._queued.items() if queue]
        for table in list(self._latest):
            chunks = [
                _Chunk((row,), (event,), metrics, accounted)
                for row, event, metrics, accounted in self._latest.pop(table).values()
            ]
            if chunks:
                parts.append(_Part(table, chunks, True))
        while parts:
            await self._write(parts, attempts)
            for part in parts:
                if not part.coalesced:
                    await self._consumed(part, owed)
            # what is left of a table's share (more than a batch was queued): a batch a write, as many as owed
            parts = [_Part(table, self._next_batch(queue), False)
                     for table, queue in self._queued.items() if queue and owed.get(table, 0) > 0]
        if ledger:
            await self._save_ledger(attempts)

    async def _consumed(self, part: _Part, owed: dict[Table, int]) -> None:
        """A written batch leaves its queue and frees its room."""
        written = self._consume(self._queued.get(part.table, deque()), part.batch)
        owed[part.table] = owed.get(part.table, 0) - written
        async with self._space:
            self._pending -= written
            self._space.notify_all()

    async def _perform(self, name: str, *args: Any, landed: Callable[[], None] | None = None) -> None:
        """The write ``name`` (``write_process.OPERATIONS``), awaited to its end even when the caller is cancelled:
        the stream cancels the running writer at shutdown and then flushes once more, and a write still under way
        would otherwise land after that flush's newer values of the same rows (a forming bar, a ledger window).
        ``landed()`` runs when the caller was cancelled but the write succeeded, before the cancellation goes on."""
        if self._process is not None:
            work = asyncio.ensure_future(self._process.run(name, *args))
        else:
            work = asyncio.ensure_future(asyncio.to_thread(operation(name), *args))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            await asyncio.wait([work])
            failed = work.cancelled() or work.exception() is not None  # retrieved: the cancellation propagates
            if not failed and landed is not None:
                landed()
            raise

    def failed_range(self, table: Table, entity_id: str, start_ms: int, end_ms: int, error: str) -> None:
        """``[start_ms, end_ms)`` of ``table``'s rows of ``entity_id`` is lost (a gap not repaired): the ledger says
        so at the next flush."""
        if table.ledger is not None:
            self.ledger.failed(table.ledger, entity_id, start_ms, end_ms, error)

    async def _save_ledger(self, attempts: int | None) -> None:
        """The windows of what this flush stored, in one ledger write; a failed save waits for the next flush
        (``attempts`` given: the last flush, retried like rows)."""
        tries = 0
        while self.ledger.waiting:
            entries = self.ledger.take()
            tries += 1
            try:
                await self._perform("save_ledger", entries)
                self.ledger_saves += 1
                return
            except StorageError as error:
                self.ledger.restore(entries)
                self.write_failures += 1
                if attempts is None:
                    logger.warning("coverage ledger: write failed, retrying at the next flush: %s", error)
                    return
                if tries >= attempts:
                    raise
                await asyncio.sleep(self.retry_wait)

    def _next_batch(self, queue: deque[_Chunk]) -> list[_Chunk]:
        """The oldest ``batch_rows`` rows, left in the queue until they are written."""
        batch, room = [], self.batch_rows
        for chunk in queue:
            if len(chunk.rows) > room:
                batch.append(_Chunk(chunk.rows[:room], chunk.event_ms[:room], chunk.metrics, chunk.accounted))
                break
            batch.append(chunk)
            room -= len(chunk.rows)
            if not room:
                break
        return batch

    @staticmethod
    def _consume(queue: deque[_Chunk], batch: list[_Chunk]) -> int:
        """Remove a written batch from the head of its queue (unless ``abandon`` emptied it meanwhile)."""
        written = 0
        for part in batch:
            if not queue:
                break
            head, n = queue[0], len(part.rows)
            if n >= len(head.rows):
                queue.popleft()
            else:
                queue[0] = _Chunk(head.rows[n:], head.event_ms[n:], head.metrics, head.accounted)
            written += n
        return written

    async def _write(self, parts: list[_Part], attempts: int | None) -> None:
        """Write ``parts`` in one request (one transaction per database), retried until it lands (``attempts``
        bounds the tries, None: forever); then account each part."""
        request = [(part.table.schema, part.table.columns, [row for chunk in part.batch for row in chunk.rows])
                   for part in parts]
        coalesced = [part for part in parts if part.coalesced]
        tries = 0
        while True:
            tries += 1
            try:
                # coalesced rows are not kept for another try once taken: if they landed, they are accounted even
                # when the writer was cancelled meanwhile (queued rows stay queued; the final flush accounts them)
                landed = (lambda: self._stored_parts(coalesced)) if coalesced else None
                await self._perform("upsert_many", request, landed=landed)
                break
            except StorageError as error:
                self.write_failures += 1
                if attempts is not None and tries >= attempts:
                    raise
                tables = ", ".join(dict.fromkeys(part.table.schema.__tablename__ for part in parts))
                logger.warning("%s: write failed, retrying in %.1fs: %s", tables, self.retry_wait, error)
                await asyncio.sleep(self.retry_wait)
        self._stored_parts(parts)

    def _stored_parts(self, parts: list[_Part]) -> None:
        for part in parts:
            self._stored(part.table, part.batch)

    def _stored(self, table: Table, batch: list[_Chunk]) -> None:
        """Account a written batch: its ledger windows and its subscriptions' commit metrics."""
        self.batches += 1
        if table.ledger is not None:
            stored = [chunk.rows for chunk in batch if chunk.accounted]
            self.ledger.note(table.ledger, table.columns, table.bar_level, stored)
        if table.partial_ledger is not None:  # what they are and where they came from, without covering anything
            partial = [chunk.rows for chunk in batch if not chunk.accounted]
            if partial:
                self.ledger.note(table.partial_ledger, table.columns, table.bar_level, partial)
        commit_ms = time.time() * 1000
        by_metrics: dict[int, tuple[SubscriptionMetrics, list[int | None]]] = {}
        for chunk in batch:
            by_metrics.setdefault(id(chunk.metrics), (chunk.metrics, []))[1].extend(chunk.event_ms)
        for metrics, stamps in by_metrics.values():
            metrics.committed(len(stamps), [s for s in stamps if s is not None], commit_ms)
