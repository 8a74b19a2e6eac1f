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

from collections.abc import Callable

from zvt_ccxt import levels, store
from zvt_ccxt.backfill.history import Batch
from zvt_ccxt.backfill.instruments import SPOT, Instrument
from zvt_ccxt.backfill.summary import SymbolResult
from zvt_ccxt.backfill.trade_pager import trade_pager
from zvt_ccxt.domain.market_data import CryptoTrade
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.exchange.client import get_client
from zvt_ccxt.recorders.market_data import MarketDataRecorder
from zvt_ccxt.store import rows
from zvt_ccxt.store.dialect import Together
from zvt_ccxt.store.rows import TRADE_COLUMNS, valid_trade
from zvt_ccxt.store.writer import upsert

TABLE = CryptoTrade.__tablename__


def trade_rows(instrument: Instrument, trades: list[dict]) -> tuple[list[tuple], int]:
    """Rows for ``TRADE_COLUMNS`` and the number of trades refused (no positive finite price and amount)."""
    kept = [t for t in trades if valid_trade(t)]
    return rows.trade_rows(instrument, kept, "rest"), len(trades) - len(kept)


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

        def write(batch: Batch, mark: Callable[[int], Together | None]) -> None:
            stored, rejected = trade_rows(instrument, batch.rows)
            result.rows += upsert(CryptoTrade, TRADE_COLUMNS, stored, together=mark(rejected))

        try:
            first_run = not store.coverage.windows(TABLE, instrument.entity_id)
            if self.start_ms is None and not self.repair_only and first_run:
                batch = pager.latest(end)
                if batch is not None:
                    self.save(TABLE, instrument, result, batch, write)
                return
            self.walk(TABLE, instrument, result, self.start_ms, end, pager.pages, write)
        finally:
            result.requests += pager.requests


CryptoTrade.register_recorder_cls(PROVIDER, CcxtTradeRecorder)
