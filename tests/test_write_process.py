"""Where a stream's writes run: in a forked process (``store.write_process``) rows land on each database, a failed or
killed writer is retried with nothing lost and Ctrl-C does not end the writes before the final flush; in a process
or a thread, a write under way when the writer is cancelled lands before the flush that follows it."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time

import pytest

from zvt_ccxt.backfill.instruments import Instrument
from zvt_ccxt.cli.commands.stream import event_loop_runner
from zvt_ccxt.domain import CryptoOrderbook, CryptoTrade
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store import writer as store_writer
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt.store.rows import BOOK_COLUMNS, book_row, trade_rows
from zvt_ccxt.store.write_process import WriteProcess, _portable
from zvt_ccxt.stream.metrics import StreamMetrics
from zvt_ccxt.stream.rows import TRADES_TABLE
from zvt_ccxt.stream.writer import StreamWriter, Table

pytestmark = [pytest.mark.usefixtures("database"),
              pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")]

ENTITY = Instrument("cryptopair_binance_btcusdt", "cryptopair", "binance", "btcusdt", "BTC/USDT")
T0 = 1_748_774_040_000
BOOKS = Table(CryptoOrderbook, BOOK_COLUMNS)


def trades(first: int, count: int) -> tuple[list[tuple], list[int]]:
    batch = [{"id": str(i), "timestamp": T0 + i * 1000, "price": 100.0 + i, "amount": 1.0, "symbol": "BTC/USDT",
              "side": "buy"} for i in range(first, first + count)]
    return trade_rows(ENTITY, batch, "stream"), [t["timestamp"] for t in batch]


async def write_trades(writer: StreamWriter, metrics, first: int, count: int, attempts: int | None = None) -> None:
    """Queue trades ``first`` .. ``first + count - 1`` and flush them."""
    rows, times = trades(first, count)
    await writer.add(TRADES_TABLE, rows, metrics, times)
    await writer.flush(attempts=attempts)


def stored(sql: str, schema=CryptoTrade) -> list:
    with engine_for(schema).connect() as connection:
        return connection.exec_driver_sql(sql).all()


def trade_ids() -> list[int]:
    return sorted(int(row[0]) for row in stored('SELECT trade_id FROM "crypto_trade"'))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_writes_run_in_a_child_process_and_land(store):
    writer = StreamWriter(write_process=True)
    metrics = StreamMetrics().of("trades", "binance", "trades")

    async def scenario() -> int | None:
        await write_trades(writer, metrics, 0, 300)
        return writer.write_process_id

    pid = asyncio.run(scenario())
    assert pid is not None and pid != os.getpid() and alive(pid)
    writer.close()
    assert not alive(pid), "close() leaves the write process running"
    assert trade_ids() == list(range(300)) and metrics.rows == 300 and writer.ledger_saves == 1


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_batches_larger_than_the_pipe_land_whatever_event_loop_runs_the_stream(store, loop_name):
    # uvloop leaves a descriptor it watched non-blocking: a batch larger than the pipe's buffer then failed
    # half-sent, the child exited, and every other flush waited for a retry and a new process
    if loop_name == "uvloop":
        pytest.importorskip("uvloop")  # ccxt's own dependency where it exists
    writer = StreamWriter(write_process=True, retry_wait=0.01)
    metrics = StreamMetrics().of("trades", "binance", "trades")

    async def scenario() -> set[int | None]:
        pids = set()
        for first in range(0, 4 * 3_000, 3_000):  # 3,000 trade rows pickle to several times a pipe's 64 KB
            await write_trades(writer, metrics, first, 3_000, attempts=1)
            pids.add(writer.write_process_id)
        return pids

    pids = event_loop_runner(loop_name)(scenario())
    writer.close()
    assert writer.write_failures == 0 and len(pids) == 1, "a write process was lost between batches"
    assert trade_ids() == list(range(12_000)) and metrics.rows == 12_000


def test_a_killed_write_process_is_replaced_and_its_batch_retried(store):
    writer = StreamWriter(write_process=True, retry_wait=0.01)
    metrics = StreamMetrics().of("trades", "binance", "trades")

    async def scenario() -> tuple[int | None, int | None]:
        await write_trades(writer, metrics, 0, 100)
        first = writer.write_process_id
        assert first is not None
        os.kill(first, signal.SIGKILL)  # out of memory, an operator's kill
        while alive(first) and not os.waitpid(first, os.WNOHANG)[0]:
            await asyncio.sleep(0.01)
        await write_trades(writer, metrics, 100, 100)
        return first, writer.write_process_id

    first, second = asyncio.run(scenario())
    writer.close()
    assert second is not None and second != first
    assert writer.write_failures == 1 and trade_ids() == list(range(200)) and metrics.rows == 200


def test_a_write_failing_in_the_process_is_retried_as_a_storage_error(store, monkeypatch):
    real_upsert, failures = store_writer.upsert_many, [2]

    def flaky_upsert(parts):  # runs in the child: its own countdown
        if failures[0]:
            failures[0] -= 1
            raise StorageError("database is locked")
        return real_upsert(parts)

    monkeypatch.setattr(store_writer, "upsert_many", flaky_upsert)  # before the fork: the child looks it up by name
    writer = StreamWriter(write_process=True, retry_wait=0.01)
    metrics = StreamMetrics().of("trades", "binance", "trades")

    async def scenario() -> None:
        await write_trades(writer, metrics, 0, 10)

    asyncio.run(scenario())
    writer.close()
    assert writer.write_failures == 2 and trade_ids() == list(range(10)) and failures == [2]


def test_a_write_process_refuses_unknown_operations_and_raises_the_errors_of_its_writes(store):
    process = WriteProcess()

    async def scenario() -> None:
        with pytest.raises(ValueError, match="no store operation named 'drop'"):
            await process.run("drop", "crypto_trade")
        with pytest.raises(StorageError, match="crypto_trade"):
            await process.run("upsert_many", [(CryptoTrade, ("id", "entity_id"), [("only-one",)])])
        assert await process.run("upsert_many", [(CryptoTrade, TRADES_TABLE.columns, trades(0, 3)[0])]) == 3

    try:
        asyncio.run(scenario())
    finally:
        process.close()
    assert trade_ids() == [0, 1, 2]


def test_an_error_that_cannot_cross_the_pipe_comes_back_named():
    class Unpicklable(Exception):  # a local class: pickle cannot find it by name
        pass

    portable = _portable(Unpicklable("socket gone"))
    assert type(portable) is RuntimeError and str(portable) == "Unpicklable: socket gone"
    kept = ValueError("bad value")
    assert _portable(kept) is kept


def test_ctrl_c_leaves_the_write_process_writing_until_the_final_flush(store):
    writer = StreamWriter(write_process=True)
    metrics = StreamMetrics().of("trades", "binance", "trades")

    async def scenario() -> int | None:
        await write_trades(writer, metrics, 0, 50)
        pid = writer.write_process_id
        assert pid is not None
        for stop in (signal.SIGINT, signal.SIGTERM):  # a terminal's Ctrl-C reaches the whole process group
            os.kill(pid, stop)
        await asyncio.sleep(0.2)
        await write_trades(writer, metrics, 50, 50, attempts=1)  # the stream's final flush: no second chance needed
        return pid

    pid = asyncio.run(scenario())
    assert writer.write_process_id == pid and writer.write_failures == 0
    writer.close()
    assert trade_ids() == list(range(100))


@pytest.mark.parametrize("in_process", [False, True], ids=["thread", "process"])
def test_a_write_under_way_when_the_writer_is_cancelled_lands_before_the_final_flush(store, monkeypatch, in_process):
    real_upsert = store_writer.upsert_many
    started = multiprocessing.get_context("fork").Event()  # shared with a write process it is inherited by

    def first_write_slow(parts):
        if not started.is_set():
            started.set()
            time.sleep(0.3)
        return real_upsert(parts)

    monkeypatch.setattr(store_writer, "upsert_many", first_write_slow)
    books = StreamMetrics().of("books", "binance", "orderbook")
    writer = StreamWriter(flush_interval=0.01, write_process=in_process)

    def snapshot(bid: float) -> tuple:
        return book_row(ENTITY, [[bid, 1.0]], [[101.0, 1.0]], 1, T0, "stream")

    async def scenario() -> None:
        runner = asyncio.ensure_future(writer.run())
        writer.put_latest(BOOKS, ENTITY.entity_id, snapshot(99.0), books, T0)
        while not started.is_set():
            await asyncio.sleep(0.005)
        runner.cancel()  # what the stream does at shutdown, then one last flush
        await asyncio.gather(runner, return_exceptions=True)
        writer.put_latest(BOOKS, ENTITY.entity_id, snapshot(100.0), books, T0)
        await writer.flush(attempts=5)
        await asyncio.sleep(0.4)  # a write left running in its thread or process would land by now

    asyncio.run(scenario())
    writer.close()
    bids = stored(f'SELECT best_bid FROM "{CryptoOrderbook.__tablename__}"', CryptoOrderbook)
    assert bids == [(100.0,)], f"the older snapshot overwrote the newer: {bids}"


def test_the_write_process_is_forked_when_the_writer_starts_not_at_its_first_write(store):
    writer = StreamWriter(write_process=True, flush_interval=0.01)

    async def scenario() -> int | None:
        runner = asyncio.ensure_future(writer.run())
        await asyncio.sleep(0.05)
        pid = writer.write_process_id  # nothing was written yet
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        return pid

    pid = asyncio.run(scenario())
    writer.close()
    assert pid is not None and writer.batches == 0 and not alive(pid)
