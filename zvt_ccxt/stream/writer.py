"""Bounded, batched writes of stream rows through the one bulk upsert.

Trades and closed candles are queued in order and never dropped: when the database falls behind and the
queue is full, ``add`` waits, which pushes back on the stream (ccxt keeps receiving into its bounded cache;
anything that overflows it shows up as a gap and is repaired from REST). Snapshots, forming candles and
predicted funding are coalesced per key instead: only the newest waiting one is written. A failed batch
is retried, never discarded. Writes run in a worker thread so the event loop keeps reading the sockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from zvt_ccxt.errors import StorageError
from zvt_ccxt.storage.writer import upsert
from zvt_ccxt.stream.metrics import SubscriptionMetrics

logger = logging.getLogger(__name__)

#: the longest a row waits before its batch is written: short enough that a row is committed within tens of
#: milliseconds of arriving, long enough that a busy stream still writes hundreds of rows a transaction
DEFAULT_FLUSH_INTERVAL = 0.02


@dataclass(frozen=True)
class Table:
    """Where a kind of row goes: a schema and the column order of its row tuples."""

    schema: type
    columns: tuple[str, ...]


class StreamWriter:
    """Collects rows from every subscription and commits them in batches."""

    def __init__(
        self,
        max_pending_rows: int = 50_000,
        batch_rows: int = 5_000,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        retry_wait: float = 0.5,
    ) -> None:
        self.max_pending_rows = max_pending_rows
        self.batch_rows = batch_rows
        self.flush_interval = flush_interval
        self.retry_wait = retry_wait
        self._queued: dict[Table, list[tuple[tuple, int | None, SubscriptionMetrics]]] = {}
        self._latest: dict[Table, dict[object, tuple[tuple, int | None, SubscriptionMetrics]]] = {}
        self._pending = 0
        self._space = asyncio.Condition()
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self.batches = 0
        self.write_failures = 0

    @property
    def pending_rows(self) -> int:
        return self._pending + sum(len(rows) for rows in self._latest.values())

    async def add(
        self, table: Table, rows: Sequence[tuple], metrics: SubscriptionMetrics, event_ms: Sequence[int | None]
    ) -> None:
        """Queue rows that must all be written (waits while the queue is full)."""
        if not rows:
            return
        latest = self._latest.get(table)
        if latest:
            for row in rows:  # a queued row supersedes a waiting coalesced one with the same id (a bar closing)
                latest.pop(row[0], None)
        async with self._space:
            await self._space.wait_for(lambda: self._pending < self.max_pending_rows)
            self._queued.setdefault(table, []).extend(zip(rows, event_ms, [metrics] * len(rows), strict=True))
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
    ) -> None:
        """Keep ``row`` as the newest for ``key``; an older one still waiting is superseded."""
        latest = self._latest.setdefault(table, {})
        if key in latest and count_coalesced:
            metrics.coalesced += 1
        latest[key] = (row, event_ms, metrics)

    def abandon(self) -> int:
        """Give up on everything still waiting (the database is gone at shutdown): count it as dropped."""
        entries = [e for rows in self._queued.values() for e in rows]
        entries += [e for latest in self._latest.values() for e in latest.values()]
        for _, _, metrics in entries:
            metrics.drops += 1
        self._queued.clear()
        self._latest.clear()
        self._pending = 0
        return len(entries)

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self, attempts: int | None = None) -> None:
        """Write everything waiting; a failing batch is retried (``attempts`` bounds the tries, None: forever)."""
        async with self._flushing:  # one flush at a time: a batch is removed from the queue only once written
            await self._flush(attempts)

    async def _flush(self, attempts: int | None) -> None:
        for table in list(self._latest):
            entries = list(self._latest.pop(table).values())
            if entries:
                await self._write(table, entries, attempts)
        for table in list(self._queued):
            while self._queued.get(table):
                entries = self._queued[table][: self.batch_rows]
                await self._write(table, entries, attempts)
                del self._queued[table][: len(entries)]
                async with self._space:
                    self._pending -= len(entries)
                    self._space.notify_all()

    async def _write(self, table: Table, entries: list, attempts: int | None) -> None:
        tries = 0
        while True:
            tries += 1
            try:
                await asyncio.to_thread(upsert, table.schema, table.columns, [e[0] for e in entries])
                break
            except StorageError as error:
                self.write_failures += 1
                if attempts is not None and tries >= attempts:
                    raise
                logger.warning(
                    "%s: write failed, retrying in %.1fs: %s", table.schema.__tablename__, self.retry_wait, error
                )
                await asyncio.sleep(self.retry_wait)
        self.batches += 1
        commit_ms = time.time() * 1000
        by_metrics: dict[int, tuple[SubscriptionMetrics, list[int]]] = {}
        for _, event_ms, metrics in entries:
            slot = by_metrics.setdefault(id(metrics), (metrics, []))
            if event_ms is not None:
                slot[1].append(event_ms)
            else:
                slot[1].append(None)  # type: ignore[arg-type]
        for metrics, stamps in by_metrics.values():
            metrics.committed(len(stamps), [s for s in stamps if s is not None], commit_ms)
