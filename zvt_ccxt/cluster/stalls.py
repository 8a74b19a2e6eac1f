"""Giving up a job that stopped making progress, so it is retried elsewhere within a bounded time.

A klines job reports each page it stores (``jobs.PROGRESS_TOPIC``, a Dask event). The driver reads those events
and, when a running job has reported nothing for ``stall_seconds``, restarts the worker process running it: a
hung job (a socket that never answers, a deadlock) cannot be cancelled inside its thread, but its process can be
replaced. The scheduler then runs the job again like one whose worker died, and the job, reading the coverage
ledger, fetches only the windows the hung attempt did not store. The time is the driver's own (when it saw the
event), so the machines' clocks need not agree.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from zvt_ccxt.cluster.jobs import PROGRESS_TOPIC

log = logging.getLogger(__name__)
#: how long a klines job may go without storing a page before its worker is restarted, in seconds (a page takes
#: well under a second; the margin covers an exchange's ban, which pauses every request of the address)
STALL_SECONDS = 300.0


class StallWatch:
    """Within the block, every ``poll`` seconds: restart the worker of any running job silent for ``stall_seconds``.

    ``futures``: the run's futures by job key; ``run_id``: the run's id, which its jobs' progress names (a key
    also names the same window in every earlier run, whose events the scheduler still keeps: a job judged by
    them would look stalled before it started); ``given_up`` lists the keys whose worker was restarted."""

    def __init__(self, dask: Any, futures: dict[str, Any], stall_seconds: float = STALL_SECONDS,
                 run_id: str = "") -> None:
        if not stall_seconds > 0:
            raise ValueError(f"stall_seconds must be above 0, not {stall_seconds!r}")
        self._dask = dask
        self._futures = futures
        self._run_id = run_id
        self._stall = float(stall_seconds)
        self._poll = min(1.0, self._stall / 5)
        #: key -> (driver's monotonic time its last progress was seen, its worker's address)
        self._seen: dict[str, tuple[float, str]] = {}
        self._newest = float("-inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zvt-ccxt-stall-watch", daemon=True)
        self.given_up: list[str] = []

    def __enter__(self) -> StallWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.check()
            except Exception as error:  # the scheduler gone: the driver's own wait reports it
                log.debug("stall watch: %s", error)

    def check(self) -> None:
        now = time.monotonic()
        newest = self._newest
        for stamp, message in self._dask.get_events(PROGRESS_TOPIC):
            if (stamp > self._newest and isinstance(message, dict) and message.get("run") == self._run_id
                    and message.get("key") in self._futures):
                self._seen[message["key"]] = (now, message["worker"])
                newest = max(newest, stamp)
        self._newest = newest
        for key, (seen_at, worker) in list(self._seen.items()):
            if self._futures[key].done():
                del self._seen[key]
            elif now - seen_at > self._stall:
                # watched again once the retry reports its start, wherever it runs
                del self._seen[key]
                self.given_up.append(key)
                log.warning("%s stored nothing for %.0f s: restarting its worker %s, the job runs again",
                            key, now - seen_at, worker)
                self._dask.restart_workers([worker], raise_for_error=False)
