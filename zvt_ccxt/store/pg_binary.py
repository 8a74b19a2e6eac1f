"""PostgreSQL's binary COPY format for bars, built by numpy a whole batch at a time.

A bar row has the same width whatever its values (the id and time texts have fixed lengths within a batch,
constants are one value for every row, numbers are 8-byte doubles or integers, booleans one byte), so a batch is
one structured array: per row a field count, then per column a length word and the value, big-endian. Rows
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
) -> tuple[list[str], bytes]:
    """``(columns, COPY ... (FORMAT BINARY) payload)`` of one bar per ``ts_ms`` (see ``encodable``); ids and times
    as ``dialect.bar_rows`` makes them."""
    columns = schema.__table__.columns
    count = len(ts_ms)
    texts = _time_texts(ts_ms)  # "YYYY-MM-DDTHH:MM:SS.mmm000" per row
    id_text = np.frombuffer((id_prefix + "_").encode(), dtype=np.uint8)
    id_length = 10 if daily_ids else 23
    ids = np.empty((count, len(id_text) + id_length), dtype=np.uint8)
    ids[:, : len(id_text)] = id_text
    ids[:, len(id_text):] = texts[:, :id_length]

    names = ["id", "timestamp", *constants, *values]
    fields: list[tuple[str, str]] = [("count", ">i2")]
    # encodable() has checked that every column has a kind
    fixed = [(name, _constant_bytes(str(_kind(columns[name])), value)) for name, value in constants.items()]
    arrays = {name: np.asarray(array) for name, array in values.items()}
    kinds = {name: str(_kind(columns[name])) for name in arrays}
    for i, name in enumerate(names):
        fields.append((f"l{i}", ">i4"))
        if name == "id":
            fields.append((f"v{i}", f"S{ids.shape[1]}"))
        elif name == "timestamp":
            fields.append((f"v{i}", ">i8"))
        elif name in arrays:
            fields.append((f"v{i}", kinds[name]))
        else:
            payload = dict(fixed)[name]
            if payload is not None:
                fields.append((f"v{i}", f"S{len(payload)}"))
    finite = np.ones(count, dtype=bool)
    for array in arrays.values():
        if array.dtype.kind == "f":
            finite &= np.isfinite(array)
    keep = np.flatnonzero(finite) if not finite.all() else slice(None)
    rows = np.empty(count if isinstance(keep, slice) else len(keep), dtype=np.dtype(fields))
    rows["count"] = len(names)
    constant_payloads = dict(fixed)
    for i, name in enumerate(names):
        if name == "id":
            rows[f"l{i}"] = ids.shape[1]
            rows[f"v{i}"] = ids[keep].view(f"S{ids.shape[1]}").ravel()
        elif name == "timestamp":
            rows[f"l{i}"] = 8
            rows[f"v{i}"] = ts_ms[keep] * 1000 - _PG_EPOCH_US
        elif name in arrays:
            rows[f"l{i}"] = np.dtype(kinds[name]).itemsize
            rows[f"v{i}"] = arrays[name][keep]
        else:
            payload = constant_payloads[name]
            rows[f"l{i}"] = -1 if payload is None else len(payload)
            if payload is not None:
                rows[f"v{i}"] = payload
    parts = [HEADER, rows.tobytes()]
    for row in np.flatnonzero(~finite):  # rows with a NULL: their own widths
        parts.append(_row_with_nulls(names, row, ids, ts_ms, arrays, kinds, constant_payloads))
    parts.append(TRAILER)
    return names, b"".join(parts)


def _row_with_nulls(names, row, ids, ts_ms, arrays, kinds, constant_payloads) -> bytes:
    out = [struct.pack(">h", len(names))]
    for name in names:
        if name == "id":
            payload: bytes | None = ids[row].tobytes()
        elif name == "timestamp":
            payload = struct.pack(">q", int(ts_ms[row]) * 1000 - _PG_EPOCH_US)
        elif name in arrays:
            value = arrays[name][row]
            finite = not (isinstance(value, float | np.floating) and not np.isfinite(value))
            payload = np.array([value], dtype=kinds[name]).tobytes() if finite else None
        else:
            payload = constant_payloads[name]
        out.append(struct.pack(">i", -1) if payload is None else struct.pack(">i", len(payload)) + payload)
    return b"".join(out)
