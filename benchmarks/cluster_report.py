"""Benchmark 8: the backfill as jobs on a local Dask cluster, under binance's request-weight limit per client
address, beside the single-process recorder, measured in the same run.

``python -m benchmarks --only cluster`` runs it with the other suites' conventions; ``python -m
benchmarks.cluster_report --symbols N --days D`` runs it alone at another size and prints the table. The store
is the shared PostgreSQL one a cluster writes into (the test kit's throwaway server, PostgreSQL's default
durability, emptied before each run) where PostgreSQL's binaries are found, else SQLite files (``--sqlite``
chooses them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import urllib.request

from benchmarks import backfill
from benchmarks.backfill_report import KLINES_WEIGHT, LATENCY_MS, WEIGHT_LIMIT, _server_args
from benchmarks.harness import Row, Table, rate, run_child, server_process
from benchmarks.server import bench_symbols

#: worker processes and threads of each (single-threaded workers over a 50 ms round trip reach ~17 requests a
#: second each; one address allows 50 klines requests a second)
WORKERS, THREADS = 2, 4
ADDRESSES = ("127.0.0.2", "127.0.0.3")


def _weights(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_bench/weights", timeout=10) as answer:
        return json.loads(answer.read())


def _run(symbol_count: int, weight_limit: int, **kwargs) -> dict:
    args = _server_args(kwargs["days"], symbols=symbol_count, latency_ms=LATENCY_MS, weight_limit=weight_limit)
    if kwargs.get("db_url"):
        run_child("postgres", "empty", db_url=kwargs["db_url"])
        run_child("postgres", "settle", db_url=kwargs["db_url"])
    with server_process(*args) as url:
        run = run_child(kwargs.pop("module", "cluster"), kwargs.pop("function", "record"), base_url=url, **kwargs)
        run.update(_weights(url))
    run["rate"] = run["rows"] / run["seconds"]
    return run


def run(symbols: int = 100, days: int = 30, weight_limit: int = WEIGHT_LIMIT, sqlite: bool = False) -> Table:
    """The table; ``weight_limit`` other than binance's scales ccxt's ``rateLimit`` to match (a unit is 5 weight)."""
    with contextlib.ExitStack() as stack:
        db_url = None if sqlite else _throwaway_server(stack)
        return _table(symbols, days, weight_limit, db_url)


def _throwaway_server(stack: contextlib.ExitStack) -> str | None:
    from benchmarks.postgres import DURABLE_SETTINGS
    from zvt_ccxt_testkit.postgres import PostgresUnavailable, throwaway_postgres

    try:
        return stack.enter_context(throwaway_postgres(settings=DURABLE_SETTINGS)).url
    except PostgresUnavailable:
        return None


def _table(symbols: int, days: int, weight_limit: int, db_url: str | None) -> Table:
    names = bench_symbols(symbols)
    rate_limit_ms = None if weight_limit == WEIGHT_LIMIT else 60_000 / (weight_limit / 5)
    allowed = weight_limit / 60 / KLINES_WEIGHT * backfill.PAGE
    limited = {"weight_limit": weight_limit, "days": days, "rate_limit_ms": rate_limit_ms, "db_url": db_url}
    single = _run(symbols, module="cluster", function="record_local", symbols=names, **limited)
    one = _run(symbols, symbols=names, egress=[], workers=WORKERS, threads=THREADS, overhead_symbol=names[0],
               **limited)
    two = _run(symbols, symbols=names, egress=list(ADDRESSES), workers=WORKERS, threads=THREADS, **limited)
    local_one = _run(symbols, module="cluster", function="record_local_one", symbol=names[0], **limited)
    fraction = one["rate"] / allowed
    scale = two["rate"] / one["rate"]
    overhead = one["one_symbol_seconds"] / local_one["seconds"]
    answers = {label: sum(r["limit_answers"].values()) for label, r in (("one", one), ("two", two))}
    table = Table(
        f"8. Cluster backfill: {symbols} symbols x {days} days of 1m, {LATENCY_MS} ms per request, "
        f"{weight_limit:,} weight/min per client address, into {'PostgreSQL' if db_url else 'SQLite'}"
    )
    table.rows += [
        Row("single-process recorder (workers=1)", rate(single["rate"]), f"allowed {rate(allowed)}",
            f"{single['rate'] / allowed:.0%}"),
        Row(f"cluster, one egress address ({WORKERS} workers x {THREADS} threads)", rate(one["rate"]),
            f"allowed {rate(allowed)}", f"{fraction:.0%}", ">= 90%", fraction >= 0.9),
        Row("rate-limit answers (429/418), one address", str(answers["one"]), "", "", "0", answers["one"] == 0),
        Row(f"cluster, two egress addresses ({', '.join(ADDRESSES)}; a worker each)", rate(two["rate"]),
            f"one address {rate(one['rate'])}", f"{scale:.2f}x", ">= 1.8x", scale >= 1.8),
        Row("rate-limit answers (429/418), two addresses", str(answers["two"]), "", "", "0", answers["two"] == 0),
        Row("most weight one address spent in a minute (one / two addresses)",
            f"{max(one['max_window_weight'].values())} / {max(two['max_window_weight'].values())}",
            f"limit {weight_limit:,}"),
        Row(f"one symbol x {days} days: cluster (warm workers) vs local recorder",
            f"{one['one_symbol_seconds']:.2f} s", f"{local_one['seconds']:.2f} s", f"{overhead:.2f}x"),
        Row("cluster start (scheduler + workers, imports)", f"{one['cluster_start_seconds']:.1f} s"),
    ]
    table.notes.append(
        "Each run is a process of its own with its own ZVT_HOME and server (the test kit's simulator, binance's "
        "weight limit enforced per client address, 50 ms added to every answer; a limit other than binance's 6,000 "
        "comes with ccxt's rateLimit scaled to match). The single-process recorder records one symbol at a time (its "
        "default). The cluster runs are "
        "`record_data(client=...)` on a local Dask cluster; workers bound to 127.0.0.2 and 127.0.0.3 are two "
        "addresses to the server, each with its own budget in the shared store. Times exclude the cluster's start. "
        + ("Store: the test kit's throwaway PostgreSQL 15 on the same cores (PostgreSQL's default durability), "
           "its tables emptied before each run." if db_url else "Store: SQLite files under each run's ZVT_HOME.")
        + " 1-minute load average at the end of each cluster run: "
        + ", ".join(f"{r.get('load_average', float('nan')):.1f}" for r in (one, two))
    )
    for label, r in (("single", single), ("one address", one), ("two addresses", two)):
        if not r.get("ok", True):
            table.notes.append(f"{label}: failures: {r.get('errors')}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--weight-limit", type=int, default=WEIGHT_LIMIT, help="per client address and minute")
    parser.add_argument("--sqlite", action="store_true", help="SQLite files under each run's ZVT_HOME, not PostgreSQL")
    args = parser.parse_args()
    print(run(args.symbols, args.days, args.weight_limit, args.sqlite).markdown())


if __name__ == "__main__":
    main()
