"""Process faults: recorders killed with SIGKILL at random points, and several recorders writing one database.

Each recording runs in a child process (``zvt_ccxt_testkit.reliability.child``) with its own ``ZVT_HOME``, against
the simulator this process serves; its table is then read straight from the SQLite file and compared, row
for row, with the table an uninterrupted run left.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from zvt_ccxt.store.engines import engine_for
from zvt_ccxt_testkit.reliability.harness import CANDLE_PATHS, compare_rows, row_columns, table_rows

#: how long the slowest child may take before the check gives up on it
CHILD_TIMEOUT_S = 300


@dataclass
class ProcessOutcome:
    """What a process check did and whether the final table equals an uninterrupted run's."""

    name: str
    runs: int = 0
    kills: int = 0
    survived: int = 0
    rows_compared: int = 0
    rows_lost: int = 0
    rows_differing: int = 0
    duplicates: int = 0
    kill_points: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems and not (self.rows_lost or self.rows_differing or self.duplicates)


@dataclass(frozen=True)
class ChildJob:
    """The recording every child of one check repeats."""

    base_url: str
    now_ms: int
    exchange: str
    symbols: tuple[str, ...]
    level: str
    start_ms: int
    page_cap: int | None = None
    start_after: Path | None = None
    #: the store's database URL for the children (None: the SQLite files under each child's ZVT_HOME)
    db_url: str | None = None

    def command(self) -> list[str]:
        argv = [sys.executable, "-m", "zvt_ccxt_testkit.reliability.child", "--base-url", self.base_url]
        argv += ["--now-ms", str(self.now_ms), "--exchange", self.exchange, "--symbols", ",".join(self.symbols)]
        argv += ["--level", self.level, "--start-ms", str(self.start_ms)]
        argv += ["--page-cap", str(self.page_cap)] if self.page_cap else []
        return argv + (["--start-after", str(self.start_after)] if self.start_after else [])

    def start(self, home: Path) -> subprocess.Popen:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("ZVT_CCXT_")}
        environment["ZVT_HOME"] = str(home)
        if self.db_url:
            environment["ZVT_CCXT_DB_URL"] = self.db_url
        environment["PYTHONPATH"] = os.pathsep.join([*_import_roots(), *filter(None, [environment.get("PYTHONPATH")])])
        return subprocess.Popen(
            self.command(), env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


def _import_roots() -> list[str]:
    """The folders this process imported zvt_ccxt and the test kit from, so a child runs the same code
    (a checkout on PYTHONPATH or an installed copy alike)."""
    import zvt_ccxt
    import zvt_ccxt_testkit

    folders = (Path(package.__file__).resolve().parent.parent for package in (zvt_ccxt, zvt_ccxt_testkit))
    return list(dict.fromkeys(str(folder) for folder in folders))


def stored_rows(home: Path, schema: type, db_url: str | None = None) -> list[tuple]:
    """``schema``'s rows in the database under ``home`` (another process's ZVT_HOME), or in the database at
    ``db_url`` (which this process's store must use too), ordered by id."""
    if db_url:
        return table_rows(schema)
    path = home / "data" / "ccxt" / Path(engine_for(schema).url.database).name
    if not path.exists():
        return []
    names = ", ".join(f'"{c}"' for c in row_columns(schema))
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in connection.execute(f'SELECT {names} FROM "{schema.__tablename__}" ORDER BY id')]
    finally:
        connection.close()


def _finish(process: subprocess.Popen, outcome: ProcessOutcome, label: str) -> dict | None:
    try:
        out, err = process.communicate(timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        outcome.problems.append(f"{label}: did not finish in {CHILD_TIMEOUT_S}s")
        return None
    if process.returncode != 0:
        outcome.problems.append(f"{label}: exit {process.returncode}: {(out + err).strip()[-600:]}")
        return None
    outcome.survived += 1
    return json.loads(out.strip().splitlines()[-1])


def _candle_requests(simulator, exchange: str) -> int:
    path = CANDLE_PATHS[exchange]
    return sum(1 for r in list(simulator.requests) if r["exchange"] == exchange and path in r["path"])


def _check_table(outcome: ProcessOutcome, reference: Sequence[tuple], rows: Sequence[tuple]) -> None:
    outcome.rows_compared = len(reference)
    outcome.rows_lost, outcome.rows_differing, extra = compare_rows(reference, rows)
    ids = [r[0] for r in rows]
    outcome.duplicates = len(ids) - len(set(ids))
    if extra:
        outcome.problems.append(f"{extra} rows that the uninterrupted run does not have")


def kill_and_resume(
    simulator, job: ChildJob, home: Path, reference: Sequence[tuple], schema: type, *, kills: int, seed: int
) -> ProcessOutcome:
    """SIGKILL ``kills`` runs at random points (during start-up, or after a random number of candle requests,
    mid-write included), then let one run finish; its table must equal ``reference`` row for row."""
    rng = random.Random(seed)
    outcome = ProcessOutcome(f"SIGKILL x{kills} then resume")
    started = time.perf_counter()
    full_run = max(2, len(reference) // (job.page_cap or 1000) + 2)  # candle requests of an uninterrupted run
    baseline = _candle_requests(simulator, job.exchange)
    for attempt in range(kills):
        before = _candle_requests(simulator, job.exchange)
        remaining = max(1, full_run - (before - baseline))
        process = job.start(home)
        outcome.runs += 1
        if rng.random() < 0.2:
            delay = rng.uniform(0.2, 3.0)
            point = f"{delay:.2f}s after start"
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.005)
        else:
            # spread the kills over what is left of the backfill, so they land early, midway and late
            target = rng.randint(1, max(1, 2 * remaining // (kills - attempt + 1)))
            point = f"after candle request {target} of ~{remaining} left"
            deadline = time.monotonic() + CHILD_TIMEOUT_S
            while process.poll() is None and time.monotonic() < deadline:
                if _candle_requests(simulator, job.exchange) - before >= target:
                    time.sleep(rng.uniform(0, 0.02))  # land anywhere in the parsing or writing that follows
                    break
                time.sleep(0.001)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            outcome.kills += 1
            outcome.kill_points.append(point)
        else:
            outcome.kill_points.append(f"{point}: finished first")
        process.communicate()
    final = job.start(home)
    outcome.runs += 1
    if _finish(final, outcome, "the resuming run") is not None:
        outcome.survived += outcome.kills  # every kill was followed by a run that resumed and finished
    _check_table(outcome, reference, stored_rows(home, schema, job.db_url))
    outcome.seconds = time.perf_counter() - started
    return outcome


def concurrent_writers(
    job: ChildJob, home: Path, reference: Sequence[tuple], schema: type, *, writers: int = 2
) -> ProcessOutcome:
    """Start ``writers`` processes recording the same symbols into one database at once; all must finish
    cleanly and the table must equal ``reference``: no duplicate, no lost or damaged row."""
    outcome = ProcessOutcome(f"{writers} processes writing the same symbols at once")
    started = time.perf_counter()
    go = home.parent / f"{home.name}.go"
    job = replace(job, start_after=go)
    processes = [job.start(home) for _ in range(writers)]
    outcome.runs = writers
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while len(list(home.parent.glob(f"{go.name}.*.ready"))) < writers and time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            break
        time.sleep(0.01)
    go.touch()  # all of them are imported and waiting: they record at the same moment
    for number, process in enumerate(processes, 1):
        _finish(process, outcome, f"writer {number}")
    _check_table(outcome, reference, stored_rows(home, schema, job.db_url))
    outcome.seconds = time.perf_counter() - started
    return outcome
