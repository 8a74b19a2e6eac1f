"""A job: the package's own recorder run for one symbol and one window of history, on whichever worker gets it.

A job is nothing but ``schema.record_data(provider="ccxt", entity_ids=[one], start_timestamp=window start,
end_timestamp=window end, ...)``: the recorder reads the coverage ledger, fetches what is missing in its window,
writes rows and windows into the shared store, and returns its per-symbol result, which the driver adds up.
So a job run twice (a retry after its worker died, or a second run) fetches only what the first left missing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from zvt_ccxt.backfill.summary import SymbolResult
from zvt_ccxt.domain.schema import Schema


@dataclass(frozen=True)
class Job:
    """One (exchange, symbol, data table, window) to record; ``key`` is its readable, deterministic task key."""

    key: str
    data_table: str
    entity_id: str
    exchange: str
    symbol: str
    start_ms: int | None
    end_ms: int | None
    options: dict[str, Any] = field(default_factory=dict)
    #: where the driver's data comes from (``zvt_ccxt.provenance``): the worker saves its windows as that
    source: str = "live"
    #: the driver's run: keys repeat from run to run (they are deterministic), so progress names its run too
    run_id: str = ""


@dataclass
class JobOutcome:
    key: str
    result: SymbolResult
    seconds: float
    egress: str


def _stamp(ms: int | None) -> str:
    return "listing" if ms is None else pd.Timestamp(ms, unit="ms").strftime("%Y%m%dT%H%M")


def job_key(data_table: str, exchange: str, symbol: str, start_ms: int | None, end_ms: int | None) -> str:
    """``record-cryptopair_1m_kdata-binance-BTC/USDT-20250501T0000-20250515T0000``: what Dask's dashboard shows."""
    return f"record-{data_table}-{exchange}-{symbol}-{_stamp(start_ms)}-{_stamp(end_ms)}"


def schema_of(data_table: str) -> Schema:
    """The zvt-ccxt schema whose table is ``data_table``."""
    from zvt_ccxt import domain

    for name in domain.__all__:
        schema = getattr(domain, name)
        if getattr(schema, "__tablename__", None) == data_table:
            return schema
    raise ValueError(f"no zvt-ccxt schema stores into {data_table!r}")


#: the Dask event topic a running job reports its progress under (the driver's stall watch reads it)
PROGRESS_TOPIC = "zvt-ccxt-progress"
#: the least time between two progress events of one job, in seconds
BEAT_SECONDS = 1.0


def reports_pages(job: Job) -> bool:
    """True for a job whose recorder reports each page it stores (klines, trades, funding, open interest): the
    ones a stall watch can judge."""
    recorder = getattr(schema_of(job.data_table), "provider_map_recorder", {}).get("ccxt")
    return bool(getattr(recorder, "reports_pages", False))


class _Heartbeat:
    """Sends ``{"key", "run", "worker"}`` under ``PROGRESS_TOPIC`` when the job starts and, at most every
    ``BEAT_SECONDS``, when its recorder reports a page stored; outside a Dask worker it does nothing."""

    def __init__(self, key: str, run_id: str = "") -> None:
        try:
            from distributed import get_worker

            self._worker = get_worker()
        except (ImportError, ValueError):  # run in the driver's process (a test, a debugger)
            self._worker = None
        self._key = key
        self._run_id = run_id
        self._last = 0.0
        self.beat(force=True)

    def beat(self, *_: object, force: bool = False) -> None:
        now = time.monotonic()
        if self._worker is None or (not force and now - self._last < BEAT_SECONDS):
            return
        self._last = now
        message = {"key": self._key, "run": self._run_id, "worker": self._worker.address}
        self._worker.log_event(PROGRESS_TOPIC, message)


class _ProcessSource:
    """The provenance source of this worker process while jobs run: the source is process-wide (a recorder's
    threads read it), so jobs of one source share it and a job of another waits until they are done."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._source: str | None = None
        self._running = 0
        self._block = contextlib.ExitStack()

    @contextlib.contextmanager
    def holding(self, source: str) -> Iterator[None]:
        from zvt_ccxt import provenance

        with self._turn:
            self._turn.wait_for(lambda: self._running == 0 or self._source == source)
            if self._running == 0:
                self._block.enter_context(provenance.sourced(source))
                self._source = source
            self._running += 1
        try:
            yield
        finally:
            with self._turn:
                self._running -= 1
                if self._running == 0:
                    self._block.close()
                    self._source = None
                    self._turn.notify_all()


_process_source = _ProcessSource()


def run_job(job: Job, *after: object) -> JobOutcome:
    """Record ``job`` in this process (``after``: the outcomes of the jobs it waits for, unused)."""
    from zvt_ccxt.cluster import worker
    from zvt_ccxt.store.engines import bind_database

    egress = worker.configure()
    # the recorder finds its entity through zvt's sessions, before the store's first statement would point them
    # at the configured database (ZVT_CCXT_DB_URL): point them now
    bind_database()
    started = time.monotonic()
    schema = schema_of(job.data_table)
    options = dict(job.options)
    heartbeat = _Heartbeat(job.key, job.run_id)
    if reports_pages(job):
        options["progress"] = heartbeat.beat
    with _process_source.holding(job.source):
        summary = schema.record_data(
            provider="ccxt",
            entity_ids=[job.entity_id],
            start_timestamp=job.start_ms,
            end_timestamp=job.end_ms,
            **options,
        )
    results = [r for r in summary.results if r.entity_id == job.entity_id]
    if results:
        result = results[0]
    else:  # the recorder found no such entity: this worker reads another store than the driver
        result = SymbolResult(job.entity_id, job.symbol)
        result.error = f"{job.entity_id} is not in this worker's store: give every worker the driver's database"
    return JobOutcome(job.key, result, time.monotonic() - started, egress)
