"""A batch's rows and its coverage windows are one transaction, on each store: a write that fails after the rows
went in (here: the ledger's own rows refused by the driver) leaves neither, and a write that succeeds leaves both.
The ledger may therefore never claim a window whose rows are absent, which is what lets any window be retried
or re-run anywhere (a cluster job, a second run after a crash)."""

import dataclasses

import numpy as np
import pytest

from zvt_ccxt import store
from zvt_ccxt.domain import Cryptopair1mKdata, CryptoTrade
from zvt_ccxt.domain.coverage import FETCHED
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store.coverage import Window
from zvt_ccxt.store.reads import bar_times_ms, trades
from zvt_ccxt.stream.rows import TRADES_TABLE

pytestmark = pytest.mark.usefixtures("database")

ENTITY = "cryptopair_binance_BTCUSDT"
START_MS = 1_748_736_000_000
MINUTE_MS = 60_000
TABLE = Cryptopair1mKdata.__tablename__


def _bars(count: int, first_ms: int = START_MS) -> tuple[np.ndarray, dict, dict]:
    ts = first_ms + MINUTE_MS * np.arange(count, dtype="int64")
    prices = 100.0 + np.arange(count, dtype="float64")
    values = {"open": prices, "close": prices + 0.5, "high": prices + 1.0, "low": prices - 1.0,
              "volume": np.ones(count)}
    constants = {"entity_id": ENTITY, "provider": "ccxt", "code": "BTCUSDT", "name": "BTC/USDT", "level": "1m"}
    return ts, values, constants


def _ledger(window: Window, broken: bool = False, table: str = TABLE):
    """The ledger rows of ``window``; ``broken``: the last value is one no driver can bind, so the ledger's part
    of the transaction fails after the batch's own rows were written."""
    entries = store.coverage.entries(table, ENTITY, [window])
    if broken:
        rows = [(*row[:-1], object()) for row in entries.rows]
        entries = dataclasses.replace(entries, rows=rows)
    return entries


def _bar_times() -> list[int]:
    return sorted(int(t) for t in bar_times_ms(Cryptopair1mKdata, ENTITY))


def _windows(table: str = TABLE) -> list[tuple[int, int, str]]:
    return [(w.start_ms, w.end_ms, w.status) for w in store.coverage.windows(table, ENTITY)]


@pytest.mark.parametrize("stored_before", [False, True], ids=["new-ground", "over-stored-bars"])
def test_bars_and_their_window_are_stored_together_or_not_at_all(stored_before):
    if stored_before:  # PostgreSQL writes over stored bars through its staging table, else by a straight COPY
        store.writer.prepare_bars(Cryptopair1mKdata, *_bars(3), ENTITY)()
    window = Window(START_MS, START_MS + 10 * MINUTE_MS, FETCHED, 10)
    before = _bar_times()

    write = store.writer.prepare_bars(Cryptopair1mKdata, *_bars(10), ENTITY, together=_ledger(window, broken=True))
    with pytest.raises(StorageError, match=TABLE):
        write()
    assert _bar_times() == before
    assert _windows() == []

    written = store.writer.prepare_bars(Cryptopair1mKdata, *_bars(10), ENTITY, together=_ledger(window))()
    assert written == 10
    assert _bar_times() == [START_MS + i * MINUTE_MS for i in range(10)]
    assert _windows() == [(window.start_ms, window.end_ms, FETCHED)]


def test_rows_and_their_window_are_stored_together_or_not_at_all():
    columns = TRADES_TABLE.columns
    row = (f"{ENTITY}_1", ENTITY, "2025-06-01 00:00:00.000000", "BTCUSDT", "binance", START_MS, "1", 100.0, 1.0,
           100.0, "buy", "taker", "rest")
    assert len(row) == len(columns)
    window = Window(START_MS, START_MS + MINUTE_MS, FETCHED, 1)
    table = CryptoTrade.__tablename__

    with pytest.raises(StorageError, match=table):
        store.writer.upsert(CryptoTrade, columns, [row], together=_ledger(window, broken=True, table=table))
    assert trades(ENTITY).empty
    assert _windows(table) == []

    assert store.writer.upsert(CryptoTrade, columns, [row], together=_ledger(window, table=table)) == 1
    assert len(trades(ENTITY)) == 1
    assert _windows(table) == [(window.start_ms, window.end_ms, FETCHED)]


def test_a_batch_without_rows_still_marks_its_windows():
    window = Window(START_MS, START_MS + 10 * MINUTE_MS, "empty", 0)
    ts, values, constants = _bars(0)
    assert store.writer.prepare_bars(Cryptopair1mKdata, ts, values, constants, ENTITY, together=_ledger(window))() == 0
    assert _windows() == [(window.start_ms, window.end_ms, "empty")]

