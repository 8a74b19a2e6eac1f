"""Backfill vs freqtrade's ``download-data``: the same local binance server, interleaved in one run.

Three workloads: (a) one year of 1m of one pair, (b) 20 pairs x 90 days of 1m, both with no latency, and (c) the
same 20 pairs over 50 ms a request with binance's request-weight limit (6,000 a minute) enforced by the server.
For each, one round after another: freqtrade's whole command, zvt-ccxt's whole command (``zvt-ccxt record``),
freqtrade in-process (``start_download_data`` timed after its imports) and zvt-ccxt in-process
(``record_data``, as ``benchmarks.backfill.record``). Both tools read the server through their own ccxt client
with every REST URL of ``urls["api"]`` pointed at it (freqtrade: ``exchange.ccxt_config``, ``only_from_ccxt`` so
it does not read binance's public archives; zvt-ccxt: ``ZVT_CCXT_BINANCE_OPTIONS``), each with its own default
rate limiting. Candles are counted in what each stored: in the asked range, missing, duplicated.
"""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks import backfill
from benchmarks.backfill_report import LATENCY_MS, WEIGHT_LIMIT, _server_args
from benchmarks.harness import PYTHONPATH, ROOT, MeasurementFailed, Row, Table, rate, run_child, server_process
from benchmarks.server import bench_symbols

REPEAT = int(os.environ.get("ZVT_CCXT_BENCH_PEER_REPEAT") or 3)
#: (name, pairs, days, latency ms, weight limit)
WORKLOADS = (
    ("a. 1 pair x 365 days of 1m", 1, 365, 0, 0),
    ("b. 20 pairs x 90 days of 1m", 20, 90, 0, 0),
    ("c. 20 pairs x 90 days, 50 ms latency, 6,000 weight/min", 20, 90, LATENCY_MS, WEIGHT_LIMIT),
)
QUICK_DAYS = {365: 20, 90: 3}


def _pairs(count: int) -> list[str]:
    return [backfill.SYMBOL] if count == 1 else bench_symbols(count)


def _api_urls(base_url: str) -> dict:
    """binance's ``urls["api"]`` with every REST URL on the server and every websocket URL on a refused path."""
    import ccxt

    from zvt_ccxt_testkit.simulator import repoint

    exchange = repoint(ccxt.binance(), base_url)
    api = dict(exchange.urls["api"])
    local_ws = base_url.replace("http://", "ws://") + "/_no_websocket"
    for key, value in list(api.items()):
        if isinstance(value, dict):
            api[key] = {k: local_ws for k in value}
        elif isinstance(value, str) and value.startswith("ws"):
            api[key] = local_ws
    return api


def _day(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y%m%d")


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d")


def _statuses(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/_bench/stats", timeout=10) as answer:
        return json.loads(answer.read())


def _fresh_start(base_url: str) -> dict:
    """The server's counts of requests by status, after giving every address a new limit window: each run (either
    tool's) starts with the whole allowance of a minute, not what the run before it left."""
    with urllib.request.urlopen(f"{base_url}/_bench/fresh_window", timeout=10) as answer:
        answer.read()
    return _statuses(base_url)


def _delta(after: dict, before: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0)}


# -- freqtrade ------------------------------------------------------------------------------------------


def _freqtrade(python: Path, base_url: str, pairs: list[str], days: int, inprocess: bool) -> dict:
    start, end = backfill.span(days)
    with tempfile.TemporaryDirectory(prefix="freqtrade-bench-") as scratch:
        api = _api_urls(base_url)
        ccxt_config = {"urls": {"api": api}, "options": {"fetchMarkets": {"types": ["spot"]}}}
        config = {
            "exchange": {"name": "binance", "key": "", "secret": "", "only_from_ccxt": True, "enable_ws": False,
                         "ccxt_config": ccxt_config, "ccxt_async_config": ccxt_config, "pair_whitelist": pairs},
            "stake_currency": "USDT", "dry_run": True, "trading_mode": "spot", "dataformat_ohlcv": "feather",
            "user_data_dir": scratch, "datadir": f"{scratch}/data", "pairlists": [{"method": "StaticPairList"}],
        }
        (Path(scratch) / "config.json").write_text(json.dumps(config))
        argv = ["download-data", "--config", f"{scratch}/config.json", "--pairs", *pairs, "--timeframes", "1m",
                "--timerange", f"{_day(start)}-{_day(end)}", "--datadir", f"{scratch}/data", "--exchange", "binance",
                "--data-format-ohlcv", "feather"]
        out = Path(scratch) / "result.json"
        side = {"datadir": f"{scratch}/data", "pairs": pairs, "start_ms": start, "end_ms": end}
        before = _fresh_start(base_url)
        started = time.perf_counter()
        if inprocess:
            side.update(mode="inprocess", argv=argv)
            done = subprocess.run([str(python), str(ROOT / "benchmarks" / "freqtrade_side.py"), json.dumps(side),
                                   str(out)], capture_output=True, text=True, cwd=scratch, timeout=3600)
            whole = time.perf_counter() - started
        else:
            done = subprocess.run([str(python.parent / "freqtrade"), *argv], capture_output=True, text=True,
                                  cwd=scratch, timeout=3600)
            whole = time.perf_counter() - started
            side["mode"] = "count"
            subprocess.run([str(python), str(ROOT / "benchmarks" / "freqtrade_side.py"), json.dumps(side), str(out)],
                           capture_output=True, text=True, cwd=scratch, timeout=600)
        statuses = _delta(_statuses(base_url), before)
        if done.returncode != 0 or not out.exists():
            raise MeasurementFailed(f"freqtrade exited {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
        result = json.loads(out.read_text())
    result.setdefault("seconds", whole)
    result.update(whole_seconds=whole, statuses=statuses, requests=sum(statuses.values()))
    return result


# -- zvt-ccxt -------------------------------------------------------------------------------------------


def stored_candles(pairs: list[str], start_ms: int, end_ms: int, db_url: str | None = None) -> dict:
    """Candles of ``pairs`` in ``[start, end)`` in this process's store (run in a child with its ZVT_HOME), or in
    the PostgreSQL database ``db_url``."""
    first, last = (datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
                   for ms in (start_ms, end_ms))
    if db_url:
        import psycopg

        with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://", 1)) as connection:
            total, distinct, inside = connection.execute(
                "SELECT count(*), count(DISTINCT (entity_id, timestamp)), "
                "count(*) FILTER (WHERE timestamp >= %s AND timestamp < %s) FROM cryptopair_1m_kdata", (first, last)
            ).fetchone()
    else:
        from zvt_ccxt.domain import CryptoPair1mKdata
        from zvt_ccxt.store.engines import engine_for

        path = engine_for(CryptoPair1mKdata).url.database
        with sqlite3.connect(path) as connection:
            total, distinct, inside = connection.execute(
                "SELECT count(*), count(DISTINCT entity_id || timestamp), "
                "sum(timestamp >= ? AND timestamp < ?) FROM cryptopair_1m_kdata", (first, last)
            ).fetchone()
    expected = (end_ms - start_ms) // 60_000 * len(pairs)
    return {"expected": expected, "stored": total, "in_range": inside or 0, "missing": expected - (inside or 0),
            "duplicated": total - distinct}


def _emptied(db_url: str | None) -> str | None:
    """``db_url``'s store tables emptied (created where missing), for a run that starts from nothing."""
    if db_url:
        run_child("postgres", "empty", db_url=db_url)
        run_child("postgres", "settle", db_url=db_url)
    return db_url


def _ours_command(base_url: str, pairs: list[str], days: int, db_url: str | None = None) -> dict:
    start, end = backfill.span(days)
    _emptied(db_url)
    with tempfile.TemporaryDirectory(prefix="zvt-ccxt-bench-") as scratch:
        home = Path(scratch) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZVT_CCXT_", "CRYPTO_API_"))}
        env.update(ZVT_HOME=str(home), PYTHONPATH=PYTHONPATH,
                   ZVT_CCXT_BINANCE_OPTIONS=json.dumps({"urls": {"api": _api_urls(base_url)}}))
        if db_url:
            env["ZVT_CCXT_DB_URL"] = db_url
        command = [str(Path(sys.executable).parent / "zvt-ccxt"), "record", "--exchange", "binance", "--symbols",
                   ",".join(pairs), "--level", "1m", "--since", _iso(start), "--until", _iso(end), "--progress", "none"]
        before = _fresh_start(base_url)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=scratch, capture_output=True, text=True, timeout=3600)
        whole = time.perf_counter() - started
        statuses = _delta(_statuses(base_url), before)
        if done.returncode != 0:
            raise MeasurementFailed(f"zvt-ccxt record exited {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
        counted = run_child("peers_backfill", "stored_candles", home, pairs=pairs, start_ms=start, end_ms=end,
                            db_url=db_url)
    return {**counted, "seconds": whole, "whole_seconds": whole, "statuses": statuses,
            "requests": sum(statuses.values())}


def _ours_inprocess(base_url: str, pairs: list[str], days: int, limited: bool, db_url: str | None = None) -> dict:
    return _ours_inprocess_cfg(base_url, pairs, days, limited, _parallelism(len(pairs)), db_url)


def _parallelism(pairs: int) -> dict:
    """What ``zvt-ccxt record`` chooses by default: a process per core, 8 symbols at once in all."""
    if pairs < 2:
        return {}
    processes = min(os.cpu_count() or 1, pairs)
    return {"processes": processes, "workers": max(1, min(pairs, 8) // processes)}


def _ours_inprocess_cfg(
    base_url: str, pairs: list[str], days: int, limited: bool, options: dict, db_url: str | None = None
) -> dict:
    start, end = backfill.span(days)
    _emptied(db_url)
    if db_url:
        options = {**options, "db_url": db_url}
    with tempfile.TemporaryDirectory(prefix="zvt-ccxt-bench-") as scratch:
        home = Path(scratch) / "home"
        before = _fresh_start(base_url)
        started = time.perf_counter()
        result = run_child("backfill", "record", home, base_url=base_url, days=days, symbols=pairs, rate_limit=limited,
                           **options)
        whole = time.perf_counter() - started
        statuses = _delta(_statuses(base_url), before)
        counted = run_child("peers_backfill", "stored_candles", home, pairs=pairs, start_ms=start, end_ms=end,
                            db_url=db_url)
    return {**counted, "seconds": result["seconds"], "whole_seconds": whole, "statuses": statuses,
            "requests": sum(statuses.values())}


def _command_start(python: Path, url: str, pairs: list[str], repeat: int) -> Row:
    """Each tool's whole command over one day of one pair (two requests): what a user waits for beyond the
    download itself (imports, configuration, markets, closing), interleaved, median of ``repeat`` (at least 3)."""
    ours, theirs = [], []
    for _ in range(max(3, repeat)):
        theirs.append(_freqtrade(python, url, pairs, 1, inprocess=False)["seconds"])
        ours.append(_ours_command(url, pairs, 1)["seconds"])
    mine, peer = statistics.median(ours), statistics.median(theirs)
    return Row(f"command start: 1 pair x 1 day of 1m, whole command (median of {len(ours)}), SQLite",
               f"{mine:.2f} s", f"freqtrade {peer:.2f} s", f"{peer / mine:.2f}x faster", "reported")


# -- the table ------------------------------------------------------------------------------------------


def _median_rate(runs: list[dict]) -> float:
    return statistics.median(r["expected"] / r["seconds"] for r in runs)


def _quality(run: dict) -> str:
    refused = sum(v for k, v in run["statuses"].items() if k in ("429", "418"))
    return (f"{run['in_range']:,}/{run['expected']:,} in range, {run['missing']:,} missing, "
            f"{run['duplicated']:,} dup., {run['stored']:,} stored; {run['requests']:,} requests, {refused} 429/418")


#: the stores zvt-ccxt's side writes to: "sqlite" (ZVT_HOME's files) and "postgresql" (the test kit's throwaway
#: server, PostgreSQL's default durability), e.g. ``ZVT_CCXT_BENCH_PEER_DATABASES=sqlite`` for the first alone
DATABASES = tuple(
    name.strip() for name in (os.environ.get("ZVT_CCXT_BENCH_PEER_DATABASES") or "sqlite,postgresql").split(",")
    if name.strip()
)


def run(quick: bool = False) -> list[Table]:
    import contextlib

    with contextlib.ExitStack() as stack:
        db_url = None
        if "postgresql" in DATABASES:
            from benchmarks.postgres import DURABLE_SETTINGS
            from zvt_ccxt_testkit.postgres import throwaway_postgres

            db_url = stack.enter_context(throwaway_postgres(settings=DURABLE_SETTINGS)).url
        return _run(quick, db_url, with_sqlite="sqlite" in DATABASES)


def _run(quick: bool, db_url: str | None, with_sqlite: bool) -> list[Table]:
    from benchmarks.peers import peer_python, version

    python = peer_python("freqtrade")
    repeat = 1 if quick else REPEAT
    stores = ", ".join(name for name, on in (("SQLite", with_sqlite), ("PostgreSQL", bool(db_url))) if on)
    table = Table(f"8. Backfill vs freqtrade {version(python, 'freqtrade')} download-data, the same local binance "
                  f"server, {stores}")
    loads = []
    paths = [("ft_cmd", "freqtrade cmd"), ("ours_cmd", "zvt-ccxt cmd"), ("ft_in", "freqtrade in-process"),
             ("ours_in", "zvt-ccxt in-process"), ("ours_cmd_pg", "zvt-ccxt cmd PostgreSQL"),
             ("ours_in_pg", "zvt-ccxt in-process PostgreSQL")]
    for name, count, days, latency, limit in WORKLOADS:
        days = QUICK_DAYS[days] if quick else days
        pairs = _pairs(count)
        runs: dict[str, list[dict]] = {key: [] for key, _ in paths}
        server = _server_args(days, symbols=max(count, 2), latency_ms=latency, weight_limit=limit)
        with server_process(*server) as url:
            if count == 1:
                table.rows.append(_command_start(python, url, pairs, repeat))
            for _ in range(repeat):  # interleaved: each round runs every path once
                runs["ft_cmd"].append(_freqtrade(python, url, pairs, days, inprocess=False))
                if with_sqlite:
                    runs["ours_cmd"].append(_ours_command(url, pairs, days))
                if db_url:
                    runs["ours_cmd_pg"].append(_ours_command(url, pairs, days, db_url=db_url))
                runs["ft_in"].append(_freqtrade(python, url, pairs, days, inprocess=True))
                if with_sqlite:
                    runs["ours_in"].append(_ours_inprocess(url, pairs, days, limited=bool(limit)))
                if db_url:
                    runs["ours_in_pg"].append(_ours_inprocess(url, pairs, days, limited=bool(limit), db_url=db_url))
                loads.append(os.getloadavg()[0])
        for kind, ours_key, theirs_key in (("whole command", "ours_cmd", "ft_cmd"), ("in-process", "ours_in", "ft_in"),
                                           ("whole command, PostgreSQL", "ours_cmd_pg", "ft_cmd"),
                                           ("in-process, PostgreSQL", "ours_in_pg", "ft_in")):
            if not runs[ours_key]:
                continue
            ours, theirs = _median_rate(runs[ours_key]), _median_rate(runs[theirs_key])
            complete = all(r["missing"] == 0 and r["duplicated"] == 0 for r in runs[ours_key])
            refused = sum(v for r in runs[ours_key] for k, v in r["statuses"].items() if k in ("429", "418"))
            table.rows.append(Row(f"{name}, {kind}: candles/s (median of {repeat})", rate(ours),
                                  f"freqtrade {rate(theirs)}", f"{ours / theirs:.2f}x", ">= 2x, 100% stored, 0 429",
                                  ours >= 2 * theirs and complete and not refused))
            table.rows.append(Row(f"  zvt-ccxt {kind}: stored vs served, requests", _quality(runs[ours_key][-1])))
            if "PostgreSQL" not in kind:
                table.rows.append(Row(f"  freqtrade {kind}: stored vs served, requests",
                                      _quality(runs[theirs_key][-1])))
        shown = [(key, label) for key, label in paths if runs[key]]
        table.notes.append(
            f"{name}: seconds per round, " + " / ".join(label for _, label in shown) + ": "
            + "; ".join(" / ".join(f"{runs[key][i]['seconds']:.1f}" for key, _ in shown) for i in range(repeat))
        )
    table.notes.append(
        "Candles/s = candles asked for (pairs x days x 1,440) / seconds. Whole command: the command a user types, "
        "from start to exit (imports, markets, download, files). In-process: freqtrade's `start_download_data` "
        "after its imports (configuration and markets included); zvt-ccxt's `CryptoPair1mKdata.record_data` "
        f"({_parallelism(20)} for 20 pairs, what `zvt-ccxt record` picks here) after the markets were loaded, "
        "rate limiting on only in (c). freqtrade writes feather files without an index and keeps candles outside "
        "the asked range ('stored' counts them); zvt-ccxt "
        "writes SQLite with zvt's indexes and its coverage ledger, or PostgreSQL (`ZVT_CCXT_DB_URL`; the test "
        "kit's throwaway server on the same 2 cores, PostgreSQL's default durability, the tables emptied before "
        "each run). 1-minute load average after each round: "
        + ", ".join(f"{x:.1f}" for x in loads) + "."
    )
    return [table]
