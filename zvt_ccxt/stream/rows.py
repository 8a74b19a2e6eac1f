"""Stream items as rows of the same tables and ids the REST recorders write."""

from __future__ import annotations

from zvt_ccxt.backfill.instruments import Instrument
from zvt_ccxt.domain.kdata import kdata_schema
from zvt_ccxt.domain.market_data import CryptoFunding, CryptoOrderbook, CryptoTrade
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.store.rows import (
    BOOK_COLUMNS,
    FUNDING_COLUMNS,
    KDATA_COLUMNS,
    TRADE_COLUMNS,
    funding_row,
    kdata_id,
    stamp,
)
from zvt_ccxt.stream.candles import BarValues
from zvt_ccxt.stream.writer import Table

#: the ledger key of predicted (unsettled) funding rates: they are no settled history, so they are accounted apart
#: from the funding recorder's windows
PREDICTED_FUNDING_KEY = f"{CryptoFunding.__tablename__}_predicted"

TRADES_TABLE = Table(CryptoTrade, TRADE_COLUMNS, ledger=CryptoTrade.__tablename__)
BOOKS_TABLE = Table(CryptoOrderbook, BOOK_COLUMNS, ledger=CryptoOrderbook.__tablename__)
#: a live stream discards with a synthetic predicted-funding window its predicted rows only, never settled ones
FUNDING_TABLE = Table(
    CryptoFunding, FUNDING_COLUMNS, ledger=PREDICTED_FUNDING_KEY, discard_where=(("settled", False),)
)


def kdata_table(entity_type: str, level: str) -> Table:
    schema = kdata_schema(entity_type, level)
    return Table(schema, KDATA_COLUMNS, ledger=schema.__tablename__, bar_level=level)


def candle_row(
    entity: Instrument,
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
        stamp(bar.start),
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


_INTERVAL_HOURS = {"1h": 1.0, "2h": 2.0, "4h": 4.0, "8h": 8.0, "16h": 16.0, "24h": 24.0}


def predicted_funding_row(entity: Instrument, funding: dict, source: str) -> tuple | None:
    """A predicted (unsettled) funding rate keyed on the funding time it applies to."""
    ts = funding.get("fundingTimestamp") or funding.get("nextFundingTimestamp")
    if ts is None:
        return None
    hours = _INTERVAL_HOURS.get(str(funding.get("interval")))
    return funding_row(entity, funding, int(ts), hours, settled=False, source=source)
