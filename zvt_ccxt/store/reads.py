"""The reads the recorders, the API and the CLI make, each a named function over plain values.

Times go in as epoch milliseconds and come out as epoch milliseconds (or as the DataFrames zvt's own
``query_data`` returns), whatever type the database hands back for a ``DateTime`` column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import or_, text
from sqlalchemy.exc import DBAPIError

from zvt_ccxt import levels
from zvt_ccxt.domain.market_data import CryptoFunding, CryptoTrade
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.store.engines import engine_and_dialect, engine_for
from zvt_ccxt.store.retrying import retried
from zvt_ccxt.store.rows import kdata_id, stamp


class StoredBar(NamedTuple):
    id: str
    ts_ms: int
    close: float | None
    change_pct: float | None


class StoredFunding(NamedTuple):
    id: str
    ts_ms: int
    funding_interval_hours: float | None


def _first(schema: Schema, statement: str, parameters: dict):
    def work():
        with engine_for(schema).connect() as connection:
            return connection.execute(text(statement), parameters).first()

    return retried(work, f"reading {schema.__tablename__}")


# -- kdata ------------------------------------------------------------------------------------------------


def last_bar_ms(schema: Schema, entity_id: str) -> int | None:
    """The open time of the latest stored bar of ``entity_id``."""
    table = schema.__tablename__
    row = _first(schema, f'SELECT MAX("timestamp") AS latest FROM "{table}" WHERE "entity_id" = :entity_id',
                 {"entity_id": entity_id})
    return None if row is None or row.latest is None else levels.to_utc_ms(row.latest)


def _bar(row) -> StoredBar | None:
    return None if row is None else StoredBar(row.id, levels.to_utc_ms(row.timestamp), row.close, row.change_pct)


def bar_before(schema: Schema, entity_id: str, ts_ms: int) -> StoredBar | None:
    """The last stored bar of ``entity_id`` opening before ``ts_ms``."""
    table = schema.__tablename__
    statement = (
        f'SELECT "id", "timestamp", "close", "change_pct" FROM "{table}" '
        'WHERE "entity_id" = :entity_id AND "timestamp" < :at ORDER BY "timestamp" DESC LIMIT 1'
    )
    return _bar(_first(schema, statement, {"entity_id": entity_id, "at": stamp(ts_ms)}))


def bar_from(schema: Schema, entity_id: str, ts_ms: int) -> StoredBar | None:
    """The first stored bar of ``entity_id`` opening at or after ``ts_ms``."""
    table = schema.__tablename__
    statement = (
        f'SELECT "id", "timestamp", "close", "change_pct" FROM "{table}" '
        'WHERE "entity_id" = :entity_id AND "timestamp" >= :at ORDER BY "timestamp" LIMIT 1'
    )
    return _bar(_first(schema, statement, {"entity_id": entity_id, "at": stamp(ts_ms)}))


class BarCount(NamedTuple):
    """One series' stored bars as a coverage report counts them."""

    total: int
    first_ms: int | None
    last_ms: int | None
    #: bars opening in each range asked for, in order
    within: list[int]


def bar_counts(schema: Schema, entity_id: str, ranges: Sequence[tuple[int, int]]) -> BarCount:
    """How many bars of ``entity_id`` are stored, the first and last open times, and how many open in each
    ``[start_ms, end_ms)`` of ``ranges``: counted by the database, no bar read back.

    Where text compares byte by byte (SQLite), the counts come from the primary key alone: a bar's id is its series
    and its open time in fixed-width text (``rows.kdata_id``), so a range of times is a range of ids. That holds
    only if every bar of the series has such an id: if the ids within the series' prefix do not add up to its bars,
    it counts by ``entity_id`` and ``timestamp`` instead, as it does on other databases (PostgreSQL: its own index on
    both)."""
    engine, dialect = engine_and_dialect(schema)
    table = schema.__tablename__
    level = schema.level_value

    def by_ids(connection) -> BarCount | None:
        total = connection.execute(text(f'SELECT COUNT(*) FROM "{table}" WHERE "entity_id" = :entity_id'),
                                   {"entity_id": entity_id}).scalar()
        where = f'FROM "{table}" WHERE "id" >= :low AND "id" < :high'
        between = text(f"SELECT COUNT(*) {where}")
        # ids of the series: its prefix, then a time text, which starts with a digit ("_0" <= it < "_:")
        series = {"low": f"{entity_id}_0", "high": f"{entity_id}_:"}
        if connection.execute(between, series).scalar() != total:
            return None
        # the ends of the index's range (MIN and MAX would compare every id of it)
        first = connection.execute(text(f'SELECT "id" {where} ORDER BY "id" LIMIT 1'), series).scalar()
        last = connection.execute(text(f'SELECT "id" {where} ORDER BY "id" DESC LIMIT 1'), series).scalar()

        def count(start: int, end: int) -> int:
            bounds = {"low": kdata_id(entity_id, level, start), "high": kdata_id(entity_id, level, end)}
            return connection.execute(between, bounds).scalar() or 0

        return _counted(total, _id_ms(entity_id, first), _id_ms(entity_id, last), ranges, count)

    def by_times(connection) -> BarCount:
        where = f'FROM "{table}" WHERE "entity_id" = :entity_id'
        total, first, last = connection.execute(
            text(f'SELECT COUNT(*), MIN("timestamp"), MAX("timestamp") {where}'), {"entity_id": entity_id}).one()
        between = text(f'SELECT COUNT(*) {where} AND "timestamp" >= :low AND "timestamp" < :high')

        def count(start: int, end: int) -> int:
            bounds = {"entity_id": entity_id, "low": stamp(start), "high": stamp(end)}
            return connection.execute(between, bounds).scalar() or 0

        return _counted(total, _ms_or_none(first), _ms_or_none(last), ranges, count)

    def work() -> BarCount:
        with engine.connect() as connection:
            counted = by_ids(connection) if dialect.text_compares_bytewise else None
            return counted if counted is not None else by_times(connection)

    return retried(work, f"counting the bars of {entity_id} in {table}")


def _counted(total: int, first_ms: int | None, last_ms: int | None, ranges: Sequence[tuple[int, int]],
             count: Callable[[int, int], int]) -> BarCount:
    """The counts, asking ``count`` only for a range that holds some of the stored bars but not all of them (a
    backfill's one fetched range holds them all: a second scan of the series spared)."""
    within = []
    for start, end in ranges:
        if first_ms is None or last_ms is None or end <= first_ms or start > last_ms:
            within.append(0)
        elif start <= first_ms and last_ms < end:
            within.append(total)
        else:
            within.append(count(start, end))
    return BarCount(total, first_ms, last_ms, within)


def _id_ms(entity_id: str, bar_id: str | None) -> int | None:
    # the time text after the series' prefix: YYYY-MM-DD (daily and longer) or YYYY-MM-DDTHH:MM:SS.mmm, UTC
    return None if bar_id is None else int(np.datetime64(bar_id[len(entity_id) + 1:], "ms").astype("int64"))


def _ms_or_none(value) -> int | None:
    return None if value is None else levels.to_utc_ms(value)


def bar_times_ms(schema: Schema, entity_id: str) -> np.ndarray:
    """Open times (ms) of every stored bar of ``entity_id``, unordered."""
    table = schema.__tablename__
    engine, dialect = engine_and_dialect(schema)
    as_ms = dialect.epoch_ms('"timestamp"')
    select = as_ms or '"timestamp"'  # the dialect's SQL or the column: no value reaches the statement
    query = text(f'SELECT {select} FROM "{table}" WHERE "entity_id" = :entity_id')
    statement = query.compile(dialect=engine.dialect)
    parameters = statement.construct_params({"entity_id": entity_id})
    positions = statement.positiontup
    bound = tuple(parameters[p] for p in positions) if positions else parameters

    driver_error = engine.dialect.loaded_dbapi.Error

    def work() -> list:
        # the driver's own cursor: a year of minutes is half a million rows, and SQLAlchemy's row objects cost as
        # much again as the read itself
        connection = None
        try:
            connection = engine.raw_connection()
            cursor = connection.cursor()
            cursor.execute(statement.string, bound)
            rows = [r[0] for r in cursor.fetchall()]
            cursor.close()
            return rows
        except driver_error as error:
            # the driver's own error, named as SQLAlchemy names it, so a restart mid-read is retried like others
            lost = connection is None or engine.dialect.is_disconnect(error, connection, None)
            if lost and connection is not None:
                connection.invalidate()
            raise DBAPIError.instance(
                statement.string, bound, error, driver_error, connection_invalidated=lost
            ) from error
        finally:
            if connection is not None:
                connection.close()

    stamps = retried(work, f"reading {table}")
    if as_ms is not None:
        return np.fromiter(stamps, dtype="int64", count=len(stamps))
    if not stamps:
        return np.empty(0, dtype="int64")
    # SQLite hands back text, always ISO 8601: parsed in one format, not guessed value by value
    iso = {"format": "ISO8601"} if isinstance(stamps[0], str) else {}
    times = pd.to_datetime(pd.Series(stamps, dtype="object"), **iso)
    return (times.astype("int64") // 1_000_000).to_numpy(dtype="int64")


# -- trades and funding -----------------------------------------------------------------------------------


def trades(entity_id: str, start_ms: int | None = None, end_ms: int | None = None) -> pd.DataFrame:
    """Stored trades of ``entity_id`` in ``[start_ms, end_ms)``: ``ts_ms``, ``trade_id``, ``price``, ``amount``,
    ``cost``, in no particular order."""
    clauses = ['"entity_id" = :entity_id']
    parameters: dict[str, str | int] = {"entity_id": entity_id}
    if start_ms is not None:
        clauses.append('"ts_ms" >= :start_ms')
        parameters["start_ms"] = int(start_ms)
    if end_ms is not None:
        clauses.append('"ts_ms" < :end_ms')
        parameters["end_ms"] = int(end_ms)
    table = CryptoTrade.__tablename__
    statement = text(
        f'SELECT "ts_ms", "trade_id", "price", "amount", "cost" FROM "{table}" WHERE {" AND ".join(clauses)}'
    )

    def work() -> list:
        with engine_for(CryptoTrade).connect() as connection:
            return list(connection.execute(statement, parameters).fetchall())

    rows = retried(work, f"reading {table}")
    return pd.DataFrame(rows, columns=["ts_ms", "trade_id", "price", "amount", "cost"])


def funding_from(entity_id: str, ts_ms: int) -> StoredFunding | None:
    """The first stored funding event of ``entity_id`` at or after ``ts_ms``."""
    table = CryptoFunding.__tablename__
    row = _first(
        CryptoFunding,
        f'SELECT "id", "ts_ms", "funding_interval_hours" FROM "{table}" '
        'WHERE "entity_id" = :entity_id AND "ts_ms" >= :at ORDER BY "ts_ms" LIMIT 1',
        {"entity_id": entity_id, "at": int(ts_ms)},
    )
    return None if row is None else StoredFunding(row.id, int(row.ts_ms), row.funding_interval_hours)


# -- whole tables, as zvt reads them ----------------------------------------------------------------------


def frame(
    schema: Schema,
    entity_ids: Sequence[str] | None = None,
    entity_id_prefixes: Sequence[str] = (),
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> pd.DataFrame:
    """Rows of ``schema`` through zvt's ``query_data``, by time: those of ``entity_ids`` if given, else of ids
    starting with any of ``entity_id_prefixes`` (all rows when neither), with ``timestamp`` in
    ``[start_ms, end_ms)``."""
    filters = []
    if entity_ids is not None:
        filters.append(schema.entity_id.in_(list(entity_ids)))
    elif entity_id_prefixes:
        like = [schema.entity_id.like(_escaped(p) + "%", escape="\\") for p in entity_id_prefixes]
        filters.append(or_(*like) if len(like) > 1 else like[0])
    if start_ms is not None:
        filters.append(schema.timestamp >= pd.Timestamp(start_ms, unit="ms"))
    if end_ms is not None:
        filters.append(schema.timestamp < pd.Timestamp(end_ms, unit="ms"))
    found = schema.query_data(provider=PROVIDER, filters=filters or None, order=schema.timestamp.asc())
    return pd.DataFrame() if found is None else found


def _escaped(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
