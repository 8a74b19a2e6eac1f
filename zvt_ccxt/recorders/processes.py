"""A run's instruments split over forked processes: both cores parse and write, where threads of one process
share one (the GIL).

Each process records its share of the instruments (every N-th, in order), with ``workers`` threads of its own,
into the same store (``zvt_ccxt.store.processes``: SQLite in WAL, its busy timeout; any other database as usual),
spending one request budget per exchange shared by all of them (``limiter.shared_budgets``). The parent keeps
the results: each process reports its symbols' progress and final results through a pipe, and a process that
dies leaves its unfinished symbols failed with the reason. Forking keeps the parent's imports, markets and
configuration, so a process starts in milliseconds; where fork does not exist the run stays in one process.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, cast

from zvt_ccxt import interrupts
from zvt_ccxt.backfill.summary import SymbolResult
from zvt_ccxt.exchange import client as exchange_client
from zvt_ccxt.exchange import limiter
from zvt_ccxt.store import processes as store_processes

logger = logging.getLogger(__name__)

#: (result, ms done, ms to do) as a recorder reports progress
Progress = Callable[[SymbolResult, int, int], None]


def shares(count: int, processes: int) -> list[list[int]]:
    """Indexes of ``count`` items dealt round-robin to at most ``processes`` non-empty shares."""
    n = max(1, min(processes, count))
    return [list(range(i, count, n)) for i in range(n)]


def run_forked(
    items: Sequence[Any],
    results: list[SymbolResult],
    run_share: Callable[[list[Any], list[SymbolResult], Progress | None], None],
    processes: int,
    exchange_ids: list[str],
    progress: Progress | None = None,
) -> None:
    """Run ``run_share(items, results, progress)`` for each share of ``items`` in a process of its own, filling
    ``results`` (one per item, in order) from what the processes report."""
    context = multiprocessing.get_context("fork")
    previous = limiter._budget_factory
    if previous is None:  # budgets already shared beyond the process (a cluster's) stay in use
        limiter.use_budgets(limiter.shared_budgets(exchange_ids))
    children: dict[Connection, tuple[Any, list[int]]] = {}
    try:
        for share in shares(len(items), processes):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(sender, items, results, share, run_share, progress),
                                      daemon=True)
            process.start()
            sender.close()
            children[receiver] = (process, share)
        finished: set[int] = set()
        _collect(children, results, finished, progress)
        for process, share in children.values():
            process.join()
            for index in share:
                if index not in finished and results[index].error is None and not results[index].interrupted:
                    results[index].error = f"its recording process exited with code {process.exitcode}"
    finally:
        if previous is None:
            limiter.use_budgets(None)
        for connection, (process, _) in children.items():
            connection.close()
            if process.is_alive():
                process.terminate()
                process.join()


def _collect(children: dict, results: list[SymbolResult], finished: set[int], progress: Progress | None) -> None:
    open_ = list(children)
    stop_sent = False
    while open_:
        if interrupts.requested() and not stop_sent:  # SIGTERM reached this process only: pass it on
            stop_sent = True
            for process, _ in children.values():
                if process.pid is not None and process.is_alive():
                    os.kill(process.pid, signal.SIGTERM)
        for ready in wait(open_, timeout=0.2):
            connection = cast(Connection, ready)
            try:
                kind, index, state, done, total = connection.recv()
            except (EOFError, OSError):
                open_.remove(connection)
                continue
            _update(results[index], state)
            if kind == "done":
                finished.add(index)
            elif progress is not None:
                progress(results[index], done, total)


def _update(result: SymbolResult, state: SymbolResult) -> None:
    for name in result.__dataclass_fields__:
        setattr(result, name, getattr(state, name))


def _child(sender: Connection, items: Sequence[Any], results: list[SymbolResult], share: list[int],
           run_share: Callable, progress: Progress | None) -> None:
    # what this process inherited (modules, markets, clients) lives until it exits: frozen, the collector's full
    # passes skip those objects rather than rescanning them (and copying their pages from the parent's)
    gc.freeze()
    store_processes.forget_inherited_connections()
    exchange_client.forget_inherited_connections()
    lock = threading.Lock()
    index_of = {id(results[i]): i for i in share}
    last_sent = [0.0]

    def send(kind: str, result: SymbolResult, done: int = 0, total: int = 0) -> None:
        with lock:
            sender.send((kind, index_of[id(result)], result, done, total))

    def relay(result: SymbolResult, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last_sent[0] < 0.1:  # the parent redraws a few times a second at most
            return
        last_sent[0] = now
        send("progress", result, done, total)

    try:
        run_share([items[i] for i in share], [results[i] for i in share], relay if progress is not None else None)
    finally:
        for i in share:
            send("done", results[i])
        sender.close()
