"""Cluster measurements (benchmark 8), each run in its own process by ``benchmarks.harness.run_child``: the
recorder as jobs on a local Dask cluster against ``benchmarks.server``, its workers bound to given loopback
addresses, which the server limits separately. With ``db_url`` every run writes into that PostgreSQL database
(the workers inherit ``ZVT_CCXT_DB_URL``), else into the run's own ``ZVT_HOME``."""

from __future__ import annotations

import functools
import os
import time

from benchmarks.backfill import NOW_MS, span


def _use_database(db_url: str | None) -> None:
    """Point this process (and the workers it starts) at ``db_url``, before anything opens the store."""
    if db_url:
        os.environ["ZVT_CCXT_DB_URL"] = db_url


def _client_hook(base_url: str, rate_limit_ms: float | None):
    from zvt_ccxt_testkit.simulator import repoint

    def hook(exchange) -> None:
        repoint(exchange, base_url)
        exchange.enableRateLimit = True
        if rate_limit_ms:
            exchange.rateLimit = rate_limit_ms

    return hook


def _at_window_start() -> None:
    """Wait until a new limit window opens (binance counts weight per clock minute, and so does the server): every
    timed run starts with a whole window of time ahead of its first allowance, not a lottery of what is left of
    the minute its set-up ended in (which would count as free time, or as waiting, in the run's rate)."""
    from zvt_ccxt.exchange.limiter import WINDOW_MARGIN, budget_floor
    from zvt_ccxt.exchange.profiles import profile_for

    window = profile_for("binance").rate_limit_window
    if window:
        now = time.time()
        time.sleep(budget_floor(now, window) + window + WINDOW_MARGIN - now)


def _warm_worker() -> None:
    """What a worker's first job loads once (the recorders' imports, the exchange's markets), loaded now: every
    worker is warm before a run is timed, not only the one the warm-up job happened to run on."""
    from zvt_ccxt.cluster import worker
    from zvt_ccxt.exchange.client import get_client
    from zvt_ccxt.recorders import kdata  # noqa: F401

    worker.configure()  # the markets' request spends the address's shared budget, as a job's would
    get_client("binance").load_markets()


def record(
    base_url: str,
    days: int,
    symbols: list[str],
    egress: list[str],
    workers: int,
    threads: int,
    overhead_symbol: str | None = None,
    rate_limit_ms: float | None = None,
    db_url: str | None = None,
) -> dict:
    """``CryptoPair1mKdata.record_data(client=...)`` on ``workers`` processes of ``threads`` threads, the i-th
    bound to ``egress[i % len(egress)]``; with ``overhead_symbol``, first that one symbol alone (timed)."""
    _use_database(db_url)
    from distributed import Client

    from zvt_ccxt import clock
    from zvt_ccxt.cluster import WorkerSetup, local_cluster
    from zvt_ccxt.domain import CryptoPair, CryptoPair1mKdata
    from zvt_ccxt.exchange.client import client_hook
    from zvt_ccxt_testkit.simulated_exchanges import point_this_process

    start, _ = span(days)
    result: dict = {}
    with clock.frozen(NOW_MS), client_hook(_client_hook(base_url, rate_limit_ms)):
        CryptoPair.record_data(provider="ccxt", exchange="binance")
        started = time.perf_counter()
        with local_cluster(workers, egress=egress, threads=threads) as cluster, Client(cluster) as dask:
            dask.register_plugin(WorkerSetup(functools.partial(
                point_this_process, base_url, NOW_MS, rate_limit=True, rate_limit_ms=rate_limit_ms
            )))
            dask.wait_for_workers(workers)
            dask.run(_warm_worker)
            result["cluster_start_seconds"] = time.perf_counter() - started
            if overhead_symbol:
                # warm the workers (imports, markets) on a day the runs below do not ask for
                warm = CryptoPair1mKdata.record_data(
                    provider="ccxt", exchange="binance", symbols=[overhead_symbol], client=dask,
                    start_timestamp=start - 86_400_000, end_timestamp=start,
                )
                assert warm.ok, str(warm)
                began = time.perf_counter()
                one = CryptoPair1mKdata.record_data(
                    provider="ccxt", exchange="binance", symbols=[overhead_symbol], start_timestamp=start, client=dask
                )
                result["one_symbol_seconds"] = time.perf_counter() - began
                result["one_symbol_rows"] = one.rows
            _at_window_start()
            began = time.perf_counter()
            summary = CryptoPair1mKdata.record_data(
                provider="ccxt", exchange="binance", symbols=symbols, start_timestamp=start, client=dask
            )
            result["seconds"] = time.perf_counter() - began
    result.update(
        rows=summary.rows,
        requests=sum(r.requests for r in summary.results),
        ok=summary.ok,
        errors=[r.error for r in summary.failed][:3],
        load_average=os.getloadavg()[0],
    )
    return result


def record_local(
    base_url: str, days: int, symbols: list[str], rate_limit_ms: float | None = None, db_url: str | None = None
) -> dict:
    """The single-process recorder (its default, one symbol at a time) over ``symbols``."""
    _use_database(db_url)
    from zvt_ccxt import clock
    from zvt_ccxt.domain import CryptoPair, CryptoPair1mKdata
    from zvt_ccxt.exchange.client import client_hook

    start, _ = span(days)
    with clock.frozen(NOW_MS), client_hook(_client_hook(base_url, rate_limit_ms)):
        CryptoPair.record_data(provider="ccxt", exchange="binance")
        _at_window_start()
        began = time.perf_counter()
        summary = CryptoPair1mKdata.record_data(provider="ccxt", exchange="binance", symbols=symbols,
                                                start_timestamp=start)
        return {"seconds": time.perf_counter() - began, "rows": summary.rows, "ok": summary.ok,
                "errors": [r.error for r in summary.failed][:3]}


def record_local_one(
    base_url: str, days: int, symbol: str, rate_limit_ms: float | None = None, db_url: str | None = None
) -> dict:
    """The local recorder on one symbol, after a warm-up day it does not time (the cluster's overhead baseline)."""
    _use_database(db_url)
    from zvt_ccxt import clock
    from zvt_ccxt.domain import CryptoPair, CryptoPair1mKdata
    from zvt_ccxt.exchange.client import client_hook

    start, _ = span(days)
    with clock.frozen(NOW_MS), client_hook(_client_hook(base_url, rate_limit_ms)):
        CryptoPair.record_data(provider="ccxt", exchange="binance")
        CryptoPair1mKdata.record_data(
            provider="ccxt", exchange="binance", symbols=[symbol], start_timestamp=start - 86_400_000,
            end_timestamp=start,
        )
        began = time.perf_counter()
        one = CryptoPair1mKdata.record_data(
            provider="ccxt", exchange="binance", symbols=[symbol], start_timestamp=start
        )
        return {"seconds": time.perf_counter() - began, "rows": one.rows}
