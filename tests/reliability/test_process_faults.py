"""Recorders killed with SIGKILL mid-backfill, and recorders writing one database at once, each in a process of
its own against the simulator served here: the table must equal an uninterrupted run's, row for row.
The long kill loop runs in ``tools/reliability.py``."""

from dataclasses import replace

import pytest

import zvt_ccxt
from zvt_ccxt import levels
from zvt_ccxt.domain import kdata_schema
from zvt_ccxt_testkit import SIM_NOW_MS, simulated
from zvt_ccxt_testkit.reliability.harness import clear_tables, retry_policy, table_rows
from zvt_ccxt_testkit.reliability.process import ChildJob, concurrent_writers, kill_and_resume

SCHEMA = kdata_schema("cryptopair", "1m")
SYMBOLS = ("BTC/USDT", "ETH/USDT")
START_MS = levels.bar_start(SIM_NOW_MS, "1d") - 2 * levels.DAY_MS
PAGE_CAP = 100


@pytest.fixture(scope="module")
def served():
    """The simulator, and the table an uninterrupted in-process run of the same job leaves."""
    with retry_policy(), simulated(page_cap=PAGE_CAP) as simulator:
        clear_tables()
        summary = SCHEMA.record_data(
            provider="ccxt", exchange="binance", symbols=list(SYMBOLS), start_timestamp=START_MS
        )
        assert summary.ok
        reference = table_rows(SCHEMA)
        clear_tables()
        job = ChildJob(simulator.base_url, SIM_NOW_MS, "binance", SYMBOLS, "1m", START_MS, PAGE_CAP)
        yield simulator, job, reference


def test_sigkill_at_random_points_then_resume_gives_the_uninterrupted_table(served, tmp_path, database):
    simulator, job, reference = served
    job = replace(job, db_url=database)
    outcome = kill_and_resume(simulator, job, tmp_path / "home", reference, SCHEMA, kills=2, seed=8)
    assert outcome.kills >= 1, outcome.kill_points
    assert outcome.rows_compared == len(reference) > 5_000
    assert outcome.passed, (outcome.problems, outcome.rows_lost, outcome.rows_differing, outcome.kill_points)


def test_processes_recording_the_same_symbols_at_once_store_each_row_once(served, tmp_path, database):
    _, job, reference = served
    job = replace(job, db_url=database)
    writers = 2 if database is None else 3  # SQLite admits one writer at a time; a server takes them together
    outcome = concurrent_writers(job, tmp_path / "home", reference, SCHEMA, writers=writers)
    assert outcome.survived == writers, outcome.problems
    if database is not None:  # the children's ledger is in the shared database: every bar accounted for, once
        report = zvt_ccxt.coverage_report(SCHEMA, exchange="binance")
        assert len(report) == len(SYMBOLS)
        assert (report.bars == report.expected_bars).all() and report.bars.sum() == len(reference)
        assert not report.failed_bars.any() and not report.unknown_bars.any()
    assert outcome.passed, (outcome.problems, outcome.rows_lost, outcome.rows_differing, outcome.duplicates)
