"""From a ``record_data`` call to jobs: the same argument checks and symbol selection as a local run (the
recorder is built on the driver for that), then one job per window of history each symbol still misses.

Klines are cut into windows of ``window_bars`` bars of their level; other data types (trades, funding, open
interest, order books) are one window per symbol, paged by the exchange's own cursor. A window the coverage
ledger already covers in full is not planned, so a run after a crash (of the driver, the scheduler or a worker)
plans only what is missing. A symbol's windows run one after the other, oldest first: each window links its
first bar's ``change_pct`` to the bar before it, which the previous window has then stored, so the tables end
up equal to a single-process run's. Parallelism comes from the symbols.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from zvt_ccxt import clock, levels, provenance, store
from zvt_ccxt.backfill import coverage
from zvt_ccxt.cluster.jobs import Job, job_key
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.errors import ZvtCcxtError

#: bars of a klines window: about two weeks of 1m, twenty 1,000-bar pages, one write batch of the recorder
WINDOW_BARS = 20_000
#: keywords that choose what to record: the driver resolves them, each job gets one entity and one window
SELECTION = frozenset(
    {"exchange", "exchanges", "code", "codes", "symbol", "symbols", "entity_id", "entity_ids", "market"}
)
#: keywords that belong to the driver only
DRIVER_ONLY = frozenset({"provider", "progress", "workers", "start_timestamp", "end_timestamp"})


@dataclass
class Target:
    """One symbol to record, as the recorder resolved it."""

    entity_id: str
    exchange: str
    symbol: str


@dataclass
class Plan:
    data_table: str
    targets: list[Target]
    #: per entity id, its windows in order (each runs after the one before it)
    chains: dict[str, list[Job]]
    #: this run's id, which every job carries
    run_id: str = ""

    @property
    def jobs(self) -> list[Job]:
        return [job for chain in self.chains.values() for job in chain]


def _targets(recorder: Any) -> list[Target]:
    if not hasattr(recorder, "instruments") and not hasattr(recorder, "level_value"):
        name = recorder.data_schema.__name__ if hasattr(recorder, "data_schema") else type(recorder).__name__
        raise ZvtCcxtError(f"{name} is not recorded per symbol: record it without a scheduler")
    if hasattr(recorder, "instruments"):
        return [Target(i.entity_id, i.exchange, i.symbol) for i in recorder.instruments]
    return [
        Target(e.id, e.exchange, e.symbol or e.code)
        for e in recorder.entities
        if getattr(e, "id", "-") != "-"
    ]


def windows_of(start_ms: int, end_ms: int, step_ms: int) -> Iterable[tuple[int, int]]:
    low = start_ms
    while low < end_ms:
        high = min(end_ms, low + step_ms)
        yield low, high
        low = high


def plan(schema: Schema, kwargs: dict[str, Any], window_bars: int = WINDOW_BARS) -> Plan:
    """The jobs of ``schema.record_data(provider="ccxt", **kwargs)``, as the local run would record them."""
    recorder_cls = schema.provider_map_recorder["ccxt"]
    recorder = recorder_cls(data_schema=schema, **{k: v for k, v in kwargs.items() if k not in ("progress",)})
    table = schema.__tablename__
    options = {k: v for k, v in kwargs.items() if k not in SELECTION | DRIVER_ONLY}
    targets = _targets(recorder)
    chains: dict[str, list[Job]] = {}
    level = getattr(recorder, "level_value", None)
    source = provenance.current()
    run_id = uuid.uuid4().hex
    for target in targets:
        spans: list[tuple[int | None, int | None]]
        if level is None:
            spans = [(recorder.start_ms, recorder.end_ms)]
        else:
            end = levels.bar_start(clock.now_ms(), level)
            if recorder.end_ms is not None:
                end = min(end, levels.bar_start(recorder.end_ms, level))
            done = store.coverage.windows(table, target.entity_id)
            start = recorder.start_ms
            if start is None and done:
                start = min(w.start_ms for w in done)
            if start is None:
                spans = [(None, recorder.end_ms)]
            else:
                start = levels.bar_start(start, level)
                step = max(1, int(window_bars)) * levels.nominal_ms(level)
                spans = [
                    (low, high)
                    for low, high in windows_of(start, end, step)
                    if coverage.missing_ranges(low, high, done)
                ]
        chains[target.entity_id] = [
            Job(job_key(table, target.exchange, target.symbol, low, high), table, target.entity_id, target.exchange,
                target.symbol, low, high, options, source, run_id)
            for low, high in spans
        ]
    return Plan(table, targets, chains, run_id)
