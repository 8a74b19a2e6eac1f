"""Re-make the bundled cassettes: ``python -m zvt_ccxt.replay.make_cassettes [--live] [--exchanges ...]``.

Without ``--live`` the traffic comes from the local exchange simulator (``zvt_ccxt.simulator``), which
speaks each exchange's real REST wire format; its URLs are rewritten to the real hosts before they are
stored, so a cassette looks and replays exactly like live traffic. With ``--live`` the same scenarios run
against the real exchanges (public endpoints only; no credentials are needed or stored).
Every cassette records which of the two made it, when, and with which command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "cassettes"


def _make(exchange: str, out_dir: Path, live: bool, command: str) -> list[Path]:
    from zvt_ccxt import clock
    from zvt_ccxt.replay.cassettes import recording
    from zvt_ccxt.replay.scenarios import RESUME_AFTER_MS, SCENARIOS, SIMULATED_NOW_MS, run_backfill, run_resume

    scenario = SCENARIOS[exchange]
    made = []
    if live:
        start_ms = clock.now_ms() // 60_000 * 60_000
        steps = [("backfill", run_backfill, start_ms), ("resume", run_resume, start_ms + 60_000)]
        for name, run, at_ms in steps:
            path = out_dir / f"{exchange}-{name}.json"
            with recording(path, source="live", command=command, recorded_at_ms=at_ms, notes=f"{name} scenario"):
                _check(run(scenario))
            made.append(path)
        return made

    from zvt_ccxt.simulator import ExchangeSimulator, real_url, repoint

    with ExchangeSimulator(now_ms=SIMULATED_NOW_MS) as simulator:
        steps = [
            ("backfill", run_backfill, SIMULATED_NOW_MS),
            ("resume", run_resume, SIMULATED_NOW_MS + RESUME_AFTER_MS),
        ]
        for name, run, at_ms in steps:
            simulator.set_now(at_ms)
            path = out_dir / f"{exchange}-{name}.json"
            with recording(
                path,
                source="simulator",
                command=command,
                recorded_at_ms=at_ms,
                notes=f"{name} scenario; zvt_ccxt.simulator speaking {exchange}'s REST wire format",
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
        prog="python -m zvt_ccxt.replay.make_cassettes", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--live", action="store_true", help="record the real exchanges instead of the simulator")
    parser.add_argument("--exchanges", default="binance,okx,bybit,coinbase", help="comma-separated exchange ids")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="cassette directory (default: ./cassettes)")
    args = parser.parse_args(argv)

    # A scratch ZVT_HOME: recording starts from an empty store and leaves the user's alone.
    home = tempfile.mkdtemp(prefix="zvt-ccxt-cassettes-")
    os.environ["ZVT_HOME"] = home
    import zvt_ccxt  # noqa: F401  (after ZVT_HOME is set)

    command = "python -m zvt_ccxt.replay.make_cassettes" + (" --live" if args.live else "")
    try:
        for exchange in [e.strip() for e in args.exchanges.split(",") if e.strip()]:
            for path in _make(exchange, args.out, args.live, command):
                print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
