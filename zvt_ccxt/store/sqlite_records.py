"""SQLite's bulk write of bars: one ``INSERT ... SELECT`` over a blob of fixed-width text records.

``executemany`` binds every cell from Python and takes the GIL back after each row, so the recorder's thread
fetching the next page and its write thread storing this one take turns rather than overlapping. Here numpy
builds a batch as one blob of fixed-width records, and one statement walks it inside a single
``sqlite3_step``: each record holds the row's id and timestamp text, and each number as an integer
significand and a power of two (``m * 2**q``, both exact), so SQLite rebuilds every double bit for bit
without parsing decimals (its own decimal parser is not correctly rounded; unpacking JSON costs twice as
much). Values and constants are bound parameters, numbered (``?2``) so that SQLite binds the blob once for
every column that reads it; table and column names come only from the schema.
BENCHMARKS.md ("Write paths") has the figures that keep this path beside ``executemany``.

Stored text and numbers are the same as the row path (``dialect.bar_rows``) stores: ids ``{prefix}_{YYYY-MM-DD}``
(daily and longer) or ``{prefix}_{YYYY-MM-DDTHH:MM:SS.mmm}``, timestamps as SQLAlchemy's DATETIME text, floats
exactly, NaN and infinities as NULL. ``encodable`` says when a batch can travel this way: times in years 1970
to 9999, and an SQLite with its math functions (``pow``, from 3.35 when built with them).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping

import numpy as np

from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store.rows import sql_datetimes

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


def encodable(ts_ms: np.ndarray) -> bool:
    """True when bars at ``ts_ms`` (integer ms) can travel as records into this SQLite."""
    return bool(len(ts_ms)) and int(ts_ms.min()) >= 0 and int(ts_ms.max()) < _MAX_MS and math_functions()


def prepare(
    schema: Schema,
    ts_ms: np.ndarray,
    values: Mapping[str, np.ndarray],
    constants: Mapping[str, object],
    id_prefix: str,
    daily_ids: bool,
) -> tuple[str, tuple]:
    """The statement and parameters that upsert one row per ``ts_ms`` (see ``encodable``): ``values``
    hold a column each (NaN stores NULL, bool and integer arrays store integers), ``constants`` one value
    for every row."""
    ts_ms = np.asarray(ts_ms, dtype="int64")
    count = len(ts_ms)
    kinds = tuple((name, np.asarray(array).dtype.kind in "bi") for name, array in values.items())
    statement = _statement(schema, kinds, tuple(constants))
    records = encode_records(ts_ms, [np.asarray(a, dtype="float64") for a in values.values()])
    width = _record_bytes(len(kinds))
    id_length = 10 if daily_ids else 23  # "YYYY-MM-DD" or to the millisecond
    return statement, (id_prefix, records.data, (count - 1) * width, width, id_length, *constants.values())


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
    cells: np.ndarray = np.ndarray(
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


def _select(kinds: tuple[tuple[str, bool], ...], constants: int) -> str:
    """``SELECT id, timestamp, constants..., values... FROM r WHERE true`` over the records. Parameters: ``?1`` the
    id prefix, ``?2`` the records, ``?3`` the offset of the last record, ``?4`` the width of a record, ``?5`` the
    length of the id text, then the constants."""
    selected = [
        "?1 || '_' || CAST(substr(?2, r.o + 1, ?5) AS TEXT)",
        "CAST(substr(?2, r.o + 24, 26) AS TEXT)",
        *(f"?{i + 6}" for i in range(constants)),
    ]
    for i, (_, integral) in enumerate(kinds):
        start = 4 * (_TEXT_WORDS + _CELL_WORDS * i) + 1
        value = (
            f"NULLIF(CAST(substr(?2, r.o + {start}, 20) AS INTEGER), {_NULL_SIGNIFICAND}) "
            f"* pow(2.0, CAST(substr(?2, r.o + {start + 20}, 4) AS INTEGER) - {_EXPONENT_OFFSET})"
        )
        selected.append(f"CAST({value} AS INTEGER)" if integral else value)
    select = ", ".join(selected)
    return (
        "WITH RECURSIVE r(o) AS (SELECT 0 UNION ALL SELECT o + ?4 FROM r WHERE o < ?3) "
        f"SELECT {select} FROM r WHERE true"
    )


def _statement(schema: Schema, kinds: tuple[tuple[str, bool], ...], constants: tuple[str, ...]) -> str:
    key = (schema.__tablename__, kinds, constants)
    statement = _statements.get(key)
    if statement is None:
        columns = ["id", "timestamp", *constants, *(name for name, _ in kinds)]
        known = set(schema.__table__.columns.keys())
        unknown = [c for c in columns if c not in known]
        if unknown or len(set(columns)) != len(columns):
            raise StorageError(f"{schema.__tablename__}: unknown or repeated columns {unknown or columns}")
        names = ", ".join(f'"{c}"' for c in columns)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != "id")
        select = _select(kinds, len(constants))
        statement = f'INSERT INTO "{schema.__tablename__}" ({names}) {select} ON CONFLICT (id) DO UPDATE SET {updates}'
        _statements[key] = statement
    return statement


#: doubles worth checking: decimal texts a decimal parser gets one unit in the last place wrong, extremes,
#: subnormals and signed zeros
HARD_FLOATS = (
    33956.92089990155, 23637.69941334133, 33733.21022480795, 387.248275516983, 0.1, 1e-8, 45123.45678901, 2.5e15,
    2.0**53 + 2, -1.5, 0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
    1.7976931348623157e308, -1.7976931348623157e308, 1e300, 1e-300,
)


@functools.cache
def math_functions() -> bool:
    """True when this SQLite rebuilds a record's doubles, NULLs and time texts exactly.

    A probe of the hard cases only (SQLite before 3.35, or built without its math functions, has no ``pow``);
    tests/test_throughput_paths.py compares the two paths over thousands of random values."""
    floats = np.array([*HARD_FLOATS, np.nan, np.inf])
    stamps = np.array([0, 86_400_000, 1_748_736_000_000, _MAX_MS - 1, *range(len(floats) - 4)], dtype="int64")
    width = _record_bytes(1)
    parameters = ("p", encode_records(stamps, [floats]).data, (len(floats) - 1) * width, width, 23)
    try:
        with sqlite3.connect(":memory:") as connection:
            rows = connection.execute(_select((("v", False),), 0), parameters).fetchall()
    except sqlite3.Error:
        return False
    expected = [
        (f"p_{t[:10]}T{t[11:23]}", t, float(v) if np.isfinite(v) else None)
        for t, v in zip(sql_datetimes(stamps), floats, strict=True)
    ]
    return rows == expected and all(  # the same bits, where == cannot tell (signed zeros aside: both store 0)
        np.float64(a[2]).tobytes() == np.float64(b[2]).tobytes()
        for a, b in zip(rows, expected, strict=True)
        if b[2] is not None and b[2] != 0.0
    )
