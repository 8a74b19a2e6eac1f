"""Records open interest history of perpetuals into ``CryptoOpenInterest``, where the exchange offers it.

``CryptoOpenInterest.record_data(provider="ccxt", exchange="binance", codes=["btcusdt"], period="1h")``
stores one row per period (``5m``, ``15m``, ``30m``, ``1h``, ``4h``, ``1d``; okx serves 5m, 1h and 1d only)
with the amount and the value as ccxt reports them: binance linear base and quote currency, binance inverse
contracts and base currency, bybit linear base only, bybit inverse USD only, okx contracts and USD.
Exchanges keep only so much (binance: 30 days; okx: the latest 1,440 periods, daily ones from 2024-01-01).
Every row is one instrument's (``scope = "instrument"``). Row id ``{entity_id}_{time}_{period}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zvt_ccxt import levels, store
from zvt_ccxt.backfill.history import Batch, timestamp
from zvt_ccxt.backfill.instruments import PERP, Instrument
from zvt_ccxt.backfill.open_interest_pager import open_interest_pager
from zvt_ccxt.backfill.summary import SymbolResult
from zvt_ccxt.domain.market_data import CryptoOpenInterest
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.errors import UnsupportedLevelError
from zvt_ccxt.exchange.client import get_client
from zvt_ccxt.exchange.profiles import profile_for
from zvt_ccxt.recorders.market_data import MarketDataRecorder
from zvt_ccxt.store.dialect import Together
from zvt_ccxt.store.rows import OPEN_INTEREST_COLUMNS, intraday_ids, number
from zvt_ccxt.store.writer import upsert

TABLE = CryptoOpenInterest.__tablename__
PERIODS = ("5m", "15m", "30m", "1h", "4h", "1d")


class CcxtOpenInterestRecorder(MarketDataRecorder):
    """Open interest statistics through the exchange's own paging (see ``zvt_ccxt.backfill.open_interest_pager``)."""

    data_type = "open_interest"
    default_entity_type = PERP
    perpetuals_only = "open interest statistics"

    def configure(self, period: str = "1h", **_zvt_arguments: Any) -> None:
        if period not in PERIODS:
            raise UnsupportedLevelError(f"open interest period {period!r}: use one of {', '.join(PERIODS)}")
        self.period = period

    @property
    def ledger_key(self) -> str:
        return f"{TABLE}_{self.period}"

    @property
    def range_grain(self) -> str:
        return self.period

    def check_exchange(self, exchange_id: str) -> None:
        super().check_exchange(exchange_id)
        served = profile_for(exchange_id).open_interest_periods or PERIODS
        if self.period not in served:
            raise UnsupportedLevelError(
                f"{exchange_id} serves open interest at {', '.join(served)} only, not {self.period!r}"
            )

    def record_instrument(self, instrument: Instrument, result: SymbolResult) -> None:
        client = get_client(instrument.exchange)
        market = client.market(instrument.symbol)
        pager = open_interest_pager(client, market, self.period)
        key = self.ledger_key
        end = self.end_of(levels.bar_start(self.now_ms(), self.period))
        start = self.start_ms
        if start is None and not store.coverage.windows(key, instrument.entity_id):
            listed = market.get("created")
            start = listed if isinstance(listed, int) and listed > 0 else 0

        def write(batch: Batch, mark: Callable[[int], Together | None]) -> None:
            kept = [
                r
                for r in batch.rows
                if number(r.get("openInterestAmount")) is not None or number(r.get("openInterestValue")) is not None
            ]
            ids, stamps = intraday_ids(instrument.entity_id, [timestamp(r) for r in kept], f"_{self.period}")
            rows = [
                (
                    ident,
                    instrument.entity_id,
                    stamp,
                    instrument.code,
                    instrument.exchange,
                    timestamp(row),
                    number(row.get("openInterestAmount")),
                    number(row.get("openInterestValue")),
                    "instrument",
                    self.period,
                )
                for row, ident, stamp in zip(kept, ids, stamps, strict=True)
            ]
            together = mark(len(batch.rows) - len(kept))
            result.rows += upsert(CryptoOpenInterest, OPEN_INTEREST_COLUMNS, rows, together=together)

        try:
            self.walk(key, instrument, result, start, end, pager.pages, write)
        finally:
            result.requests += pager.requests


CryptoOpenInterest.register_recorder_cls(PROVIDER, CcxtOpenInterestRecorder)
