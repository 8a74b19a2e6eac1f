"""One resolver: a symbol or code names the same stored entity for the recorders, the streams, coverage_report
and the CLI, by the one code rule."""

from __future__ import annotations

import pandas as pd
import pytest

import zvt_ccxt
from zvt_ccxt import store as stored
from zvt_ccxt.backfill import instruments
from zvt_ccxt.domain import CryptoPair, CryptoPerp, CryptoPerp1hKdata
from zvt_ccxt.errors import UnknownSymbolError
from zvt_ccxt.exchange.markets import entity_rows
from zvt_ccxt.store.coverage import Window

HOUR = 3_600_000


def market(symbol: str, market_id: str, kind: str) -> dict:
    base, rest = symbol.split("/")
    quote, _, settle = rest.partition(":")
    return {
        "symbol": symbol,
        "id": market_id,
        "base": base,
        "quote": quote,
        "settle": settle or None,
        "type": kind,
        "spot": kind == "spot",
        "swap": kind == "swap",
        "active": True,
    }


#: two perpetuals share base and quote, so one of them keeps ``btcusdt`` and the other takes its market id
MARKETS = [
    market("BTC/USDT", "BTC-USDT", "spot"),
    market("ETH/USDT", "ETH-USDT", "spot"),
    market("BTC/USDT:USDT", "BTC-USDT-SWAP", "swap"),
    market("BTC/USDT:BTC", "BTC-USDT-INV", "swap"),
]


@pytest.fixture
def markets(store):
    for schema in (CryptoPair, CryptoPerp):
        stored.entities.save(schema, pd.DataFrame(entity_rows("okx", MARKETS, schema.__tablename__)))


def test_a_symbol_resolves_to_the_same_entity_for_recorders_streams_coverage_and_the_cli(markets):
    symbol = "BTC/USDT:USDT"
    [recorded] = instruments.resolve(["okx"], [symbol], market=None, default_type=instruments.SPOT)
    streamed = instruments.resolve_symbols("okx", [symbol])[symbol]
    assert recorded == streamed
    assert recorded.entity_type == "cryptoperp" and recorded.symbol == symbol and recorded.perpetual
    assert recorded.code == "btcusdtswap"  # BTC/USDT:BTC sorts first and keeps btcusdt
    stored.coverage.save(CryptoPerp1hKdata.__tablename__, recorded.entity_id, [Window(0, HOUR, "fetched", 1)])
    report = zvt_ccxt.coverage_report(CryptoPerp1hKdata, exchange="okx", codes=[symbol])
    assert report.entity_id.tolist() == [recorded.entity_id]
    assert instruments.stored_codes("cryptoperp", "okx", [symbol]) == [recorded.code]  # the CLI's export


def test_a_code_follows_the_market_asked_for_and_a_table_of_one_type(markets):
    [spot] = instruments.resolve(["okx"], ["BTCUSDT"])
    [perp] = instruments.resolve(["okx"], ["btc-usdt"], market="perp")
    assert (spot.entity_id, perp.entity_id) == ("cryptopair_okx_btcusdt", "cryptoperp_okx_btcusdt")
    # a kdata table holds one entity type: everything resolves against it
    [one_type] = instruments.resolve(["okx"], ["btcusdt"], entity_type="cryptoperp")
    assert one_type == perp
    everything = instruments.resolve(["okx"], None, market="perp")
    assert [i.entity_id for i in everything] == ["cryptoperp_okx_btcusdt", "cryptoperp_okx_btcusdtswap"]


def test_what_names_nothing_is_refused_by_recorders_and_left_out_of_reports(markets):
    with pytest.raises(UnknownSymbolError, match="perpetual swaps only"):
        instruments.resolve(["okx"], ["BTC/USDT"], perpetuals_only="funding rates")
    with pytest.raises(UnknownSymbolError, match="no stored entity cryptopair_okx_dogeusdt"):
        instruments.load(["cryptopair_okx_btcusdt", "cryptopair_okx_dogeusdt"])
    candidates = ["cryptoperp_okx_btcusdt", "cryptoperp_okx_btcusdtswap"]
    assert instruments.stored_ids("cryptoperp", candidates, ["BTC/USDT", "DOGE/USDT:USDT"]) == []
    assert instruments.stored_ids("cryptoperp", candidates, ["BTC/USDT:BTC"]) == ["cryptoperp_okx_btcusdt"]
