"""The one row write path (``store.writer.upsert``): latest values win, a failed batch leaves the table as it was,
and nothing but schema names reaches the SQL."""

import sqlite3
from datetime import datetime

import numpy as np
import pytest
from sqlalchemy import text

from zvt_ccxt.domain import CryptoTrade
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt.store.writer import upsert, upsert_many
from zvt_ccxt.stream.rows import TRADES_TABLE

COLUMNS = TRADES_TABLE.columns
#: every case runs on each store (zvt's SQLite files, PostgreSQL)
pytestmark = pytest.mark.usefixtures("database")


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


#: PostgreSQL's type names as SQLite's storage classes, so one expectation serves both stores
_TYPE_CLASSES = {"bigint": "integer", "integer": "integer", "character varying": "text", "text": "text",
                 "double precision": "real", "timestamp without time zone": "text"}


def _stored(entity: str) -> list[tuple]:
    """Rows of ``entity``: the id after the entity id, the values, then each value's type (SQLite's classes)."""
    engine = engine_for(CryptoTrade)
    if engine.dialect.name == "sqlite":
        with sqlite3.connect(engine.url.database) as connection:
            rows = connection.execute(
                f'SELECT substr(id, length(entity_id) + 2), {", ".join(COLUMNS[2:])}, '
                f'{", ".join(f"typeof({c})" for c in COLUMNS[2:])} FROM crypto_trade WHERE entity_id = ? '
                "ORDER BY ts_ms",
                (entity,),
            ).fetchall()
        return [tuple(r) for r in rows]
    types = ", ".join(f"CASE WHEN {c} IS NULL THEN 'null' ELSE pg_typeof({c})::text END" for c in COLUMNS[2:])
    statement = text(
        f'SELECT substr(id, length(entity_id) + 2), {", ".join(COLUMNS[2:])}, {types} FROM crypto_trade '
        "WHERE entity_id = :entity ORDER BY ts_ms"
    )
    with engine.connect() as connection:
        rows = connection.execute(statement, {"entity": entity}).fetchall()
    width = len(COLUMNS) - 2
    return [
        (
            r[0],
            *(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in r[1:width + 1]),
            *(_TYPE_CLASSES.get(t, t) for t in r[width + 1:]),
        )
        for r in rows
    ]


def test_rows_are_stored_with_their_values_and_types(store):
    rows = _trades("crypto_test_values", 300)
    assert upsert(CryptoTrade, COLUMNS, rows) == 300
    stored = {f"crypto_test_values_{found[0]}": found[1:] for found in _stored("crypto_test_values")}
    assert sorted(stored) == sorted(row[0] for row in rows)
    width = len(COLUMNS) - 2
    for row in rows:
        values, types = stored[row[0]][:width], dict(zip(COLUMNS[2:], stored[row[0]][width:], strict=True))
        assert values == row[2:]
        assert (types["ts_ms"], types["trade_id"], types["price"]) == ("integer", "text", "real")


def test_a_repeated_id_keeps_the_latest_row(store):
    rows = _trades("crypto_test_dup", 3)
    again = (*rows[1][:7], 123.25, *rows[1][8:])  # the same trade id, a corrected price
    upsert(CryptoTrade, COLUMNS, [*rows, again])
    prices = [row[6] for row in _stored("crypto_test_dup")]
    assert prices == [rows[0][7], 123.25, rows[2][7]]


def test_an_integer_beyond_64_bits_is_refused_by_name_and_nothing_is_stored(store):
    rows = _trades("crypto_test_big", 2)
    rows[1] = (*rows[1][:5], 2**70, *rows[1][6:])
    with pytest.raises(StorageError, match="crypto_trade"):
        upsert(CryptoTrade, COLUMNS, rows)
    assert _stored("crypto_test_big") == []


def test_a_failing_batch_leaves_the_table_as_it_was(store):
    entity = "crypto_test_atomic"
    upsert(CryptoTrade, COLUMNS, _trades(entity, 5))
    before = _stored(entity)
    broken = _trades(entity, 10, seed=9)
    broken[7] = (None, *broken[7][1:])  # a NULL id fails the NOT NULL constraint mid-batch
    with pytest.raises(StorageError, match="crypto_trade"):
        upsert(CryptoTrade, COLUMNS, broken)
    assert _stored(entity) == before


def test_unknown_columns_are_refused_before_any_sql_runs(store):
    with pytest.raises(StorageError, match="unknown columns"):
        upsert(CryptoTrade, ("id", "price; DROP TABLE crypto_trade"), [("x", 1.0)])


# -- several tables in one write (a stream's flush) ----------------------------------------------------------

BALANCE_COLUMNS = ("id", "entity_id", "currency", "total")
ORDER_COLUMNS = ("id", "entity_id", "order_id", "amount")


def _count(schema) -> int:
    with engine_for(schema).connect() as connection:
        return connection.exec_driver_sql(f'SELECT COUNT(*) FROM "{schema.__tablename__}"').scalar()


def test_several_tables_of_one_database_are_written_in_one_transaction(store):
    from zvt_ccxt.domain import CryptoBalance, CryptoOrder

    balances = [("b1", "account_binance_main", "BTC", 1.0), ("b2", "account_binance_main", "ETH", 2.0)]
    broken_orders = [("o1", "account_binance_main", "1", 0.5), ("o2", "account_binance_main")]  # a value short
    with pytest.raises(StorageError, match=r"2 rows to crypto_balance, 2 rows to crypto_order"):
        upsert_many([(CryptoBalance, BALANCE_COLUMNS, balances), (CryptoOrder, ORDER_COLUMNS, broken_orders)])
    assert (_count(CryptoBalance), _count(CryptoOrder)) == (0, 0), "a part was committed without the other"

    orders = [("o1", "account_binance_main", "1", 0.5), ("o2", "account_binance_main", "2", 0.25)]
    later = [("b1", "account_binance_main", "BTC", 3.0)]  # the same table again: one part, the last row of an id wins
    written = upsert_many([(CryptoBalance, BALANCE_COLUMNS, balances), (CryptoOrder, ORDER_COLUMNS, orders),
                           (CryptoBalance, BALANCE_COLUMNS, later), (CryptoOrder, ORDER_COLUMNS, [])])
    assert written == 5 and _count(CryptoOrder) == 2
    with engine_for(CryptoBalance).connect() as connection:
        totals = connection.exec_driver_sql('SELECT id, total FROM "crypto_balance" ORDER BY id').all()
    assert [tuple(row) for row in totals] == [("b1", 3.0), ("b2", 2.0)]


def test_tables_of_several_databases_are_written_each_in_its_own(store):
    from zvt_ccxt.backfill.instruments import Instrument
    from zvt_ccxt.domain import CryptoOrderbook
    from zvt_ccxt.store.rows import BOOK_COLUMNS, book_row

    pair = Instrument("cryptopair_binance_btcusdt", "cryptopair", "binance", "btcusdt", "BTC/USDT")
    book = book_row(pair, [[99.0, 1.0]], [[101.0, 2.0]], 7, 1_748_736_000_000, "stream")
    written = upsert_many([(CryptoTrade, COLUMNS, _trades(pair.entity_id, 20)),
                           (CryptoOrderbook, BOOK_COLUMNS, [book])])
    assert written == 21 and _count(CryptoTrade) == 20 and _count(CryptoOrderbook) == 1
