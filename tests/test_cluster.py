"""Recording on a Dask cluster: two single-threaded worker processes against the REST simulator, which limits
binance's request weight per client address and counts it (the ground truth here).

A compressed minute: the simulator allows ``LIMIT`` weight a minute per address, and every ccxt client is told
the matching ``rateLimit``, so the runs meet the limit in seconds rather than at binance's 6,000.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("distributed")

from distributed import Client  # noqa: E402

from zvt_ccxt.backfill.pager import REQUESTS_IN_FLIGHT  # noqa: E402
from zvt_ccxt_testkit import simulated  # noqa: E402
from zvt_ccxt_testkit.simulated_exchanges import point_this_process  # noqa: E402
from zvt_ccxt_testkit.simulator.server import WeightLimit  # noqa: E402

from conftest import DATABASES, SIM_NOW, empty_store  # noqa: E402

#: request weight a minute per client address
LIMIT = 1200
#: ccxt's ms per cost unit for that limit: a unit is 5 weight (binance klines: cost 0.4, weight 2)
RATE_LIMIT_MS = 60_000 / (LIMIT / 5)
PAGE = 100
SYMBOLS = ["BTC/USDT", "ETH/USDT", "LUNA/USDT"]
DAY_MS = 86_400_000
START = (SIM_NOW // 60_000) * 60_000 - DAY_MS
#: bars of a job's window
WINDOW_BARS = 500
#: how long a job may store nothing before its worker is restarted, in these tests
STALL_SECONDS = 5.0
FAST_RETRY = {"attempts": 4, "initial_wait": 0.05, "max_wait": 0.2, "max_server_wait": 10}


@pytest.fixture(scope="module")
def exchange():
    """The simulator on 127.0.0.1-3, this process pointed at it (clock frozen, rate limited as the workers)."""
    limit = WeightLimit(limit=LIMIT)
    with simulated(
        SIM_NOW, page_cap=PAGE, rate_limit=True, rate_limit_ms=RATE_LIMIT_MS, weight_limit=limit, latency_ms=5,
        hosts=("127.0.0.2", "127.0.0.3"),
    ) as simulator:
        yield simulator


@pytest.fixture(scope="module", params=DATABASES)
def shared_store(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The store the driver and the workers share, one module pass per entry of ``DATABASES``: zvt's SQLite files
    under this session's ``ZVT_HOME``, or the session's PostgreSQL server (``ZVT_CCXT_DB_URL``)."""
    from zvt_ccxt.config import DB_URL_ENV

    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with pytest.MonkeyPatch.context() as patch:
        if url is None:
            patch.delenv(DB_URL_ENV, raising=False)
        else:
            patch.setenv(DB_URL_ENV, url)
        yield url


@pytest.fixture(scope="module")
def client(exchange, shared_store):
    """Two single-threaded worker processes, pointed at the simulator and the shared store like this process."""
    from zvt_ccxt.cluster import WorkerSetup, local_cluster

    setup = functools.partial(
        point_this_process, exchange.base_url, SIM_NOW, page_cap=PAGE, rate_limit=True,
        rate_limit_ms=RATE_LIMIT_MS, retry=FAST_RETRY,
    )
    with local_cluster(2) as cluster, Client(cluster) as dask:
        dask.register_plugin(WorkerSetup(setup))
        yield dask


@pytest.fixture
def clean(exchange, shared_store, store, request):
    exchange.clear_faults()
    # each case gets the address's whole minute: the driver's own runs and the workers' spend one address's limit
    # from budgets of their own, and cases run back to back would otherwise add up within a minute
    exchange.start_new_windows()
    if "client" in request.fixturenames:
        # both workers up: one killed or restarted by an earlier case starts again slowly on loaded cores (each
        # imports zvt), and a case meant for two workers would otherwise run, and time out, on one
        request.getfixturevalue("client").wait_for_workers(2, timeout=240)
    yield exchange


def _schema():
    from zvt_ccxt.domain import kdata_schema

    return kdata_schema("cryptopair", "1m")


def _record(symbols, **kwargs):
    return _schema().record_data(
        provider="ccxt", exchange="binance", symbols=symbols, start_timestamp=START, window_bars=WINDOW_BARS, **kwargs
    )


def _stored_rows():
    from zvt_ccxt.store.engines import engine_for

    schema = _schema()
    columns = ", ".join(f'"{c}"' for c in ["id", *sorted(set(schema.__table__.columns.keys()) - {"id"})])
    with engine_for(schema).connect() as connection:
        result = connection.exec_driver_sql(f'SELECT {columns} FROM "{schema.__tablename__}" ORDER BY "id"')
        return [tuple(row) for row in result]


def _weight_within_limit(simulator, before: dict[tuple[str, int], int]) -> dict[str, int]:
    """Weight per address over the windows spent in since ``before`` (a copy of the simulator's record), each
    checked against the limit. Windows are whole minutes: one an earlier case spent in (another address, the minute
    before) is not this run's."""
    used = {key: weight for key, weight in simulator.weight_used.items() if before.get(key) != weight}
    assert used, "no weight counted: the limit was not in force"
    assert max(used.values()) <= LIMIT
    totals: dict[str, int] = {}
    for (address, _), weight in used.items():
        totals[address] = totals.get(address, 0) + weight
    return totals


def _assert_complete(summary, whole_run: bool = True):
    """Every symbol's bars and windows stored; ``whole_run``: this run fetched them all (not only what was left)."""
    from zvt_ccxt import store
    from zvt_ccxt.backfill import coverage

    schema = _schema()
    assert summary.ok, str(summary)
    end = (SIM_NOW // 60_000) * 60_000
    for result in summary.results:
        truth = _truth(result.symbol)
        stored = store.reads.bar_times_ms(schema, result.entity_id)
        assert sorted(stored) == [row[0] for row in truth]  # read unordered: PostgreSQL moves an updated row
        assert result.rows == len(truth) if whole_run else result.rows <= len(truth)
        windows = store.coverage.windows(schema.__tablename__, result.entity_id)
        assert coverage.missing_ranges(START, end, windows) == []
        assert not [w for w in windows if w.status == "failed"]
        # the workers saved the driver's source: the simulator, not the exchange
        assert {w.source for w in windows} == {"simulator"}


def _truth(symbol):
    return _truth_of(symbol)


@functools.cache
def _truth_of(symbol):
    from zvt_ccxt_testkit import SIM_NOW_MS
    from zvt_ccxt_testkit.simulator import ExchangeSimulator

    reference = ExchangeSimulator(now_ms=SIM_NOW_MS)
    end = (SIM_NOW // 60_000) * 60_000
    return [row for row in reference.ohlcv("binance", symbol, "1m", START, end - 1)]


def test_cluster_run_is_complete_within_the_limit_and_sums_up_like_a_local_run(clean, client):
    began, weights_before = time.time(), dict(clean.weight_used)
    updates = []
    summary = _record(SYMBOLS, client=client, on_update=updates.append)
    _assert_complete(summary)
    assert [r.symbol for r in summary.results] == SYMBOLS
    assert updates and updates[-1].symbols_done == len(SYMBOLS) and updates[-1].rows == summary.rows
    assert "3/3 symbols" in updates[-1].line()
    assert clean.limit_answers == {}
    totals = _weight_within_limit(clean, weights_before)
    assert set(totals) == {"127.0.0.1"}
    # the jobs had readable keys, one per symbol and window
    keys = {r["query"].get("symbol") for r in clean.requests if r["path"].endswith("/klines") and r["at"] >= began}
    assert keys == {s.replace("/", "") for s in SYMBOLS}

    # a second run plans nothing: the ledger says every window is done
    again = _record(SYMBOLS, client=client)
    assert again.ok and again.rows == 0 and sum(r.requests for r in again.results) == 0


def test_workers_with_their_own_egress_address_each_get_a_budget(clean, client):
    from zvt_ccxt.cluster import worker

    addresses = sorted(client.scheduler_info()["workers"])
    try:
        for address, egress in zip(addresses, ("127.0.0.2", "127.0.0.3"), strict=True):
            assert client.run(worker.configure, egress, workers=[address]) == {address: egress}
        weights_before = dict(clean.weight_used)
        summary = _record(SYMBOLS, client=client)
    finally:
        client.run(worker.configure, worker.DEFAULT_EGRESS)
    _assert_complete(summary)
    totals = _weight_within_limit(clean, weights_before)
    assert totals.get("127.0.0.2", 0) > 0 and totals.get("127.0.0.3", 0) > 0
    assert clean.limit_answers == {}


def test_a_429_seen_by_one_worker_pauses_both(clean, client):
    from zvt_ccxt.cluster.budget import DEFAULT_EGRESS
    from zvt_ccxt.store import budget

    began = time.time()
    # the fifth klines request is refused with a 2 s wait; every request of that address must hold meanwhile
    clean.inject("binance", "/klines", 429, {"code": -1003, "msg": "Too many requests"}, headers={"Retry-After": "2"},
                 skip=4)
    summary = _record(SYMBOLS, client=client)
    _assert_complete(summary)
    mine = [r for r in clean.requests if r["at"] >= began]  # the simulator outlives one test
    refused = [r for r in mine if r["fault"]]
    assert len(refused) == 1
    # the worker refused stored the pause the exchange asked for (``until`` is 2 s after it stored it)
    until = budget.paused_until(budget.budget_id("binance", DEFAULT_EGRESS))
    stored_at = until - 2.0
    assert stored_at >= refused[0]["at"]
    # once the pause is stored, nothing goes out before it ends but a request already given its turn (binance's
    # minute allowance goes out at once): the refused worker's other one and the other worker's, at most, since a
    # single-threaded worker has its pager's requests in flight, however loaded the machine
    held = [r for r in mine if stored_at < r["at"] < until]
    assert len(held) <= 2 * REQUESTS_IN_FLIGHT - 1, [round(r["at"] - stored_at, 3) for r in held]
    assert [r for r in mine if r["at"] >= until], "nothing was asked after the pause"


def test_a_worker_killed_mid_run_leaves_the_tables_of_a_clean_local_run(clean, client):
    symbols = SYMBOLS[:3]
    local = _record(symbols)
    assert local.ok
    expected = _stored_rows()
    empty_store()

    progress = threading.Event()
    outcome = {}

    def on_update(view):
        if view.jobs_done >= 2:
            progress.set()

    def run():
        outcome["summary"] = _record(symbols, client=client, on_update=on_update)

    runner = threading.Thread(target=run)
    runner.start()
    assert progress.wait(60), "no job finished"
    pids = client.run(os.getpid)
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    runner.join(120)
    assert not runner.is_alive()
    summary = outcome["summary"]
    # a job whose worker died after storing its window but before its result reached the driver runs again, finds
    # the window done and stores nothing: the summary may count fewer rows than the tables hold (docs/cluster.md)
    _assert_complete(summary, whole_run=False)
    assert [r.symbol for r in summary.results] == [r.symbol for r in local.results]
    rows = _stored_rows()
    assert len(rows) == len({row[0] for row in rows})
    assert rows == expected


def test_a_job_that_stops_making_progress_is_given_up_and_run_again(clean, client):
    from zvt_ccxt_testkit.simulated_exchanges import hang_next_request

    symbols = SYMBOLS[:2]
    local = _record(symbols)
    assert local.ok
    expected = _stored_rows()
    empty_store()

    before = client.run(os.getpid)
    hung = sorted(before)[0]
    client.run(hang_next_request, "/klines", workers=[hung])
    outcome = {}
    runner = threading.Thread(
        target=lambda: outcome.update(summary=_record(symbols, client=client, stall_seconds=STALL_SECONDS)),
        daemon=True,
    )
    runner.start()
    runner.join(STALL_SECONDS + 120)  # a replaced worker process imports zvt again: up to 110 s on 2 loaded cores
    assert not runner.is_alive(), "the run still waits for the hung job"
    _assert_complete(outcome["summary"])
    # the hung worker's process was replaced, and its job ran again
    assert before[hung] not in client.run(os.getpid).values()
    rows = _stored_rows()
    assert len(rows) == len({row[0] for row in rows})
    assert rows == expected


def test_the_database_restarted_mid_run_leaves_the_tables_of_a_clean_local_run(clean, client, shared_store, request):
    if shared_store is None:
        pytest.skip("a database server to restart: the PostgreSQL case")
    server = request.getfixturevalue("postgres_server")
    symbols = SYMBOLS[:2]
    local = _record(symbols)
    assert local.ok
    expected = _stored_rows()
    empty_store()

    progress = threading.Event()
    outcome = {}

    def on_update(view):
        if view.jobs_done >= 1:
            progress.set()

    runner = threading.Thread(
        target=lambda: outcome.update(summary=_record(symbols, client=client, on_update=on_update)), daemon=True
    )
    runner.start()
    assert progress.wait(60), "no job finished"
    server.restart("immediate")  # a crash: every connection breaks, committed rows stay
    runner.join(90)
    assert not runner.is_alive()
    summary = outcome["summary"]
    _assert_complete(summary)
    assert [(r.symbol, r.rows) for r in summary.results] == [(r.symbol, r.rows) for r in local.results]
    rows = _stored_rows()
    assert len(rows) == len({row[0] for row in rows})
    assert rows == expected


def _windows_covered(symbols) -> int:
    """Windows of the run's plan (``WINDOW_BARS`` bars each from ``START``) the ledger covers in full."""
    from zvt_ccxt import store
    from zvt_ccxt.backfill import coverage
    from zvt_ccxt.cluster.planning import windows_of

    schema = _schema()
    end = (SIM_NOW // 60_000) * 60_000
    covered = 0
    for symbol in symbols:
        entity_id = f"cryptopair_binance_{symbol.replace('/', '').lower()}"
        done = store.coverage.windows(schema.__tablename__, entity_id)
        covered += sum(1 for low, high in windows_of(START, end, WINDOW_BARS * 60_000)
                       if not coverage.missing_ranges(low, high, done))
    return covered


def test_a_run_after_the_scheduler_died_plans_only_what_is_missing_and_ends_like_a_clean_run(clean, client):
    from distributed import LocalCluster

    from zvt_ccxt.cluster import worker
    from zvt_ccxt.errors import ZvtCcxtError
    from zvt_ccxt.exchange import limiter

    symbols = SYMBOLS[:2]
    local = _record(symbols)
    assert local.ok
    expected = _stored_rows()
    all_windows = _windows_covered(symbols)  # the clean run covers every window
    empty_store()

    # a scheduler of its own, whose one worker runs in this process (already pointed at the simulator)
    doomed = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    progress = threading.Event()
    outcome: dict = {}
    try:
        with Client(doomed, timeout="5s") as lost:

            def run() -> None:
                try:
                    outcome["summary"] = _record(symbols, client=lost,
                                                 on_update=lambda view: view.jobs_done >= 2 and progress.set())
                except ZvtCcxtError as error:
                    outcome["error"] = error

            runner = threading.Thread(target=run, daemon=True)
            runner.start()
            assert progress.wait(60), "no job finished"
            doomed.sync(doomed.scheduler.close)  # the scheduler dies mid-run
            runner.join(120)
            assert not runner.is_alive(), "the run did not end when its scheduler died"
    finally:
        with contextlib.suppress(Exception):
            doomed.close(timeout=60)  # waits for the job its worker was running
        worker._configured = None  # this process, a worker for a while, is the driver again
        limiter.use_budgets(None)
    assert "lost the Dask scheduler" in str(outcome.get("error")), outcome
    covered = _windows_covered(symbols)
    assert 2 <= covered < all_windows

    # the same run again, on another scheduler: only the windows the ledger misses are planned
    views = []
    summary = _record(symbols, client=client, on_update=views.append)
    _assert_complete(summary, whole_run=False)
    assert views and views[-1].jobs == all_windows - covered
    rows = _stored_rows()
    assert len(rows) == len({row[0] for row in rows})
    assert rows == expected


def test_record_command_runs_on_the_scheduler_with_one_progress_line(clean, client, capsys):
    from zvt_ccxt.cli import main

    since = "2025-05-31T13:00"
    code = main(["record", "-e", "binance", "-s", "BTC/USDT,ETH/USDT", "--level", "1m", "--since", since,
                 "--scheduler", client.scheduler.address, "--progress", "plain"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "2/2 symbols" in err and "0 failed" in err
    assert "BTC/USDT" in out and "ETH/USDT" in out


def test_record_command_refuses_a_scheduler_with_a_replay(capsys):
    from zvt_ccxt.cli import main

    code = main(["record", "-e", "okx", "-s", "BTC/USDT", "--scheduler", "local:2", "--replay", "okx-backfill"])
    assert code == 2
    assert "--scheduler and --replay" in capsys.readouterr().err
