"""``zvt-ccxt simulate``: the local exchanges for other processes; ``record`` and ``stream`` pointed at them by the
environment it writes, then the simulator stopped with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from zvt_ccxt import levels
from zvt_ccxt.cli import main
from zvt_ccxt_testkit.serve import read_environment


def _clean(home) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ZVT_CCXT_", "CRYPTO_API_"))}
    environment["ZVT_HOME"] = str(home)
    return environment


def _closed_hours_since_two_days() -> int:
    """Closed hourly bars from 00:00 UTC two days ago until now (what ``--since 2d`` asks for)."""
    now_ms = int(time.time() * 1000)
    return (levels.bar_start(now_ms, "1h") - (levels.bar_start(now_ms, "1d") - 2 * levels.DAY_MS)) // levels.HOUR_MS


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "zvt_ccxt.cli", *argv]


def test_simulate_serves_record_and_stream_then_stops_on_ctrl_c(tmp_path):
    home, env_file = tmp_path / "home", tmp_path / "sim.env"
    simulator = subprocess.Popen(
        _cli("simulate", "--env-file", str(env_file)),
        env=_clean(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed = []
        deadline = time.monotonic() + 120
        while not any("Ctrl-C stops" in line for line in printed):
            assert simulator.poll() is None and time.monotonic() < deadline, simulator.communicate()
            printed.append(simulator.stdout.readline())
        text = "".join(printed)
        assert f"point zvt-ccxt at them (in another shell): . {env_file}" in text and "synthetic prices" in text
        pointed = {**_clean(home), **read_environment(env_file)}
        assert pointed["ZVT_CCXT_SOURCE"] == "simulator" and "127.0.0.1" in pointed["ZVT_CCXT_BINANCE_OPTIONS"]

        before = _closed_hours_since_two_days()
        recorded = subprocess.run(
            _cli("record", "-e", "binance", "-s", "BTC/USDT", "--level", "1h", "--since", "2d", "--progress", "none"),
            env=pointed, capture_output=True, text=True, timeout=300,
        )
        assert recorded.returncode == 0, recorded.stderr
        written = int(re.search(r"([\d,]+) rows written for 1 symbol", recorded.stdout).group(1).replace(",", ""))
        assert written in {before, _closed_hours_since_two_days()}, recorded.stdout  # every closed hour, simulated
        assert "synthetic data (from the local exchange simulator)" in recorded.stdout
        assert (home / "synthetic" / "data" / "ccxt").is_dir() and not (home / "data").exists()

        coverage = subprocess.run(
            _cli("coverage", "-e", "binance"), env=pointed, capture_output=True, text=True, timeout=300
        )
        row = next(line for line in coverage.stdout.splitlines() if line.startswith("cryptopair_binance_btcusdt"))
        assert coverage.returncode == 0 and row.split()[-1] == "simulator"

        streamed = subprocess.run(
            _cli("stream", "-e", "binance", "-s", "BTC/USDT", "--channels", "trades", "--duration", "4"),
            env=pointed, capture_output=True, text=True, timeout=300,
        )
        assert streamed.returncode == 0, streamed.stderr
        line = next(line for line in streamed.stdout.splitlines() if line.startswith("binance trades"))
        assert int(line.split()[3]) > 0  # trades came over the simulator's websocket
        assert "synthetic data (from the local exchange simulator)" in streamed.stdout
        assert f"under {home / 'synthetic'}" in streamed.stdout and not (home / "data").exists()
        coverage = subprocess.run(
            _cli("coverage", "-e", "binance", "--check"), env=pointed, capture_output=True, text=True, timeout=300
        )
        trades = next(line for line in coverage.stdout.splitlines() if " crypto_trade " in f"{line} ")
        assert coverage.returncode == 0 and trades.split()[-1] == "simulator", coverage.stdout
    finally:
        simulator.send_signal(signal.SIGINT)
        out, err = simulator.communicate(timeout=60)
    assert simulator.returncode == 130, err


def test_simulate_without_the_test_kit_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "zvt_ccxt_testkit.serve", None)  # import fails as if it were not installed
    assert main(["simulate", "--duration", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install zvt-ccxt-testkit" in err[0]
