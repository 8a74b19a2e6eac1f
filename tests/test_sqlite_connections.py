"""SQLite connections that come back from the pool with a statement still stepping (a ``PRAGMA journal_mode``
whose row nobody read, say): SQLite refuses every COMMIT on them ("cannot commit transaction - SQL statements in
progress") and holds an autocommitted statement's rows back, the file locked, until that statement ends. The
store discards such a connection and writes on a fresh one."""

import contextlib
import sqlite3

import pytest
from test_ledger_transaction import ENTITY, MINUTE_MS, START_MS, TABLE, _bar_times, _bars, _ledger, _windows

from zvt_ccxt import store
from zvt_ccxt.domain import Cryptopair1mKdata, CryptoTrade
from zvt_ccxt.domain.coverage import FETCHED
from zvt_ccxt.store.coverage import Window
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt.store.reads import trades
from zvt_ccxt.stream.rows import TRADES_TABLE

pytestmark = pytest.mark.usefixtures("store")  # zvt's SQLite files, empty


def _leave_a_statement_stepping(engine):
    """Return to ``engine``'s pool its one connection with a statement still stepping (a ``PRAGMA journal_mode``
    whose row nobody read: SQLite counts it as writing); the cursor is returned, to keep the statement alive."""
    engine.dispose()
    connection = engine.raw_connection()
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode")
    connection.close()
    return cursor


def test_a_pooled_connection_left_with_a_statement_stepping_does_not_fail_a_batch():
    """SQLite refuses to commit on a connection where a statement still steps ("cannot commit transaction - SQL
    statements in progress"): the batch and its window are written on a fresh connection instead."""
    window = Window(START_MS, START_MS + 10 * MINUTE_MS, FETCHED, 10)
    held = _leave_a_statement_stepping(engine_for(Cryptopair1mKdata))
    store.writer.prepare_bars(Cryptopair1mKdata, *_bars(10), ENTITY, together=_ledger(window))()
    assert _bar_times() == [START_MS + MINUTE_MS * i for i in range(10)]
    assert _windows() == [(window.start_ms, window.end_ms, FETCHED)]
    row = (f"{ENTITY}_1", ENTITY, "2025-06-01 00:00:00.000000", "BTCUSDT", "binance", START_MS, "1", 100.0, 1.0,
           100.0, "buy", "taker", "rest")
    trade_window = Window(START_MS, START_MS + MINUTE_MS, FETCHED, 1)
    trade_table = CryptoTrade.__tablename__
    held = [held, _leave_a_statement_stepping(engine_for(CryptoTrade))]
    assert store.writer.upsert(CryptoTrade, TRADES_TABLE.columns, [row],
                               together=_ledger(trade_window, table=trade_table)) == 1
    assert len(trades(ENTITY)) == 1
    assert _windows(trade_table) == [(trade_window.start_ms, trade_window.end_ms, FETCHED)]


def test_a_budget_statement_on_a_connection_left_stepping_is_redone_on_a_fresh_one():
    from zvt_ccxt.domain.budget import CcxtRateBudget
    from zvt_ccxt.store import budget

    held = _leave_a_statement_stepping(engine_for(CcxtRateBudget))
    key = budget.ensure("binance", "127.0.0.9")
    assert budget.reserve(key, 1_000.0, 0.5) == (1_000.5, 0.0)
    assert held is not None


def test_bars_written_alone_on_a_connection_left_stepping_are_committed():
    """A batch without windows is one statement in autocommit: on a connection where an earlier statement still
    steps, SQLite would keep its rows uncommitted (and the file locked) until that statement ends."""
    engine = engine_for(Cryptopair1mKdata)
    held = _leave_a_statement_stepping(engine)
    assert store.writer.prepare_bars(Cryptopair1mKdata, *_bars(10), ENTITY)() == 10
    with contextlib.closing(sqlite3.connect(engine.url.database, timeout=1)) as other:  # not one of the pool's
        stored = other.execute(f'SELECT count(*) FROM "{TABLE}" WHERE "entity_id" = ?', (ENTITY,)).fetchone()[0]
        other.execute(f'DELETE FROM "{TABLE}" WHERE "entity_id" = ?', (ENTITY,))  # the file is free to write
        other.rollback()
    assert stored == 10
    assert held is not None


def test_a_write_process_forked_while_this_process_writes_waits_its_turn_and_then_writes():
    """A fork copies this process's write lock of a file as it is: held, when a thread of the parent was writing.
    The forked writer takes a lock of its own instead, so it neither waits forever for a copy nobody will release
    nor shares the parent's turn: it writes once the parent is done."""
    import asyncio

    from zvt_ccxt.store.dialect import dialect_for
    from zvt_ccxt.store.write_process import WriteProcess

    engine = engine_for(CryptoTrade)
    row = ("w_1", "cryptopair_binance_btcusdt", "2025-06-01 00:00:00.000000", "btcusdt", "binance",
           1_748_736_000_000, "1", 100.0, 1.0, 100.0, "buy", "taker", "stream")
    process = WriteProcess()

    async def scenario() -> tuple[bool, int]:
        with dialect_for(engine).writing(engine):  # a parent's write under way when the child is forked
            process.start()
            write = asyncio.ensure_future(process.run("upsert_many", [(CryptoTrade, TRADES_TABLE.columns, [row])]))
            await asyncio.sleep(0.5)
            waited = not write.done()
        return waited, await asyncio.wait_for(write, 20)

    try:
        waited, written = asyncio.run(scenario())
    finally:
        process.close()
    assert waited, "the forked writer wrote while this process held the file's write lock"
    assert written == 1 and list(trades("cryptopair_binance_btcusdt")["trade_id"]) == ["1"]
