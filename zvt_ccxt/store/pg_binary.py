"""PostgreSQL's binary COPY format for bars, built by numpy a whole batch at a time.

A bar row has the same width whatever its values (the id and time texts have fixed lengths within a batch,
constants are one value for every row, numbers are 8-byte doubles or integers, booleans one byte), so a batch is
one matrix of bytes, a row per bar: a field count, then per column a length word and the value, big-endian. Rows
holding NULL (a NaN or infinite value) have no such fixed shape and are encoded one by one after the others.
Times are microseconds since 2000-01-01, PostgreSQL's ``timestamp`` representation; doubles travel bit for bit.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

import numpy as np
from sqlalchemy import BigInteger, Boolean, DateTime, Float, Integer, SmallInteger, String

from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.store.sqlite_records import _time_texts

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
#: microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01
_PG_EPOCH_US = 946_684_800_000_000
#: SQLAlchemy column type -> the big-endian numpy type of its binary value (strings are handled apart)
_NUMBER_TYPES = ((Boolean, ">?"), (BigInteger, ">i8"), (SmallInteger, ">i2"), (Integer, ">i4"), (Float, ">f8"))


def _kind(column) -> str | None:
    """``text``, ``timestamp`` or a numpy type string for ``column``'s binary value; None: not encodable here."""
    if isinstance(column.type, DateTime):
        return "timestamp"
    if isinstance(column.type, String):
        return "text"
    for sql_type, numpy_type in _NUMBER_TYPES:
        if isinstance(column.type, sql_type):
            return numpy_type
    return None


def encodable(schema: Schema, values: Mapping[str, np.ndarray], constants: Mapping[str, object]) -> bool:
    columns = schema.__table__.columns
    names = ["id", "timestamp", *constants, *values]
    if len(set(names)) != len(names) or any(n not in columns for n in names):
        return False
    if any(_kind(columns[n]) is None for n in names):
        return False
    return all(_kind(columns[n]) not in ("text", "timestamp") for n in values)


def _constant_bytes(kind: str, value: object) -> bytes | None:
    if value is None:
        return None
    if kind == "text":
        return str(value).encode()
    if kind == "timestamp":
        raise ValueError("a constant time")
    return np.array([value], dtype=kind).tobytes()


def encode(
    schema: Schema,
    ts_ms: np.ndarray,
    values: Mapping[str, np.ndarray],
    constants: Mapping[str, object],
    id_prefix: str,
    daily_ids: bool,
) -> tuple[list[str], list]:
    """``(columns, buffers)``: the buffers, sent in order, are the ``COPY ... (FORMAT BINARY)`` payload of one bar
    per ``ts_ms`` (see ``encodable``); ids and times as ``dialect.bar_rows`` makes them.

    Every fixed-shape row starts as a copy of one template row (field count, length words, the constants and the
    id prefix); only the id's time text, the time and the values are written per row, each a column of bytes."""
    columns = schema.__table__.columns
    count = len(ts_ms)
    prefix = (id_prefix + "_").encode()
    id_texts = id_time_texts(ts_ms, daily_ids)
    names = ["id", "timestamp", *constants, *values]
    # encodable() has checked that every column has a kind
    constant_payloads = {name: _constant_bytes(str(_kind(columns[name])), value) for name, value in constants.items()}
    arrays = {name: np.asarray(array) for name, array in values.items()}
    kinds = {name: str(_kind(columns[name])) for name in arrays}

    template = bytearray(struct.pack(">h", len(names)))
    slots: dict[str, int] = {}  # column -> offset of its value in a row
    for name in names:
        if name == "id":
            template += struct.pack(">i", len(prefix) + id_texts.shape[1]) + prefix
            slots[name] = len(template)
            template += bytes(id_texts.shape[1])
        elif name == "timestamp":
            template += struct.pack(">i", 8)
            slots[name] = len(template)
            template += bytes(8)
        elif name in arrays:
            width = np.dtype(kinds[name]).itemsize
            template += struct.pack(">i", width)
            slots[name] = len(template)
            template += bytes(width)
        else:
            payload = constant_payloads[name]
            template += struct.pack(">i", -1) if payload is None else struct.pack(">i", len(payload)) + payload

    finite = np.ones(count, dtype=bool)
    for array in arrays.values():
        if array.dtype.kind == "f":
            finite &= np.isfinite(array)
    every_finite = bool(finite.all())
    kept_rows = np.flatnonzero(finite)
    keep = slice(None) if every_finite else kept_rows
    kept = len(kept_rows)
    rows = np.empty((kept, len(template)), dtype=np.uint8)
    rows[:] = np.frombuffer(bytes(template), dtype=np.uint8)
    at = slots["id"]
    rows[:, at:at + id_texts.shape[1]] = id_texts[keep]
    _put(rows, slots["timestamp"], ts_ms[keep] * 1000 - _PG_EPOCH_US, ">i8")
    for name, array in arrays.items():
        _put(rows, slots[name], array[keep], kinds[name])
    buffers: list = [HEADER, rows.reshape(-1).data]
    for row in np.flatnonzero(~finite):  # rows with a NULL: their own widths
        ids = prefix + id_texts[row].tobytes()
        buffers.append(_row_with_nulls(names, ids, int(ts_ms[row]), {n: a[row] for n, a in arrays.items()}, kinds,
                                       constant_payloads))
    buffers.append(TRAILER)
    return names, buffers


def _put(rows: np.ndarray, at: int, column: np.ndarray, numpy_type: str) -> None:
    """Write ``column`` as big-endian ``numpy_type`` values into the bytes of each row from ``at`` on."""
    encoded = np.ascontiguousarray(column, dtype=numpy_type)
    rows[:, at:at + encoded.itemsize] = encoded.view(np.uint8).reshape(len(encoded), encoded.itemsize)


#: "HH:MM:SS" of every second of a day and ".mmm" of every millisecond, built on first use
_CLOCK_TEXTS: list[np.ndarray] = []


def _clock_texts() -> tuple[np.ndarray, np.ndarray]:
    if not _CLOCK_TEXTS:
        seconds = np.arange(86_400)
        hms = _time_texts(seconds * 1000)[:, 11:19]
        millis = _time_texts(np.arange(1000))[:, 19:23]
        _CLOCK_TEXTS[:] = [np.ascontiguousarray(hms), np.ascontiguousarray(millis)]
    hms, millis = _CLOCK_TEXTS
    return hms, millis


def id_time_texts(ts_ms: np.ndarray, daily_ids: bool) -> np.ndarray:
    """The time part of each bar's id as rows of ASCII bytes: ``YYYY-MM-DD`` (``daily_ids``) or
    ``YYYY-MM-DDTHH:MM:SS.mmm``. Dates are worked out once per distinct day, clock texts looked up."""
    ts_ms = np.asarray(ts_ms, dtype="int64")
    days, ms_of_day = np.divmod(ts_ms, 86_400_000)
    if not len(ts_ms):
        return np.empty((0, 10 if daily_ids else 23), dtype=np.uint8)
    first, last = int(days.min()), int(days.max())
    if last - first < len(ts_ms):  # a table of the span's dates, indexed by day
        dates = _time_texts(np.arange(first, last + 1, dtype="int64") * 86_400_000)[:, :10][days - first]
    else:
        dates = _time_texts(ts_ms)[:, :10]
    if daily_ids:
        return np.ascontiguousarray(dates)
    hms, millis = _clock_texts()
    seconds, ms = np.divmod(ms_of_day, 1000)
    texts = np.empty((len(ts_ms), 23), dtype=np.uint8)
    texts[:, :10] = dates
    texts[:, 10] = ord("T")
    texts[:, 11:19] = hms[seconds]
    texts[:, 19:23] = millis[ms]
    return texts


def _row_with_nulls(names, id_bytes: bytes, ts_ms: int, values: Mapping, kinds, constant_payloads) -> bytes:
    out = [struct.pack(">h", len(names))]
    for name in names:
        if name == "id":
            payload: bytes | None = id_bytes
        elif name == "timestamp":
            payload = struct.pack(">q", ts_ms * 1000 - _PG_EPOCH_US)
        elif name in values:
            value = values[name]
            finite = not (isinstance(value, float | np.floating) and not np.isfinite(value))
            payload = np.array([value], dtype=kinds[name]).tobytes() if finite else None
        else:
            payload = constant_payloads[name]
        out.append(struct.pack(">i", -1) if payload is None else struct.pack(">i", len(payload)) + payload)
    return b"".join(out)
