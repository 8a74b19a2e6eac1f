"""Bulk upsert of time-keyed rows (bars) as one SQLite statement, so a batch is written without holding the GIL.

``executemany`` binds every cell from Python and re-takes the GIL after each row, so a thread fetching the
next page and the thread writing this one take turns rather than overlapping. Here a batch travels as one
blob of fixed-width text records, built by numpy, and one ``INSERT ... SELECT`` walks it inside a single
``sqlite3_step``: each record holds the row's id and timestamp text, and each number as an integer
significand and a power of two (``m * 2**q``, both exact), so SQLite rebuilds every double bit for bit
without parsing decimals (its own decimal parser is not correctly rounded; JSON's per-row unpacking costs
twice as much). Values and constants are bound parameters; table and column names come only from the schema.

Stored text and numbers are the same as ``writer.upsert`` stores: ids ``{prefix}_{YYYY-MM-DD}`` (daily
and longer) or ``{prefix}_{YYYY-MM-DDTHH:MM:SS.mmm}``, timestamps as SQLAlchemy's DATETIME text, floats
exactly, NaN and infinities as NULL. Where this SQLite cannot rebuild the numbers exactly (checked once
per process) or a time falls outside years 1970 to 9999, rows go through ``writer.upsert`` instead.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping

import numpy as np

from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store.writer import execute_one, sql_datetimes, upsert

#: record layout, in 4-byte words: id text (23 bytes) + timestamp text (26) + 3 spaces, then per column
#: a sign word ("-000" or "0000"), four words of significand digits and a word of exponent digits
_TEXT_WORDS = 13
_CELL_WORDS = 6
#: the exponent is stored plus this offset, so it needs no sign: q + 1074 lies in [0, 2045]
_EXPONENT_OFFSET = 1074
#: a significand no double has (they stay below 2**53), standing for NULL
_NULL_SIGNIFICAND = 9_999_999_999_999_999
#: year 10000 begins here; later times have no four-digit year
_MAX_MS = 253_402_300_800_000
#: records are built as little-endian 32-bit words, each four ASCII bytes in memory order
_WORD = np.dtype("<u4")
_DIGITS4 = np.array([int.from_bytes(b"%04d" % i, "little") for i in range(10_000)], dtype=_WORD)
_MINUS, _PLUS = (int.from_bytes(word, "little") for word in (b"-000", b"0000"))
_SPACES = int.from_bytes(b"    ", "little")
#: rows encoded at a time: numpy's temporaries for them stay under glibc's 128 KiB mmap threshold
_SLICE_ROWS = 1024

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
    """Insert or update one row per ``ts_ms`` (bar time, integer ms): ``values`` hold a column each (NaN stores
    NULL, bool arrays store 0/1), ``constants`` the same value for every row; return the rows written."""
    return prepare_series(schema, ts_ms, values, constants, id_prefix, daily_ids, provider)()


def prepare_series(
    schema: type,
    ts_ms: np.ndarray,
    values: Mapping[str, np.ndarray],
    constants: Mapping[str, object],
    id_prefix: str,
    daily_ids: bool = False,
    provider: str = PROVIDER,
) -> Callable[[], int]:
    """``upsert_series`` in two steps: encode the batch now, and return the write, to run in any thread.

    The write holds the GIL only to start and finish its one statement, so a thread of its own stores one
    batch while the caller prepares the next."""
    count = int(len(ts_ms))
    if not count:
        return lambda: 0
    ts_ms = np.asarray(ts_ms, dtype="int64")
    if not numbers_exact() or ts_ms.min() < 0 or ts_ms.max() >= _MAX_MS:
        return functools.partial(upsert, schema, *_rows(ts_ms, values, constants, id_prefix, daily_ids), provider)
    kinds = tuple((name, np.asarray(array).dtype.kind in "bi") for name, array in values.items())
    statement = _statement(schema, kinds, tuple(constants))
    records = encode_records(ts_ms, [np.asarray(a, dtype="float64") for a in values.values()])
    width, id_length = _record_bytes(len(kinds)), 10 if daily_ids else 23  # "YYYY-MM-DD" or to the millisecond
    parameters = (id_prefix, *constants.values(), memoryview(records), (count - 1) * width, width, id_length)
    return functools.partial(execute_one, schema, statement, parameters, count, provider)


def _record_bytes(columns: int) -> int:
    return 4 * (_TEXT_WORDS + _CELL_WORDS * columns)


def encode_records(ts_ms: np.ndarray, columns: list[np.ndarray]) -> np.ndarray:
    """One fixed-width ASCII record per row (layout above), vectorised: ``ts_ms`` integer ms in years 1970-9999.

    Returned as the array itself (SQLite binds its buffer as the blob), and made in slices of rows small
    enough that numpy's temporaries are recycled memory rather than fresh pages the kernel must map."""
    count = len(ts_ms)
    words = np.empty((count, _TEXT_WORDS + _CELL_WORDS * len(columns)), dtype=_WORD)
    matrix = np.column_stack(columns) if columns else None
    for start in range(0, count, _SLICE_ROWS):
        rows = slice(start, start + _SLICE_ROWS)
        _encode_texts(ts_ms[rows], words[rows])
        if matrix is not None:
            _encode_numbers(matrix[rows], words[rows])
    return words


def _encode_texts(ts_ms: np.ndarray, words: np.ndarray) -> None:
    """Write the id and timestamp texts of each row of ``words``."""
    text = words.view(np.uint8)
    stamps = _time_texts(ts_ms)
    words[:, 12] = _SPACES
    text[:, :23] = stamps[:, :23]  # the id: "YYYY-MM-DDTHH:MM:SS.mmm"
    text[:, 23:49] = stamps  # the timestamp: "YYYY-MM-DD HH:MM:SS.mmmuuu"
    text[:, 33] = ord(" ")


def _encode_numbers(matrix: np.ndarray, words: np.ndarray) -> None:
    """Write each double of ``matrix`` (rows, columns) as its cell of ``words``: sign, significand, exponent."""
    count, width = matrix.shape
    cells = np.ndarray(
        (count, width, _CELL_WORDS), _WORD, words, 4 * _TEXT_WORDS, (words.strides[0], 4 * _CELL_WORDS, 4)
    )
    finite = np.isfinite(matrix)
    every_finite = bool(finite.all())
    fraction, exponent = np.frexp(matrix if every_finite else np.where(finite, matrix, 0.0))
    significand = (fraction * 2.0**53).astype(np.int64)  # exact: |fraction| < 1 has 53 bits
    power = exponent + (_EXPONENT_OFFSET - 53)  # stored with the offset, never negative
    subnormal = power < 0  # 2**(power - offset) would underflow; the bits shifted out are zeros
    if subnormal.any():
        shift = -power[subnormal]
        significand[subnormal] = np.sign(significand[subnormal]) * (np.abs(significand[subnormal]) >> shift)
        power[subnormal] = 0
    if not every_finite:
        significand[~finite] = _NULL_SIGNIFICAND
        power[~finite] = _EXPONENT_OFFSET
    negative = significand < 0
    high, low = np.divmod(np.abs(significand), 100_000_000)
    cells[..., 0] = _PLUS
    cells[..., 0][negative] = _MINUS
    for word, (quotient, remainder) in ((1, np.divmod(high, 10_000)), (3, np.divmod(low, 10_000))):
        cells[..., word] = _DIGITS4[quotient]
        cells[..., word + 1] = _DIGITS4[remainder]
    cells[..., 5] = _DIGITS4[power]


def _time_texts(ts_ms: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS.mmm000`` of each time (UTC, proleptic Gregorian) as rows of ASCII bytes."""
    days, ms = np.divmod(ts_ms, 86_400_000)
    # civil date from days since 1970-01-01, in whole 400-year eras from 0000-03-01 (H. Hinnant's algorithm)
    shifted = days + 719_468
    era = shifted // 146_097
    day_of_era = shifted - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153  # 0 is March
    day = day_of_year - (153 * month_index + 2) // 5 + 1
    month = np.where(month_index < 10, month_index + 3, month_index - 9)
    year = year_of_era + era * 400 + (month <= 2)
    hours, ms = np.divmod(ms, 3_600_000)
    minutes, ms = np.divmod(ms, 60_000)
    seconds, ms = np.divmod(ms, 1000)
    text = np.empty((len(ts_ms), 26), dtype=np.uint8)
    digits = _DIGITS4.view(np.uint8).reshape(-1, 4)
    for start, number, width in ((0, year, 4), (5, month, 2), (8, day, 2), (11, hours, 2), (14, minutes, 2),
                                 (17, seconds, 2), (20, ms, 3)):
        text[:, start:start + width] = digits[number, 4 - width:]
    for position, char in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, ".")):
        text[:, position] = ord(char)
    text[:, 23:] = ord("0")
    return text


def _select(kinds: tuple[tuple[str, bool], ...], constants: tuple[str, ...]) -> str:
    """``SELECT id, timestamp, constants..., values... FROM r WHERE true`` over the records; parameters: the id
    prefix, the constants, then the records, the last record's offset, the record width and the id length."""
    records = f"?{len(constants) + 2}"
    selected = [
        f"?1 || '_' || CAST(substr({records}, r.o + 1, ?{len(constants) + 5}) AS TEXT)",
        f"CAST(substr({records}, r.o + 24, 26) AS TEXT)",
        *(f"?{i + 2}" for i in range(len(constants))),
    ]
    for i, (_, integral) in enumerate(kinds):
        start = 4 * (_TEXT_WORDS + _CELL_WORDS * i) + 1
        value = (
            f"NULLIF(CAST(substr({records}, r.o + {start}, 20) AS INTEGER), {_NULL_SIGNIFICAND}) "
            f"* pow(2.0, CAST(substr({records}, r.o + {start + 20}, 4) AS INTEGER) - {_EXPONENT_OFFSET})"
        )
        selected.append(f"CAST({value} AS INTEGER)" if integral else value)
    return (
        f"WITH RECURSIVE r(o) AS (SELECT 0 UNION ALL SELECT o + ?{len(constants) + 4} FROM r "
        f"WHERE o < ?{len(constants) + 3}) SELECT {', '.join(selected)} FROM r WHERE true"
    )


def _statement(schema: type, kinds: tuple[tuple[str, bool], ...], constants: tuple[str, ...]) -> str:
    key = (schema.__tablename__, kinds, constants)
    statement = _statements.get(key)
    if statement is None:
        names = [name for name, _ in kinds]
        columns = ["id", "timestamp", *constants, *names]
        known = set(schema.__table__.columns.keys())
        unknown = [c for c in columns if c not in known]
        if unknown or len(set(columns)) != len(columns):
            raise StorageError(f"{schema.__tablename__}: unknown or repeated columns {unknown or columns}")
        updates = ", ".join(f'"{c}"=excluded."{c}"' for c in columns if c != "id")
        select = _select(kinds, constants)
        statement = (
            f'INSERT INTO "{schema.__tablename__}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)}) '
            f"{select} ON CONFLICT(id) DO UPDATE SET {updates}"
        )
        _statements[key] = statement
    return statement


def _rows(ts_ms, values, constants, id_prefix, daily_ids) -> tuple[list[str], list[tuple]]:
    """The same rows as columns and tuples for ``writer.upsert`` (``executemany``)."""
    stamps = sql_datetimes(ts_ms)
    suffixes = [s[:10] for s in stamps] if daily_ids else [s[:10] + "T" + s[11:23] for s in stamps]
    count = len(stamps)
    columns = ["id", "timestamp", *constants, *values]
    cells = [[f"{id_prefix}_{s}" for s in suffixes], stamps]
    cells += [[value] * count for value in constants.values()]
    for array in values.values():
        array = np.asarray(array)
        if array.dtype.kind == "f":
            cells.append([v if np.isfinite(v) else None for v in array.tolist()])
        else:
            cells.append(array.tolist())
    return columns, list(zip(*cells, strict=True))


#: doubles worth checking: decimal texts a decimal parser gets one unit in the last place wrong, extremes,
#: subnormals and signed zeros
HARD_FLOATS = (
    33956.92089990155, 23637.69941334133, 33733.21022480795, 387.248275516983, 0.1, 1e-8, 45123.45678901, 2.5e15,
    2.0**53 + 2, -1.5, 0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
    1.7976931348623157e308, -1.7976931348623157e308, 1e300, 1e-300,
)


@functools.cache
def numbers_exact() -> bool:
    """True when this SQLite rebuilds every double, NULL and time text of a record exactly (checked once)."""
    rng = np.random.default_rng(7)
    magnitudes = 10.0 ** rng.integers(-12, 16, 4000)
    floats = np.concatenate([np.array(HARD_FLOATS), rng.standard_normal(4000) * magnitudes, [np.nan, np.inf]])
    stamps = np.concatenate([[0, 86_400_000, 1_748_736_000_000], rng.integers(0, _MAX_MS, floats.size - 3)])
    kinds = (("v", False),)
    width = _record_bytes(1)
    try:
        with sqlite3.connect(":memory:") as connection:
            rows = connection.execute(
                _select(kinds, ()),
                ("p", memoryview(encode_records(stamps, [floats])), (floats.size - 1) * width, width, 23),
            ).fetchall()
    except sqlite3.Error:  # no pow(): SQLite built without its math functions
        return False
    texts = sql_datetimes(stamps)
    expected = [
        (f"p_{s[:10]}T{s[11:23]}", s, float(v) if np.isfinite(v) else None) for s, v in zip(texts, floats, strict=True)
    ]
    same_bits = all(
        np.float64(a[2]).tobytes() == np.float64(b[2]).tobytes() for a, b in zip(rows, expected, strict=True)
        if a[2] is not None and b[2] is not None and b[2] != 0.0
    )
    return rows == expected and same_bits
