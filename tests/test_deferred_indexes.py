"""A large backfill of several series into SQLite builds the table's time index once, at its end
(``store/deferred_indexes.py``): the rows are the same as with the index kept, the index is back however the run
ends, a process killed in between leaves a note the next use builds it from, and a live deferral in another
process is left alone. PostgreSQL keeps its indexes."""

from __future__ import annotations

import multiprocessing
import os

import pandas as pd
import pytest
from sqlalchemy import inspect

from zvt_ccxt.domain import CryptoPair1mKdata
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store import deferred_indexes
from zvt_ccxt.store.dialect import dialect_for
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt.store.processes import can_fork

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
START = "2025-05-31"
TABLE = CryptoPair1mKdata.__tablename__


def _time_indexes() -> dict[str, list[str]]:
    """The table's indexes on ``timestamp`` alone, by name, as the database lists them."""
    engine = engine_for(CryptoPair1mKdata)
    return {i["name"]: i["column_names"] for i in inspect(engine).get_indexes(TABLE) if i["column_names"] == [
        "timestamp"]}


def _note_path() -> str:
    return engine_for(CryptoPair1mKdata).url.database + deferred_indexes.NOTE_SUFFIX


def _table() -> pd.DataFrame:
    frame = CryptoPair1mKdata.query_data(provider="ccxt", order=CryptoPair1mKdata.id.asc())
    return frame.drop(columns=["created_timestamp"], errors="ignore").reset_index(drop=True)


def _record(symbols=SYMBOLS, start=START, **options):
    return CryptoPair1mKdata.record_data(provider="ccxt", exchange="binance", symbols=symbols, start_timestamp=start,
                                         **options)


def _recording_indexes_seen(**options) -> tuple[object, list[bool]]:
    """Record, noting at each progress report whether the table had a time index."""
    seen: list[bool] = []
    summary = _record(progress=lambda result, done, total: seen.append(bool(_time_indexes())), **options)
    return summary, seen


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(deferred_indexes, "MIN_ROWS", 1_000)  # a simulated day and a half of two pairs: 4,388 bars


def test_a_large_backfill_of_several_series_runs_without_its_time_index_and_builds_it_at_the_end(
        sim, database, small_threshold):
    from conftest import empty_store

    before = _time_indexes()
    assert before  # zvt's own index on timestamp (and the store's own on PostgreSQL)
    summary, seen = _recording_indexes_seen(workers=2)
    assert summary.ok and summary.rows > 4_000 and seen
    if database:  # PostgreSQL: the writers do not take turns at one file, nothing is deferred
        assert all(seen) and _time_indexes() == before
        return
    assert not any(seen)  # every page was written without it
    assert _time_indexes() == before and not os.path.exists(_note_path())
    deferred = _table()

    empty_store()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deferred_indexes, "MIN_ROWS", 10**12)
        reference, seen_reference = _recording_indexes_seen(workers=2)
    assert reference.ok and all(seen_reference)
    pd.testing.assert_frame_equal(deferred, reference_table := _table())
    # the rebuilt index serves reads by time over all series
    middle = reference_table["timestamp"].iloc[len(reference_table) // 2]
    after = CryptoPair1mKdata.query_data(provider="ccxt", filters=[CryptoPair1mKdata.timestamp >= middle])
    assert len(after) == int((reference_table["timestamp"] >= middle).sum())


@pytest.mark.skipif(not can_fork(), reason="no fork on this platform: runs stay in one process")
def test_processes_write_without_it_and_the_parent_builds_it_once_all_have_ended(sim, small_threshold):
    before = _time_indexes()
    summary = _record(processes=2)
    assert summary.ok and summary.rows > 4_000 and len(summary.results) == 2
    assert _time_indexes() == before and not os.path.exists(_note_path())


def test_small_runs_single_series_and_runs_adding_little_to_a_large_table_keep_it(sim, small_threshold, monkeypatch):
    assert all(_recording_indexes_seen(symbols=["BTC/USDT"])[1])  # one series adds to the index's end
    assert _record(start="2025-05-28").ok  # the table holds four and a half days of two pairs: 13,000 bars
    # a day more of each is less than half of that
    summary, seen = _recording_indexes_seen(start="2025-05-27")
    assert summary.ok and summary.rows == 2 * 1_440 and all(seen)
    monkeypatch.setattr(deferred_indexes, "MIN_ROWS", 100_000)
    from conftest import empty_store

    empty_store()
    small, seen = _recording_indexes_seen()
    assert small.ok and all(seen)


def test_an_interrupted_run_builds_it_again(sim, small_threshold):
    before = _time_indexes()
    calls = []

    def stop(result, done, total):
        calls.append(done)
        if len(calls) == 3:
            raise KeyboardInterrupt

    summary = _record(progress=stop)
    assert any(r.interrupted for r in summary.results)
    assert _time_indexes() == before and not os.path.exists(_note_path())


def _defer_then(action: str, pipe) -> None:
    engine = engine_for(CryptoPair1mKdata)
    dialect = dialect_for(engine)
    with deferred_indexes.deferred(engine, TABLE, lambda: dialect.writing(engine)):
        pipe.send("deferring")
        if action == "die":
            os._exit(9)  # as a kill would: no cleanup runs
        pipe.recv()  # until told to end


def _restore() -> None:
    engine = engine_for(CryptoPair1mKdata)
    deferred_indexes.restore(engine, lambda: dialect_for(engine).writing(engine))


def _child_deferring(action: str):
    """A forked process holding the table's time index back, past its drop: (the process, our end of its pipe)."""
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    child = context.Process(target=_defer_then, args=(action, theirs))
    child.start()
    assert ours.recv() == "deferring"
    return child, ours


@pytest.mark.skipif(not can_fork(), reason="needs fork")
def test_a_process_killed_while_deferring_leaves_a_note_the_next_use_builds_it_from(store):
    before = _time_indexes()
    child, _ = _child_deferring("die")
    child.join()
    assert child.exitcode == 9
    assert _time_indexes() == {} and os.path.exists(_note_path())

    _restore()
    assert _time_indexes() == before and not os.path.exists(_note_path())


@pytest.mark.skipif(not can_fork(), reason="needs fork")
def test_a_live_deferral_in_another_process_is_left_alone_until_it_ends(store):
    before = _time_indexes()
    child, ours = _child_deferring("wait")
    try:
        _restore()  # another process starting, or a run of its own ending
        assert _time_indexes() == {} and os.path.exists(_note_path())
    finally:
        ours.send("end")
        child.join()
    assert child.exitcode == 0
    assert _time_indexes() == before and not os.path.exists(_note_path())


def test_an_unreadable_note_is_named_and_kept(store, caplog):
    with open(_note_path(), "w") as file:
        file.write("{not json")
    try:
        _restore()
        assert os.path.exists(_note_path())
        assert any("could not be built again" in r.getMessage() and deferred_indexes.NOTE_SUFFIX in r.getMessage()
                   for r in caplog.records)
        with pytest.raises(StorageError, match="not a note of indexes"):
            deferred_indexes._read_note(_note_path())
    finally:
        os.unlink(_note_path())


def test_a_drop_that_fails_leaves_the_index_and_the_backfill_goes_on(sim, small_threshold, monkeypatch, caplog):
    before = _time_indexes()

    def refused(*_args):
        raise StorageError("database is locked")

    monkeypatch.setattr(deferred_indexes, "_drop", refused)
    summary, seen = _recording_indexes_seen(workers=2)
    assert summary.ok and summary.rows > 4_000 and all(seen)
    assert _time_indexes() == before and not os.path.exists(_note_path())
    assert any("the time index is kept during this backfill: database is locked" in r.getMessage()
               for r in caplog.records)
