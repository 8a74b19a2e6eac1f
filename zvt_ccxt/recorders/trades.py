"""Records public trades of spot pairs and perpetuals into ``CryptoTrade``.

``CryptoTrade.record_data(provider="ccxt", exchange="binance", codes=["btcusdt"], start_timestamp="2024-06-01")``
backfills from the start through the last complete minute; a later run fetches only what coverage says is
missing. Without a start, a first run stores the exchange's latest page of trades and later runs continue
from there (the only way on exchanges that serve recent trades only, such as bybit). Codes are spot pairs
unless ``market="perp"`` or a ccxt symbol like ``BTC/USDT:USDT`` says otherwise.

Row id ``{entity_id}_{trade_id}``: a trade is stored once however often it is fetched. A trade without an
exchange id gets a hash of (time, price, amount, side).
"""

from __future__ import annotations

import hashlib
import math

from zvt_ccxt import levels
from zvt_ccxt.backfill import coverage
from zvt_ccxt.backfill.history import Batch
from zvt_ccxt.backfill.instruments import SPOT, Instrument
from zvt_ccxt.backfill.recording import MarketDataRecorder
from zvt_ccxt.backfill.summary import SymbolResult
from zvt_ccxt.backfill.trade_pager import trade_pager
from zvt_ccxt.domain.market_data import CryptoTrade
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.exchange.client import get_client
from zvt_ccxt.storage.writer import sql_datetimes, upsert

TABLE = CryptoTrade.__tablename__
COLUMNS = (
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


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def trade_id(trade: dict) -> str:
    """The exchange's trade id, else a stable hash of what identifies the trade."""
    value = trade.get("id")
    if value not in (None, ""):
        return str(value)
    key = f"{trade['timestamp']}|{trade.get('price')}|{trade.get('amount')}|{trade.get('side')}"
    return "h" + hashlib.sha1(key.encode()).hexdigest()[:20]


def trade_rows(instrument: Instrument, trades: list[dict]) -> tuple[list[tuple], int]:
    """Rows for ``COLUMNS`` and the number of trades refused (no positive finite price and amount)."""
    kept = [t for t in trades if _positive(t.get("price")) and _positive(t.get("amount"))]
    stamps = sql_datetimes([int(t["timestamp"]) for t in kept])
    rows = []
    for trade, stamp in zip(kept, stamps, strict=True):
        ident = trade_id(trade)
        cost = trade.get("cost")
        rows.append(
            (
                f"{instrument.entity_id}_{ident}",
                instrument.entity_id,
                stamp,
                instrument.code,
                instrument.exchange,
                int(trade["timestamp"]),
                ident,
                float(trade["price"]),
                float(trade["amount"]),
                float(cost) if _positive(cost) else None,
                trade.get("side"),
                trade.get("takerOrMaker"),
                "rest",
            )
        )
    return rows, len(trades) - len(kept)


class CcxtTradeRecorder(MarketDataRecorder):
    """Public trades through the exchange's own cursor (see ``zvt_ccxt.backfill.trade_pager``)."""

    data_type = "trades"
    default_entity_type = SPOT

    @property
    def mode(self) -> str:
        return "historical" if self.start_ms is not None else "recent"

    def record_instrument(self, instrument: Instrument, result: SymbolResult) -> None:
        client = get_client(instrument.exchange)
        pager = trade_pager(client, client.market(instrument.symbol))
        # trades of the forming minute are left to the next run, so a covered minute is final
        end = self.end_of(levels.bar_start(self.now_ms(), "1m"))

        def store(batch: Batch) -> int:
            rows, rejected = trade_rows(instrument, batch.rows)
            result.rows += upsert(CryptoTrade, COLUMNS, rows)
            return rejected

        try:
            first_run = not coverage.load_windows(TABLE, instrument.entity_id)
            if self.start_ms is None and not self.repair_only and first_run:
                batch = pager.latest(end)
                if batch is not None:
                    self.save(TABLE, instrument, result, batch, store)
                return
            self.walk(TABLE, instrument, result, self.start_ms, end, pager.pages, store)
        finally:
            result.requests += pager.requests


CryptoTrade.register_recorder_cls(PROVIDER, CcxtTradeRecorder)
