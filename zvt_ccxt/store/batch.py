"""``upsert`` of a batch of rows as one SQLite statement over a JSON array, for writers that share the GIL.

``executemany`` takes the GIL back after every row it steps, so a writer thread and a busy event loop hand
it to each other once a row, each time after a wait. Here orjson serialises the batch in C, and one
``INSERT ... SELECT ... FROM json_each`` unpacks and upserts it inside a single ``sqlite3_step``: the GIL
is taken twice a batch. Stored values are those ``upsert`` stores, except that non-finite floats store
NULL. Where this SQLite does not read JSON numbers back exactly (checked once per process), or a value
has no JSON form (an integer beyond 64 bits, a type orjson does not know), the batch goes through ``upsert``.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence

import numpy as np
import orjson

from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.store.series import HARD_FLOATS
from zvt_ccxt.store.writer import column_clauses, execute_one, upsert

_statements: dict[tuple[str, tuple[str, ...]], str] = {}


def upsert_batch(schema: type, columns: Sequence[str], rows: Sequence[Sequence], provider: str = PROVIDER) -> int:
    """Insert or update ``rows`` (tuples in ``columns`` order) in one statement; return how many were written."""
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return 0
    if not json_numbers_exact():
        return upsert(schema, columns, rows, provider)
    try:
        payload = orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:
        return upsert(schema, columns, rows, provider)
    return execute_one(schema, _statement(schema, tuple(columns)), (payload,), len(rows), provider)


def _statement(schema: type, columns: tuple[str, ...]) -> str:
    key = (schema.__tablename__, columns)
    statement = _statements.get(key)
    if statement is None:
        names, updates = column_clauses(schema, columns)
        unpack = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
        statement = (
            f'INSERT INTO "{schema.__tablename__}" ({names}) SELECT {unpack} FROM json_each(?) WHERE true '
            f"ON CONFLICT(id) DO UPDATE SET {updates}"
        )
        _statements[key] = statement
    return statement


@functools.cache
def json_numbers_exact() -> bool:
    """True when this SQLite's JSON functions give back every double (hard cases and a random spread) exactly."""
    rng = np.random.default_rng(11)
    floats = [*HARD_FLOATS, *(rng.standard_normal(4000) * 10.0 ** rng.integers(-15, 16, 4000)).tolist()]
    floats += [round(float(v), int(d)) for v, d in zip(rng.random(4000) * 1e5, rng.integers(0, 11, 4000), strict=True)]
    try:
        with sqlite3.connect(":memory:") as connection:
            back = connection.execute(
                "SELECT json_extract(value, '$[0]') FROM json_each(?)", (orjson.dumps([[v] for v in floats]),)
            ).fetchall()
    except sqlite3.Error:  # built without JSON functions
        return False
    return [row[0] for row in back] == floats and all(
        np.float64(a[0]).tobytes() == np.float64(b).tobytes() for a, b in zip(back, floats, strict=True) if b != 0.0
    )
