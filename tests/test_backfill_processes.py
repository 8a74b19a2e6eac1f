"""Symbols split over forked processes (``record_data(processes=N)``, ``zvt-ccxt record --processes``): the same
bars and coverage as one process, results and progress in the caller's process, one rate limit for all."""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import time

import pandas as pd
import pytest

from zvt_ccxt.cli.commands.record import _parallelism
from zvt_ccxt.domain import CryptoPair1hKdata
from zvt_ccxt.exchange import limiter
from zvt_ccxt.recorders.processes import shares
from zvt_ccxt.store.processes import can_fork

pytestmark = pytest.mark.skipif(not can_fork(), reason="no fork on this platform: runs stay in one process")

START = "2025-05-25"
SYMBOLS = ["BTC/USDT", "ETH/USDT", "LUNA/USDT"]


def _table() -> pd.DataFrame:
    frame = CryptoPair1hKdata.query_data(provider="ccxt", order=CryptoPair1hKdata.id.asc())
    return frame.drop(columns=["created_timestamp"], errors="ignore").reset_index(drop=True)


def _record(**options):
    return CryptoPair1hKdata.record_data(provider="ccxt", exchange="binance", symbols=SYMBOLS,
                                         start_timestamp=START, **options)


def test_processes_store_what_one_process_stores(sim):
    from conftest import empty_store

    single = _record()
    one_process = _table()
    empty_store()
    seen: list[tuple[str, int, int]] = []
    split = _record(processes=2, progress=lambda result, done, total: seen.append((result.symbol, done, total)))
    assert split.ok, [r.error for r in split.results]
    assert [r.symbol for r in split.results] == SYMBOLS  # the caller's order, the caller's result objects
    assert [r.rows for r in split.results] == [r.rows for r in single.results] and split.rows > 0
    pd.testing.assert_frame_equal(_table(), one_process)
    # progress reached the caller's callback from the processes, each symbol's last report complete
    finals = {symbol: (done, total) for symbol, done, total in seen}
    assert set(finals) == set(SYMBOLS) and all(done == total > 0 for done, total in finals.values())


def test_a_rerun_split_over_processes_fetches_nothing(sim):
    _record(processes=2)
    again = _record(processes=2)
    assert again.ok and again.rows == 0 and sum(r.requests for r in again.results) == 0


def _spend(units_per_second: float, count: int, factory, out) -> None:
    limiter.use_budgets(factory)
    bucket = limiter.limiter_for("exchange", 1000.0 / units_per_second)
    for _ in range(count):
        bucket.acquire(1)
    out.put(time.monotonic())


def test_forked_processes_share_one_request_budget():
    rate, each = 100.0, 15
    factory = limiter.shared_budgets(["exchange"])
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    started = time.monotonic()
    workers = [context.Process(target=_spend, args=(rate, each, factory, out)) for _ in range(2)]
    for worker in workers:
        worker.start()
    finished = max(out.get(timeout=30) for _ in workers)
    for worker in workers:
        worker.join()
    # 30 units at 100 a second (97% planned) take about 0.3 s together; a budget per process would take half
    assert finished - started >= (2 * each - 1) / rate
    limiter.use_budgets(None)


def test_shares_deal_symbols_round_robin():
    assert shares(5, 2) == [[0, 2, 4], [1, 3]]
    assert shares(1, 4) == [[0]]
    assert shares(3, 8) == [[0], [1], [2]]


def _args(**given) -> argparse.Namespace:
    return argparse.Namespace(**{"processes": None, "workers": None, "replay": None, **given})


def test_the_command_picks_a_process_per_core_and_eight_symbols_at_once(monkeypatch):
    monkeypatch.delenv("ZVT_CCXT_REPLAY", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert _parallelism(_args(), 20) == {"processes": 2, "workers": 4}
    assert _parallelism(_args(), 3) == {"processes": 2, "workers": 2}
    assert _parallelism(_args(), 1) == {}
    assert _parallelism(_args(processes=3, workers=1), 20) == {"processes": 3, "workers": 1}
    assert _parallelism(_args(replay="okx-backfill"), 20) == {"processes": 1, "workers": 8}


def _count_frozen(items, results, progress) -> None:
    for result in results:
        result.rows = gc.get_freeze_count()


@pytest.mark.skipif(not can_fork(), reason="recording processes are forked")
def test_a_recording_process_freezes_what_it_inherited_and_leaves_the_parent_as_it_was():
    from zvt_ccxt.backfill.summary import SymbolResult
    from zvt_ccxt.recorders.processes import run_forked

    gc.unfreeze()
    keep_alive = [{"inherited": i} for i in range(20_000)]  # tracked objects the children inherit
    results = [SymbolResult(f"e{i}", f"S{i}") for i in range(2)]
    run_forked(["a", "b"], results, _count_frozen, processes=2, exchange_ids=["exchange"])
    assert all(result.rows >= len(keep_alive) for result in results), [r.rows for r in results]
    assert gc.get_freeze_count() == 0
