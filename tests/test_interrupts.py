"""SIGINT and SIGTERM during a recording: a real ``zvt-ccxt record`` process against the test kit's simulator (served
here, so its ground truth and request log are at hand) is signalled mid-run. What it fetched must be stored, each
stored row inside a saved window and each saved window's rows stored (coverage exact), at most the pages in flight
lost per symbol, the summary printed with the cut symbols ``interrupted``, exit status 130; the same command then
completes the table."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from zvt_ccxt import levels
from zvt_ccxt.backfill.pager import REQUESTS_IN_FLIGHT
from zvt_ccxt_testkit.serve import serving

SYMBOLS = ("BTC/USDT", "ETH/USDT")
DAYS = 2


def _environment(home: Path, served) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ZVT_CCXT_", "CRYPTO_API_"))}
    environment.update(served.environment)
    environment["ZVT_HOME"] = str(home)
    return environment


def _record(environment: dict[str, str], *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "zvt_ccxt.cli", "record", "-e", "binance", "-s", ",".join(SYMBOLS), "--since",
            f"{DAYS}d", "--progress", "none", *extra]
    return subprocess.Popen(argv, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cli_argv(*argv: str) -> list[str]:
    return [sys.executable, "-m", "zvt_ccxt.cli", *argv]


def _assert_requested_range_accounted(windows: list[tuple], requested_start: int) -> None:
    """The windows of an interrupted run leave no hole from the requested start to its end: fetched ones, then the
    rest ``interrupted`` (at least one, as the run was cut short), all from the simulator."""
    assert windows and any(w[2] == "interrupted" for w in windows), windows
    assert windows[0][0] <= requested_start and {w[4] for w in windows} == {"simulator"}
    covered_to = requested_start
    for start, end, *_ in windows:
        assert start <= covered_to, f"a hole before {start}: {windows}"
        covered_to = max(covered_to, end)
    last_end = max(w[1] for w in windows)
    assert [w for w in windows if w[1] == last_end][0][2] == "interrupted", windows


def _requests(served, path_part: str, market_id: str) -> int:
    served_now = list(served.rest.requests)
    return sum(1 for r in served_now if path_part in r["path"] and r["query"].get("symbol") == market_id)


def _signal_once_paging(process: subprocess.Popen, served, path_part: str, number: int, after: int) -> None:
    deadline = time.monotonic() + 120
    while _requests(served, path_part, "BTCUSDT") < after:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the recording never got going"
        time.sleep(0.02)
    process.send_signal(number)


@contextlib.contextmanager
def _db(home: Path, name: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to one of the child's databases, closed after the block (an open one would hold the
    child's next run back)."""
    path = home / "synthetic" / "data" / "ccxt" / f"ccxt_{name}.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        yield connection


def _windows(home: Path, table: str, entity_id: str) -> list[tuple[int, int, str, int, str]]:
    with _db(home, "ccxt_coverage") as connection:
        return connection.execute(
            'SELECT "start_ms", "end_ms", "status", "rows", "source" FROM "ccxt_coverage" '
            'WHERE "data_table" = ? AND "entity_id" = ? ORDER BY "start_ms"',
            (table, entity_id),
        ).fetchall()


def _ms(text: str) -> int:
    return levels.to_utc_ms(text)


def _served_bar_times(served, start_ms: int, last_ms: int) -> list[int]:
    return [int(bar[0]) for bar in served.rest.ohlcv("binance", "BTC/USDT", "1m", start_ms, last_ms)]


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_klines_interrupted_keep_what_was_fetched_with_exact_coverage(tmp_path, number):
    home = tmp_path / "home"
    with serving(trades_per_second=0, latency_ms=60, page_cap=60) as served:
        environment = _environment(home, served)
        process = _record(environment, "--level", "1m")
        _signal_once_paging(process, served, "klines", number, after=8)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 130, (out, err)
        assert "interrupted: what was fetched is stored" in out
        btc_line = next(line for line in out.splitlines() if line.startswith("BTC/USDT"))
        assert btc_line.rstrip().endswith("interrupted"), out

        with _db(home, "cryptopair_1m_kdata") as connection:
            stored = dict(connection.execute(
                'SELECT "timestamp", "close" FROM "cryptopair_1m_kdata" WHERE "entity_id" = ?',
                ("cryptopair_binance_btcusdt",),
            ).fetchall())
        stored_ms = {_ms(ts): close for ts, close in stored.items()}
        assert stored_ms, "nothing stored before the interrupt"
        bars = served.rest.ohlcv("binance", "BTC/USDT", "1m", min(stored_ms), max(stored_ms))
        truth = {int(r[0]): r[4] for r in bars}
        assert all(truth[ts] == pytest.approx(close) for ts, close in stored_ms.items())  # the simulator's bars

        windows = _windows(home, "cryptopair_1m_kdata", "cryptopair_binance_btcusdt")
        fetched = [w for w in windows if w[2] == "fetched"]
        assert {w[4] for w in windows} == {"simulator"} and not [w for w in windows if w[2] == "failed"]
        inside = {ts for ts in stored_ms if any(s <= ts < e for s, e, *_ in fetched)}
        assert inside == set(stored_ms)  # no stored bar without its window
        assert sum(w[3] for w in fetched) == len(stored_ms)  # no window without its bars
        # every page the simulator served was stored, but for those in flight
        assert _requests(served, "klines", "BTCUSDT") - len(fetched) <= REQUESTS_IN_FLIGHT
        # what was asked for and not fetched stays in the ledger, interrupted: from the last fetched window on to
        # the end the run asked for, so coverage shows it unknown and an alarm's `coverage --check` fails
        requested_start = levels.bar_start(served.rest.now_ms, "1d") - DAYS * levels.DAY_MS
        _assert_requested_range_accounted(windows, requested_start)
        for entity in ("cryptopair_binance_ethusdt",):  # the other symbol, cut short or never begun
            _assert_requested_range_accounted(_windows(home, "cryptopair_1m_kdata", entity), requested_start)
        check = subprocess.run(_cli_argv("coverage", "--check", "--level", "1m"), env=environment,
                               capture_output=True, text=True, timeout=300)
        assert check.returncode == 1, (check.stdout, check.stderr)
        assert "cryptopair_binance_btcusdt 1m: unknown" in check.stdout, check.stdout

        started_ms = int(time.time() * 1000)
        again = _record(environment, "--level", "1m")
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, (out, err)
        ended_ms = int(time.time() * 1000)
        with _db(home, "cryptopair_1m_kdata") as connection:
            rows = connection.execute(
                'SELECT "timestamp" FROM "cryptopair_1m_kdata" WHERE "entity_id" = ?', ("cryptopair_binance_btcusdt",)
            ).fetchall()
        completed = sorted(_ms(ts) for (ts,) in rows)
        start = levels.bar_start(served.rest.now_ms, "1d") - DAYS * levels.DAY_MS
        # every closed bar from the start on, without a hole; the last one closed while the second run ran (a
        # minute may turn over during it, so the bound is the bar closed at its start or at its end)
        assert completed == _served_bar_times(served, start, completed[-1])
        assert levels.bar_start(started_ms, "1m") - 60_000 <= completed[-1] < levels.bar_start(ended_ms, "1m")
        check = subprocess.run(_cli_argv("coverage", "--check", "--level", "1m"), env=environment,
                               capture_output=True, text=True, timeout=300)
        assert check.returncode == 0, (check.stdout, check.stderr)  # the interrupted range is fetched now



def test_trades_interrupted_keep_each_saved_window_whole(tmp_path):
    home = tmp_path / "home"
    with serving(trades_per_second=0, latency_ms=40) as served:
        environment = _environment(home, served)
        process = _record(environment, "--data", "trades")
        _signal_once_paging(process, served, "rades", signal.SIGINT, after=4)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 130, (out, err)
        assert "interrupted" in out

        entity = "cryptopair_binance_btcusdt"
        with _db(home, "crypto_trade") as connection:
            stamps = [r[0] for r in connection.execute(
                'SELECT "ts_ms" FROM "crypto_trade" WHERE "entity_id" = ?', (entity,)).fetchall()]
        windows = [w for w in _windows(home, "crypto_trade", entity) if w[2] in ("fetched", "empty")]
        assert stamps and windows
        assert all(any(s <= ts < e for s, e, *_ in windows) for ts in stamps)
        assert sum(w[3] for w in windows) == len(stamps)
        every = _windows(home, "crypto_trade", entity)
        assert any(w[2] == "interrupted" for w in every), every  # the rest of the range asked for
        check = subprocess.run(_cli_argv("coverage", "--check"), env=environment, capture_output=True, text=True,
                               timeout=300)
        assert check.returncode == 1 and f"{entity} crypto_trade: unknown" in check.stdout, check.stdout
