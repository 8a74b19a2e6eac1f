"""Re-make the bundled cassettes: ``python -m zvt_ccxt_testkit.make_cassettes [--live] [--exchanges ...]``.

Without ``--live`` the traffic comes from the local exchange simulator (``zvt_ccxt_testkit.simulator``), which
speaks each exchange's real REST wire format; its URLs are rewritten to the real hosts before they are
stored, so a cassette looks and replays exactly like live traffic. With ``--live`` the same scenarios run
against the real exchanges (public endpoints only; no credentials are needed or stored).
Every cassette records which of the two made it, when, and with which command. They are written to
``--out``; by default to ``zvt_ccxt/cassettes`` of the zvt-ccxt checkout the current directory is in, the
folder the wheel bundles.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from zvt_ccxt_testkit.checkout import in_checkout

#: where the package's bundled cassettes live, relative to the checkout
BUNDLED_DIR = "zvt_ccxt/cassettes"

SCENARIO_NAMES = ("backfill", "resume", "market-data")
#: set (to the scratch ZVT_HOME) in the child process that records
_SCRATCH_HOME = "ZVT_CCXT_CASSETTE_HOME"


def _make(exchange: str, out_dir: Path, live: bool, command: str, names=SCENARIO_NAMES) -> list[Path]:
    from zvt_ccxt import clock
    from zvt_ccxt.replay.cassettes import recording
    from zvt_ccxt_testkit.scenarios import (
        RESUME_AFTER_MS,
        SCENARIOS,
        run_backfill,
        run_market_data,
        run_resume,
    )

    scenario = SCENARIOS[exchange]
    made = []
    if live:
        start_ms = clock.now_ms() // 60_000 * 60_000
        steps = [
            ("backfill", run_backfill, start_ms),
            ("resume", run_resume, start_ms + 60_000),
            ("market-data", run_market_data, start_ms + 60_000),
        ]
        for name, run, at_ms in [step for step in steps if step[0] in names]:
            path = out_dir / f"{exchange}-{name}.json"
            with recording(path, source="live", command=command, recorded_at_ms=at_ms, notes=f"{name} scenario"):
                _check(run(scenario))
            made.append(path)
        return made

    from zvt_ccxt_testkit.simulated_exchanges import SIM_NOW_MS
    from zvt_ccxt_testkit.simulator import ExchangeSimulator, real_url, repoint

    with ExchangeSimulator(now_ms=SIM_NOW_MS) as simulator:
        steps = [
            ("backfill", run_backfill, SIM_NOW_MS),
            ("resume", run_resume, SIM_NOW_MS + RESUME_AFTER_MS),
            ("market-data", run_market_data, SIM_NOW_MS),
        ]
        for name, run, at_ms in [step for step in steps if step[0] in names]:
            simulator.set_now(at_ms)
            path = out_dir / f"{exchange}-{name}.json"
            with recording(
                path,
                source="simulator",
                command=command,
                recorded_at_ms=at_ms,
                notes=f"{name} scenario; zvt_ccxt_testkit.simulator speaking {exchange}'s REST wire format",
                rewrite_url=real_url,
                hook=lambda client: repoint(client, simulator.base_url),
            ):
                _check(run(scenario))
            made.append(path)
    return made


def _check(summaries: list) -> None:
    for summary in summaries:
        if not summary.ok:
            raise SystemExit(f"recording failed:\n{summary}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zvt_ccxt_testkit.make_cassettes", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--live", action="store_true", help="record the real exchanges instead of the simulator")
    parser.add_argument("--exchanges", default="binance,okx,bybit,coinbase", help="comma-separated exchange ids")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"cassette directory (default: {BUNDLED_DIR} of the zvt-ccxt checkout the current directory is in)",
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIO_NAMES), help=f"comma-separated, of {', '.join(SCENARIO_NAMES)}"
    )
    args = parser.parse_args(argv)
    names = tuple(n.strip() for n in args.scenarios.split(",") if n.strip())
    unknown = sorted(set(names) - set(SCENARIO_NAMES))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    out = args.out or in_checkout(BUNDLED_DIR, "--out DIR")

    home = os.environ.get("ZVT_HOME")
    if not home or os.environ.get(_SCRATCH_HOME) != home:
        # Recording starts from an empty store and leaves the user's alone: a scratch ZVT_HOME. zvt reads it
        # once, when first imported, and ``python -m`` imports this package (so zvt) before main() runs:
        # the recording therefore runs in a child process started with the scratch home.
        scratch = tempfile.mkdtemp(prefix="zvt-ccxt-cassettes-")
        try:
            command = [
                sys.executable,
                "-m",
                "zvt_ccxt_testkit.make_cassettes",
                *(sys.argv[1:] if argv is None else argv),
                *([] if args.out else ["--out", str(out)]),
            ]
            return subprocess.call(command, env={**os.environ, "ZVT_HOME": scratch, _SCRATCH_HOME: scratch})
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    import zvt_ccxt  # noqa: F401

    command = "python -m zvt_ccxt_testkit.make_cassettes" + (" --live" if args.live else "")
    for exchange in [e.strip() for e in args.exchanges.split(",") if e.strip()]:
        for path in _make(exchange, out, args.live, command, names):
            print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
