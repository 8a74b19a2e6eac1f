"""Rows of the tables: column lists, stored time text, and ccxt structures as rows, one mapping for the REST
recorders and the streams.

Both paths write the same tables, so a trade or a snapshot must get the same id and the same columns
whichever path stored it. Functions take any ``target`` with ``entity_id``, ``code`` and ``exchange``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import numpy as np
import pandas as pd

from zvt_ccxt import levels
from zvt_ccxt.errors import DataValidationError

KDATA_COLUMNS = (
    "id",
    "entity_id",
    "timestamp",
    "provider",
    "code",
    "name",
    "level",
    "open",
    "close",
    "high",
    "low",
    "volume",
    "turnover",
    "change_pct",
    "timeframe",
    "derived",
    "turnover_estimated",
    "closed",
)
#: the columns every market-data row starts with: zvt's id and entity keys, then the exchange time in ms
MARKET_DATA_KEYS = ("id", "entity_id", "timestamp", "code", "exchange", "ts_ms")
TRADE_COLUMNS = (
    *MARKET_DATA_KEYS,
    "trade_id",
    "price",
    "amount",
    "cost",
    "side",
    "taker_or_maker",
    "source",
)
BOOK_COLUMNS = (
    *MARKET_DATA_KEYS,
    "nonce",
    "depth",
    "bids",
    "asks",
    "best_bid",
    "best_bid_size",
    "best_ask",
    "best_ask_size",
    "spread",
    "mid",
    "source",
)
FUNDING_COLUMNS = (
    *MARKET_DATA_KEYS,
    "funding_rate",
    "funding_interval_hours",
    "mark_price",
    "index_price",
    "settled",
    "source",
)
OPEN_INTEREST_COLUMNS = (*MARKET_DATA_KEYS, "open_interest_amount", "open_interest_value", "scope", "period")


#: up to this many times are stamped one by one from the caches below: numpy's fixed cost per call is what a
#: stream pays when it stamps a trade or a bar at a time (beyond it numpy is the cheaper, unless every time
#: falls in a second already stamped)
_FEW = 16
#: the text after the second of each millisecond: ".mmm000"
_MILLISECOND_TEXT = tuple(f".{n:03d}000" for n in range(1_000))


@functools.lru_cache(maxsize=4_096)  # a stream's times fall in few days
def _day_text(day: int) -> str:
    return str(np.datetime64(day, "D"))


@functools.lru_cache(maxsize=4_096)  # and in few seconds
def _second_text(second: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` of a second since the epoch."""
    day, into_day = divmod(second, 86_400)  # floored: a time before 1970 falls in the day before
    hours, into_hour = divmod(into_day, 3_600)
    return f"{_day_text(day)} {hours:02d}:{into_hour // 60:02d}:{into_hour % 60:02d}"


def sql_datetimes(ms: Sequence[int] | np.ndarray) -> list[str]:
    """Epoch milliseconds as the stored time text: SQLAlchemy's DATETIME text in UTC, always with microseconds."""
    if len(ms) <= _FEW:
        # int() truncates as the cast to int64 below does; floor division keeps times before 1970 right
        return [_second_text(whole // 1_000) + _MILLISECOND_TEXT[whole % 1_000] for whole in map(int, ms)]
    text = np.datetime_as_string(np.asarray(ms, dtype="int64").astype("datetime64[ms]"), unit="us")
    return [value.replace("T", " ") for value in text.tolist()]


def sql_datetime(value: datetime | pd.Timestamp | None) -> str | None:
    """A naive UTC datetime as the stored time text."""
    if value is None or value is pd.NaT:
        return None
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S.%f")


class Target(Protocol):
    """What a row is stored under (an ``Instrument``, read-only)."""

    @property
    def entity_id(self) -> str: ...

    @property
    def code(self) -> str: ...

    @property
    def exchange(self) -> str: ...


def number(value: object) -> float | None:
    """A finite float, or None."""
    if isinstance(value, bool):
        return None
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def positive(value: object) -> bool:
    if type(value) is float:  # what parsers give: NaN fails both comparisons
        return 0.0 < value < math.inf
    result = number(value)
    return result is not None and result > 0


def stamp(ms: int) -> str:
    """One epoch-ms instant as the SQL time text every table stores."""
    return sql_datetimes([ms])[0]


def intraday_ids(entity_id: str, ts_ms: Sequence[int], suffix: str = "") -> tuple[list[str], list[str]]:
    """``(ids, timestamps)``: zvt's intraday ids ``{entity_id}_{YYYY-MM-DDTHH:MM:SS.mmm}{suffix}`` and SQL times."""
    stamps = sql_datetimes(list(ts_ms)) if len(ts_ms) else []
    return [f"{entity_id}_{s[:10]}T{s[11:23]}{suffix}" for s in stamps], stamps


def kdata_id(entity_id: str, level: str, start_ms: int) -> str:
    """zvt's kdata id: the date for daily and longer bars, the intraday id otherwise."""
    text = stamp(start_ms)
    if levels.nominal_ms(level) >= levels.DAY_MS:
        return f"{entity_id}_{text[:10]}"
    return f"{entity_id}_{text[:10]}T{text[11:23]}"


def valid_trade(trade: dict) -> bool:
    """A trade worth storing: a timestamp and a positive, finite price and amount."""
    return (
        isinstance(trade.get("timestamp"), (int, float))
        and positive(trade.get("price"))
        and positive(trade.get("amount"))
    )


def trade_id(trade: dict) -> str:
    """The exchange's trade id, else a stable hash of what identifies the trade."""
    value = trade.get("id")
    if value not in (None, ""):
        return str(value)
    key = f"{trade['timestamp']}|{trade.get('price')}|{trade.get('amount')}|{trade.get('side')}"
    return "h" + hashlib.sha1(key.encode()).hexdigest()[:20]


def trade_rows(target: Target, trades: list[dict], source: str) -> list[tuple]:
    """Rows for ``TRADE_COLUMNS`` of trades that passed ``valid_trade``; the id is ``{entity_id}_{trade_id}``."""
    stamps = sql_datetimes([int(t["timestamp"]) for t in trades]) if trades else []
    rows = []
    for trade, stamp in zip(trades, stamps, strict=True):
        ident = trade_id(trade)
        price, amount = float(trade["price"]), float(trade["amount"])
        cost = number(trade.get("cost"))
        rows.append(
            (
                f"{target.entity_id}_{ident}",
                target.entity_id,
                stamp,
                target.code,
                target.exchange,
                int(trade["timestamp"]),
                ident,
                price,
                amount,
                cost if cost is not None and cost > 0 else None,
                trade.get("side"),
                trade.get("takerOrMaker"),
                source,
            )
        )
    return rows


def _keys(target: Target, ts_ms: int) -> tuple[str, str, str, str, str, int]:
    """The ``MARKET_DATA_KEYS`` of one row at ``ts_ms``: zvt's intraday id, the entity, the time."""
    ids, stamps = intraday_ids(target.entity_id, [ts_ms])
    return ids[0], target.entity_id, stamps[0], target.code, target.exchange, int(ts_ms)


def funding_row(
    target: Target,
    funding: Mapping,
    ts_ms: int,
    interval_hours: float | None,
    *,
    settled: bool,
    source: str,
    mark_field: str | None = None,
) -> tuple | None:
    """A row for ``FUNDING_COLUMNS`` from a ccxt funding structure (a settled event of the history, or the
    predicted rate a stream or poll sees) keyed on the funding time ``ts_ms``; None without a rate. The mark
    price is the structure's, else ``info[mark_field]`` where the exchange puts it there."""
    rate = number(funding.get("fundingRate"))
    if rate is None:
        return None
    mark = number(funding.get("markPrice"))
    info = funding.get("info")
    if not mark and mark_field and isinstance(info, Mapping):
        mark = number(info.get(mark_field))
    return (
        *_keys(target, ts_ms),
        rate,
        interval_hours,
        mark,
        number(funding.get("indexPrice")),
        settled,
        source,
    )


def book_levels(side: list, depth: int, descending: bool, name: str) -> list[list[float]]:
    """The best ``depth`` levels as ``[price, amount]`` floats, refusing non-positive, unsorted or repeated prices."""
    result = []
    for entry in side[:depth]:
        price, amount = number(entry[0]), number(entry[1])
        if price is None or amount is None or price <= 0 or amount < 0:
            raise DataValidationError(f"{name} level {entry!r} is not a positive price and amount")
        result.append([price, amount])
    prices = [p for p, _ in result]
    if prices != sorted(prices, reverse=descending) or len(set(prices)) != len(prices):
        raise DataValidationError(f"{name} are not sorted best first")
    return result


def book_row(target: Target, bids: list, asks: list, nonce: object, ts_ms: int, source: str) -> tuple:
    """A row for ``BOOK_COLUMNS`` from levels already cut to depth (see ``book_levels``); refuses a crossed book."""
    if bids and asks and bids[0][0] >= asks[0][0]:
        raise DataValidationError(f"crossed book: best bid {bids[0][0]} >= best ask {asks[0][0]}")
    best_bid, best_bid_size = bids[0] if bids else (None, None)
    best_ask, best_ask_size = asks[0] if asks else (None, None)
    spread = mid = None
    if best_bid is not None and best_ask is not None:
        spread, mid = best_ask - best_bid, (best_ask + best_bid) / 2
    return (
        *_keys(target, ts_ms),
        int(nonce) if isinstance(nonce, int | float) and not isinstance(nonce, bool) else None,
        max(len(bids), len(asks)),
        json.dumps(bids),
        json.dumps(asks),
        best_bid,
        best_bid_size,
        best_ask,
        best_ask_size,
        spread,
        mid,
        source,
    )
