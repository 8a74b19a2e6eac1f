"""Bulk upsert of time-keyed rows (bars) as one SQLite statement, so a batch is written without holding the GIL.

``executemany`` binds every cell from Python and re-takes the GIL after each row, so a thread fetching the
next page and the thread writing this one take turns rather than overlapping. Here the numeric columns
travel as one JSON array (serialised in C by orjson, a dependency of zvt) and SQLite unpacks them, builds
the ids and timestamps, and upserts the whole batch inside one ``sqlite3_step``. Values and constants are
bound parameters; table and column names come only from the schema.

Stored text and numbers are the same as ``writer.upsert`` stores: ids ``{prefix}_{YYYY-MM-DD}`` (daily
and longer) or ``{prefix}_{YYYY-MM-DDTHH:MM:SS.mmm}``, timestamps as SQLAlchemy's DATETIME text, floats
exactly. Where this SQLite cannot read JSON numbers back exactly or lacks JSON functions (checked once per
process), rows go through ``writer.upsert`` instead.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping

import numpy as np
import orjson
from sqlalchemy.exc import DBAPIError

from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.errors import StorageError
from zvt_ccxt.storage.writer import engine_for, sql_datetimes, upsert, write_lock

_INTRADAY_ID = "strftime('%Y-%m-%dT%H:%M:%f', r.t / 1000.0, 'unixepoch')"
_DAILY_ID = "strftime('%Y-%m-%d', r.t / 1000.0, 'unixepoch')"
_TIMESTAMP = "strftime('%Y-%m-%d %H:%M:%f', r.t / 1000.0, 'unixepoch') || '000'"
#: decimal texts that a build reading them with SQLite's own float parser gets one unit in the last place wrong
_HARD_FLOATS = (33956.92089990155, 23637.69941334133, 33733.21022480795, 0.1, 1e-8, 45123.45678901, 2.5e15)

_statements: dict[tuple, str] = {}


def upsert_series(
    schema: type,
    ts_ms: np.ndarray,
    values: Mapping[str, np.ndarray],
    constants: Mapping[str, object],
    id_prefix: str,
    daily_ids: bool = False,
    provider: str = PROVIDER,
) -> int:
    """Insert or update one row per ``ts_ms`` (bar time, ms): ``values`` hold a column each (NaN stores NULL,
    bool arrays store 0/1), ``constants`` the same value for every row; return the rows written."""
    count = int(len(ts_ms))
    if not count:
        return 0
    if not json_numbers_exact():
        return _upsert_rows(schema, ts_ms, values, constants, id_prefix, daily_ids, provider)
    kinds = tuple((name, np.asarray(array).dtype.kind in "bi") for name, array in values.items())
    statement = _statement(schema, kinds, tuple(constants), daily_ids)
    columns = [np.asarray(ts_ms, dtype="float64")] + [np.asarray(a, dtype="float64") for a in values.values()]
    matrix = np.column_stack(columns)
    payload = orjson.dumps(matrix, option=orjson.OPT_SERIALIZE_NUMPY)  # NaN serialises as null
    engine = engine_for(schema, provider)
    with write_lock(engine):
        connection = engine.raw_connection()
        try:
            connection.cursor().execute(statement, (id_prefix, *constants.values(), payload))
            connection.commit()
        except (sqlite3.Error, DBAPIError) as error:
            connection.rollback()
            raise StorageError(f"writing {count} rows to {schema.__tablename__} failed: {error}") from error
        finally:
            connection.close()
    return count


def _statement(schema: type, kinds: tuple[tuple[str, bool], ...], constants: tuple[str, ...], daily: bool) -> str:
    key = (schema.__tablename__, kinds, constants, daily)
    statement = _statements.get(key)
    if statement is None:
        names = [name for name, _ in kinds]
        columns = ["id", "timestamp", *constants, *names]
        known = set(schema.__table__.columns.keys())
        unknown = [c for c in columns if c not in known]
        if unknown or len(set(columns)) != len(columns):
            raise StorageError(f"{schema.__tablename__}: unknown or repeated columns {unknown or columns}")
        unpack = ", ".join(
            ["json_extract(value, '$[0]') AS t"]
            + [f"json_extract(value, '$[{i + 1}]') AS v{i}" for i in range(len(kinds))]
        )
        selected = [
            f"?1 || '_' || {_DAILY_ID if daily else _INTRADAY_ID}",
            _TIMESTAMP,
            *(f"?{i + 2}" for i in range(len(constants))),
            *(f"CAST(r.v{i} AS INTEGER)" if integral else f"r.v{i}" for i, (_, integral) in enumerate(kinds)),
        ]
        updates = ", ".join(f'"{c}"=excluded."{c}"' for c in columns if c != "id")
        statement = (
            f'INSERT INTO "{schema.__tablename__}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)}) '
            f"SELECT {', '.join(selected)} FROM (SELECT {unpack} FROM json_each(?{len(constants) + 2})) AS r "
            f"WHERE true ON CONFLICT(id) DO UPDATE SET {updates}"
        )
        _statements[key] = statement
    return statement


def _upsert_rows(schema, ts_ms, values, constants, id_prefix, daily_ids, provider) -> int:
    """The same rows through ``executemany``."""
    stamps = sql_datetimes(ts_ms)
    suffixes = [s[:10] for s in stamps] if daily_ids else [s[:10] + "T" + s[11:23] for s in stamps]
    count = len(stamps)
    columns = ["id", "timestamp", *constants, *values]
    cells = [[f"{id_prefix}_{s}" for s in suffixes], stamps]
    cells += [[value] * count for value in constants.values()]
    for array in values.values():
        array = np.asarray(array)
        if array.dtype.kind == "f":
            cells.append([None if v != v else v for v in array.tolist()])
        else:
            cells.append(array.tolist())
    return upsert(schema, columns, list(zip(*cells, strict=True)), provider)


@functools.cache
def json_numbers_exact() -> bool:
    """True when this SQLite's JSON functions give back every double and bar time exactly (checked once)."""
    rng = np.random.default_rng(7)
    floats = np.concatenate([np.array(_HARD_FLOATS), rng.random(2000) * 10.0 ** rng.integers(-8, 12, 2000)])
    stamps = np.concatenate([[0, 86_400_000, 1_748_736_000_000], rng.integers(0, 4_102_444_800_000, 500)])
    try:
        with sqlite3.connect(":memory:") as connection:
            rows = connection.execute("SELECT value FROM json_each(?)", (orjson.dumps(floats.tolist()),))
            back = [r[0] for r in rows]
            texts = connection.execute(
                f"SELECT {_INTRADAY_ID}, {_TIMESTAMP} FROM (SELECT value AS t FROM json_each(?)) AS r",
                (orjson.dumps(stamps.astype("float64"), option=orjson.OPT_SERIALIZE_NUMPY),),
            ).fetchall()
    except sqlite3.Error:
        return False
    expected = sql_datetimes(stamps)
    return back == floats.tolist() and texts == [(s[:10] + "T" + s[11:23], s) for s in expected]
