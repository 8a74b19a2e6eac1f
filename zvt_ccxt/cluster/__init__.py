"""Recording on a Dask cluster: ``record_data(..., scheduler="tcp://host:8786")`` or ``client=``.

The driver plans jobs (``planning``: one per exchange, symbol, data table and window still missing), submits
them under readable keys, and adds their per-symbol results into the summary a local run returns. Workers run
the package's own recorder for each job (``jobs``), write straight into the shared store, and spend one request
budget per (exchange, egress address) shared through that store (``budget``, ``worker``). ``--scheduler local:N``
(``scheduler="local:N"``) starts a cluster of N single-threaded worker processes on this machine for the run.
See docs/cluster.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from zvt_ccxt.backfill.summary import RecordSummary, SymbolResult
from zvt_ccxt.cluster.jobs import Job, JobOutcome, reports_pages, run_job
from zvt_ccxt.cluster.planning import WINDOW_BARS, plan
from zvt_ccxt.cluster.progress import RunProgress
from zvt_ccxt.cluster.stalls import STALL_SECONDS, StallWatch
from zvt_ccxt.cluster.worker import EGRESS_VARIABLE, WorkerSetup, spending_shared_budget
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.errors import ZvtCcxtError

__all__ = ["RunProgress", "WorkerSetup", "local_cluster", "record"]

#: how often a job is tried again after it raised (a worker that died mid-job does not count: Dask reschedules it)
JOB_RETRIES = 2
#: how long a local cluster waits for a lost worker to return before closing its nanny. Dask's rule (15 s) is
#: meant for workers a batch system lost; a local nanny restarts its own worker, and its rule's timer, armed by one
#: restart, would close the nanny for good if it fired while a later restart was still importing zvt
LOCAL_LOST_WORKER_TIMEOUT = "30 days"


def _local_size(scheduler: str) -> int | None:
    if not scheduler.startswith("local"):
        return None
    _, _, count = scheduler.partition(":")
    try:
        workers = int(count or 2)
    except ValueError:
        workers = 0
    if workers < 1:
        raise ZvtCcxtError(f"scheduler {scheduler!r}: say how many local workers, e.g. local:4")
    return workers


@contextlib.contextmanager
def local_cluster(
    workers: int, egress: Sequence[str] = (), threads: int = 1, env: dict[str, str] | None = None
) -> Iterator[Any]:
    """A cluster of ``workers`` worker processes on this machine (``threads`` each), the i-th sending its requests
    from ``egress[i % len(egress)]`` when given (a local address such as 127.0.0.2, or a proxy URL); ``env``: more
    environment for the workers (they inherit this process's, ``ZVT_HOME`` and ``ZVT_CCXT_DB_URL`` included)."""
    import dask.config
    from distributed import Nanny, Scheduler, SpecCluster

    dashboard = ":0" if importlib.util.find_spec("bokeh") else None
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "port": 0, "dashboard_address": dashboard}}
    specs = {}
    for index in range(workers):
        worker_env = dict(env or {})
        if egress:
            worker_env[EGRESS_VARIABLE] = egress[index % len(egress)]
        options = {"nthreads": threads, "host": "127.0.0.1", "env": worker_env, "silence_logs": 40}
        specs[f"zvt-ccxt-worker-{index}"] = {"cls": Nanny, "options": options}
    with (dask.config.set({"distributed.deploy.lost-worker-timeout": LOCAL_LOST_WORKER_TIMEOUT}),
          SpecCluster(scheduler=scheduler, workers=specs, name="zvt-ccxt") as cluster):
        yield cluster


@contextlib.contextmanager
def connected(scheduler: str | None, client: Any = None) -> Iterator[Any]:
    """The Dask client to run on: ``client`` itself, a local cluster for ``local:N``, else the scheduler's."""
    if client is not None:
        yield client
        return
    from distributed import Client

    if not isinstance(scheduler, str) or not scheduler.strip():
        raise ZvtCcxtError("scheduler: give an address (tcp://host:8786) or local:N")
    workers = _local_size(scheduler.strip())
    if workers is not None:
        with local_cluster(workers) as cluster, Client(cluster) as local:
            yield local
        return
    try:
        connection = Client(scheduler.strip(), timeout="20s")
    except OSError as error:
        raise ZvtCcxtError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    with connection:
        yield connection


def _merge(into: SymbolResult, result: SymbolResult) -> None:
    into.rows += result.rows
    into.requests += result.requests
    into.rejected += result.rejected
    into.windows.update(result.windows)
    if result.first_ms is not None and result.last_ms is not None:
        into.extend(result.first_ms, result.last_ms)
    into.error = into.error or result.error


def record(
    schema: Schema,
    scheduler: str | None = None,
    client: Any = None,
    on_update: Callable[[RunProgress], None] | None = None,
    window_bars: int = WINDOW_BARS,
    stall_seconds: float = STALL_SECONDS,
    **kwargs: Any,
) -> RecordSummary:
    """``schema.record_data(provider="ccxt", **kwargs)`` as jobs on a Dask cluster; the same summary back.

    ``progress`` (a per-symbol callback, as in a local run) hears each symbol's windows as they finish;
    ``on_update`` gets the run's :class:`RunProgress` after every job. A klines job that stores nothing for
    ``stall_seconds`` has its worker restarted and runs again (``stalls``)."""
    from distributed import CancelledError, as_completed
    from distributed.comm.core import CommClosedError

    symbol_progress = kwargs.get("progress")
    with spending_shared_budget():  # the driver's own requests (markets) count against the address's budget too
        the_plan = plan(schema, kwargs, window_bars)
    summary = RecordSummary(the_plan.data_table)
    results = {t.entity_id: SymbolResult(t.entity_id, t.symbol) for t in the_plan.targets}
    summary.results.extend(results.values())
    view = RunProgress(the_plan.data_table, len(the_plan.targets), len(the_plan.jobs))
    spans = {eid: sum((j.end_ms or 0) - (j.start_ms or 0) for j in chain) for eid, chain in the_plan.chains.items()}
    remaining = {eid: len(chain) for eid, chain in the_plan.chains.items()}
    view.symbols_done = sum(1 for count in remaining.values() if count == 0)
    if not the_plan.jobs:
        return summary
    done_ms = dict.fromkeys(results, 0)

    def take(future: Any, job: Job) -> None:
        result = results[job.entity_id]
        try:
            outcome: JobOutcome = future.result()
            part = outcome.result
            view.workers.add(outcome.egress)
        except CancelledError as cancelled:  # the client lost the scheduler (or it lost the job): no result
            raise SchedulerLost(f"{job.key}: {type(cancelled).__name__}: {cancelled}") from None
        except Exception as error:  # the job raised on every try, or its worker kept dying
            part = SymbolResult(job.entity_id, job.symbol)
            part.error = f"{job.key}: {type(error).__name__}: {error}"
        _merge(result, part)
        view.add(part, not part.ok)
        remaining[job.entity_id] -= 1
        done_ms[job.entity_id] += (job.end_ms or 0) - (job.start_ms or 0)
        if remaining[job.entity_id] == 0:
            view.symbols_done += 1
        if callable(symbol_progress):
            total = spans[job.entity_id]
            symbol_progress(result, total if remaining[job.entity_id] == 0 else done_ms[job.entity_id], total)
        if on_update is not None:
            on_update(view)

    with connected(scheduler, client) as dask:
        futures = {}
        for chain in the_plan.chains.values():
            previous = None
            for job in chain:
                after = () if previous is None else (previous,)
                previous = dask.submit(run_job, job, *after, key=job.key, retries=JOB_RETRIES)
                futures[previous] = job
        watched = {job.key: future for future, job in futures.items() if reports_pages(job)}
        try:
            with StallWatch(dask, watched, stall_seconds, run_id=the_plan.run_id):
                for future in as_completed(list(futures)):
                    take(future, futures[future])
        except (SchedulerLost, OSError, CommClosedError) as lost:
            address = getattr(getattr(dask, "scheduler", None), "address", scheduler)
            raise ZvtCcxtError(
                f"lost the Dask scheduler at {address} mid-run ({lost}): run the same command again; the coverage "
                "ledger holds every window stored so far, so only what is missing is planned"
            ) from None
        finally:
            with contextlib.suppress(Exception):
                dask.cancel(list(futures))
    return summary


class SchedulerLost(Exception):
    """The client's connection to the scheduler ended mid-run."""
