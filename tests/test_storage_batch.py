"""The stream writer's one-statement batch upsert stores exactly what ``executemany`` stores, and falls back to
it for values JSON cannot carry."""

import sqlite3

import numpy as np
import pytest

from zvt_ccxt.domain import CryptoTrade
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store import batch
from zvt_ccxt.store.writer import engine_for, upsert
from zvt_ccxt.stream.rows import TRADES_TABLE

COLUMNS = TRADES_TABLE.columns


def _trades(entity: str, count: int, seed: int = 5) -> list[tuple]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        price = round(float(rng.random() * 10.0 ** rng.integers(-6, 6)), int(rng.integers(0, 10)))
        amount = float(rng.standard_normal() ** 2 * 10.0 ** rng.integers(-8, 4))
        cost = None if i % 7 == 0 else price * amount
        side = ["buy", "sell", None][i % 3]
        rows.append(
            (
                f"{entity}_{i}", entity, f"2025-06-01 00:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}000", "btcusdt",
                "binance", 1_748_736_000_000 + i, str(i), price or 1e-8, amount or 1.0, cost, side, "taker", "stream",
            )
        )
    return rows


def _stored(entity: str) -> list[tuple]:
    path = engine_for(CryptoTrade).url.database
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            f'SELECT substr(id, length(entity_id) + 2), {", ".join(COLUMNS[2:])}, '
            f'{", ".join(f"typeof({c})" for c in COLUMNS[2:])} FROM crypto_trade WHERE entity_id = ? ORDER BY ts_ms',
            (entity,),
        ).fetchall()
    return [tuple(r) for r in rows]


def test_a_batch_stores_the_same_values_and_types_as_executemany(store):
    assert batch.json_numbers_exact(), "this SQLite reads JSON numbers inexactly: the batch path is off"
    fast, slow = "crypto_test_fast", "crypto_test_slow"
    assert batch.upsert_batch(CryptoTrade, COLUMNS, _trades(fast, 3000)) == 3000
    assert upsert(CryptoTrade, COLUMNS, _trades(slow, 3000)) == 3000
    stored = _stored(fast)
    assert len(stored) == 3000 and stored == _stored(slow)


def test_a_repeated_id_keeps_the_latest_row_as_executemany_does(store):
    rows = _trades("crypto_test_dup", 3)
    again = (*rows[1][:7], 123.25, *rows[1][8:])  # the same trade id, a corrected price
    batch.upsert_batch(CryptoTrade, COLUMNS, [*rows, again])
    prices = [row[6] for row in _stored("crypto_test_dup")]
    assert prices == [rows[0][7], 123.25, rows[2][7]]


def test_values_without_a_json_form_go_through_executemany(store, monkeypatch):
    calls = []
    monkeypatch.setattr(batch, "upsert", lambda *args: calls.append(args) or upsert(*args))
    rows = _trades("crypto_test_bytes", 2)
    rows[1] = (*rows[1][:10], b"buy", *rows[1][11:])  # bytes: no JSON form, SQLite stores a blob
    assert batch.upsert_batch(CryptoTrade, COLUMNS, rows) == 2
    assert len(calls) == 1 and [row[9] for row in _stored("crypto_test_bytes")] == [rows[0][10], b"buy"]


def test_an_integer_beyond_64_bits_is_refused_by_name_and_nothing_is_stored(store):
    rows = _trades("crypto_test_big", 2)
    rows[1] = (*rows[1][:5], 2**70, *rows[1][6:])
    with pytest.raises(StorageError, match="crypto_trade"):
        batch.upsert_batch(CryptoTrade, COLUMNS, rows)
    assert _stored("crypto_test_big") == []


def test_a_failing_batch_leaves_the_table_as_it_was(store):
    entity = "crypto_test_atomic"
    batch.upsert_batch(CryptoTrade, COLUMNS, _trades(entity, 5))
    before = _stored(entity)
    broken = _trades(entity, 10, seed=9)
    broken[7] = (None, *broken[7][1:])  # a NULL id fails the NOT NULL constraint mid-batch
    with pytest.raises(StorageError, match="crypto_trade"):
        batch.upsert_batch(CryptoTrade, COLUMNS, broken)
    assert _stored(entity) == before


def test_unknown_columns_are_refused_before_any_sql_runs(store):
    with pytest.raises(StorageError, match="unknown columns"):
        batch.upsert_batch(CryptoTrade, ("id", "price; DROP TABLE crypto_trade"), [("x", 1.0)])
