"""Stream items as rows of the same tables and ids the REST recorders write."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from zvt_ccxt import levels
from zvt_ccxt.domain.kdata import kdata_schema
from zvt_ccxt.domain.market_data import CryptoFunding, CryptoOrderbook, CryptoTrade
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.recorders.kdata import KDATA_COLUMNS
from zvt_ccxt.storage.writer import sql_datetimes
from zvt_ccxt.stream.candles import BarValues
from zvt_ccxt.stream.writer import Table

TRADE_COLUMNS = (
    "id",
    "entity_id",
    "timestamp",
    "code",
    "exchange",
    "ts_ms",
    "trade_id",
    "price",
    "amount",
    "cost",
    "side",
    "taker_or_maker",
    "source",
)
BOOK_COLUMNS = (
    "id",
    "entity_id",
    "timestamp",
    "code",
    "exchange",
    "ts_ms",
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
    "id",
    "entity_id",
    "timestamp",
    "code",
    "exchange",
    "ts_ms",
    "funding_rate",
    "funding_interval_hours",
    "mark_price",
    "index_price",
    "settled",
    "source",
)

TRADES_TABLE = Table(CryptoTrade, TRADE_COLUMNS)
BOOKS_TABLE = Table(CryptoOrderbook, BOOK_COLUMNS)
FUNDING_TABLE = Table(CryptoFunding, FUNDING_COLUMNS)


@dataclass(frozen=True)
class Entity:
    """The zvt entity a streamed symbol is stored under."""

    entity_id: str
    entity_type: str
    exchange: str
    code: str
    symbol: str


def kdata_table(entity_type: str, level: str) -> Table:
    return Table(kdata_schema(entity_type, level), KDATA_COLUMNS)


def _stamp(ms: int) -> str:
    return sql_datetimes(np.array([ms], dtype="int64"))[0]


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def trade_rows(entity: Entity, trades: list[dict], source: str) -> list[tuple]:
    """Rows of ccxt trades (one vectorised timestamp conversion per batch: streams are busy)."""
    stamps = sql_datetimes(np.fromiter((int(t["timestamp"]) for t in trades), dtype="int64", count=len(trades)))
    rows = []
    entity_id, code, exchange = entity.entity_id, entity.code, entity.exchange
    for trade, stamp in zip(trades, stamps, strict=True):
        price, amount = _number(trade.get("price")), _number(trade.get("amount"))
        cost = _number(trade.get("cost"))
        if cost is None and price is not None and amount is not None:
            cost = price * amount
        trade_id = str(trade.get("id"))
        rows.append(
            (
                f"{entity_id}_{trade_id}",
                entity_id,
                stamp,
                code,
                exchange,
                int(trade["timestamp"]),
                trade_id,
                price,
                amount,
                cost,
                trade.get("side"),
                trade.get("takerOrMaker"),
                source,
            )
        )
    return rows


def kdata_id(entity_id: str, level: str, start_ms: int) -> str:
    stamp = _stamp(start_ms)
    if levels.nominal_ms(level) >= levels.DAY_MS:
        return f"{entity_id}_{stamp[:10]}"
    return f"{entity_id}_{stamp[:10]}T{stamp[11:23]}"


def candle_row(
    entity: Entity,
    level: str,
    bar: BarValues,
    *,
    closed: bool,
    timeframe: str,
    derived: bool,
    estimated: bool,
    previous_close: float | None,
) -> tuple:
    change = None if not previous_close else bar.close / previous_close - 1.0
    return (
        kdata_id(entity.entity_id, level, bar.start),
        entity.entity_id,
        _stamp(bar.start),
        PROVIDER,
        entity.code,
        entity.symbol,
        level,
        bar.open,
        bar.close,
        bar.high,
        bar.low,
        bar.volume,
        bar.turnover,
        change,
        timeframe,
        derived,
        estimated,
        closed,
    )


def book_row(entity: Entity, book: dict, depth: int, bids: list, asks: list, ts: int) -> tuple:
    best_bid, best_ask = (bids[0] if bids else [None, None]), (asks[0] if asks else [None, None])
    spread = mid = None
    if best_bid[0] is not None and best_ask[0] is not None:
        spread, mid = best_ask[0] - best_bid[0], (best_ask[0] + best_bid[0]) / 2
    nonce = book.get("nonce")
    return (
        f"{entity.entity_id}_{ts}",
        entity.entity_id,
        _stamp(ts),
        entity.code,
        entity.exchange,
        ts,
        int(nonce) if isinstance(nonce, int | float) else None,
        depth,
        json.dumps(bids),
        json.dumps(asks),
        best_bid[0],
        best_bid[1],
        best_ask[0],
        best_ask[1],
        spread,
        mid,
        "stream",
    )


_INTERVAL_HOURS = {"1h": 1.0, "2h": 2.0, "4h": 4.0, "8h": 8.0, "16h": 16.0, "24h": 24.0}


def funding_row(entity: Entity, funding: dict, source: str) -> tuple | None:
    """A predicted (unsettled) funding rate keyed on the funding time it applies to."""
    ts = funding.get("fundingTimestamp") or funding.get("nextFundingTimestamp")
    rate = _number(funding.get("fundingRate"))
    if ts is None or rate is None:
        return None
    ts = int(ts)
    hours = _INTERVAL_HOURS.get(str(funding.get("interval")))
    return (
        kdata_id(entity.entity_id, "1m", ts),
        entity.entity_id,
        _stamp(ts),
        entity.code,
        entity.exchange,
        ts,
        rate,
        hours,
        _number(funding.get("markPrice")),
        _number(funding.get("indexPrice")),
        False,
        source,
    )
