import string

from hypothesis import given
from hypothesis import strategies as st

from zvt_ccxt.codes import assign_codes, base_code, looks_like_symbol, normalise_code
from zvt_ccxt.exchange.markets import entity_rows, entity_type_of, resolve_codes


def market(symbol, base, quote, market_id, active=True, kind="spot", **extra):
    return {
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "id": market_id,
        "active": active,
        "type": kind,
        "spot": kind == "spot",
        "swap": kind == "swap",
        **extra,
    }


def test_codes_are_lowercase_base_and_quote():
    assert base_code(market("BTC/USDT", "BTC", "USDT", "BTCUSDT")) == "btcusdt"
    assert base_code(market("BTC/USDT:USDT", "BTC", "USDT", "BTC-USDT-SWAP")) == "btcusdt"
    assert base_code(market("1000PEPE/USDT:USDT", "1000PEPE", "USDT", "1000PEPEUSDT")) == "1000pepeusdt"


def test_collisions_resolve_deterministically_whatever_the_input_order():
    plain = market("BTC/USDT", "BTC", "USDT", "BTCUSDT")
    twin = market("BTC/US:DT", "BTC", "US:DT", "XBT-USDT", active=False)
    triplet = market("BTC/USD:T", "BTC", "USD:T", "BTC-USD-T", active=False)
    forward = assign_codes([plain, twin, triplet])
    assert forward == assign_codes([triplet, twin, plain])
    assert forward["BTC/USDT"] == "btcusdt"  # active first: it keeps the plain code
    assert forward["BTC/US:DT"] == "xbtusdt"  # rule 2: its exchange market id
    assert forward["BTC/USD:T"].startswith("btcusdt") and len(forward["BTC/USD:T"]) == 13  # rule 3: hash


def test_codes_never_hold_separators_that_zvt_drops():
    rows = entity_rows("okx", [market("BTC/USDT", "BTC", "USDT", "BTC-USDT")], "cryptopair")
    assert rows[0]["id"] == "cryptopair_okx_btcusdt"
    assert rows[0]["code"] == "btcusdt"
    assert rows[0]["symbol"] == "BTC/USDT" and rows[0]["market_id"] == "BTC-USDT"


def test_only_spot_and_perpetual_swaps_become_entities():
    assert entity_type_of(market("BTC/USDT", "BTC", "USDT", "x")) == "cryptopair"
    assert entity_type_of(market("BTC/USDT:USDT", "BTC", "USDT", "x", kind="swap")) == "cryptoperp"
    assert entity_type_of(market("BTC/USDT:USDT-250328", "BTC", "USDT", "x", kind="future")) is None


def test_users_may_pass_codes_or_symbols():
    known = {"BTC/USDT": "btcusdt", "ETH/USDT": "ethusdt"}
    assert resolve_codes("okx", "cryptopair", ["BTC/USDT", "ETHUSDT", "btcusdt"], known) == ["btcusdt", "ethusdt"]
    assert looks_like_symbol("BTC/USDT") and not looks_like_symbol("btcusdt")
    assert normalise_code("btc-usdt") == "btcusdt"


def test_unknown_symbols_are_named_with_suggestions():
    import pytest

    from zvt_ccxt.errors import UnknownSymbolError

    with pytest.raises(UnknownSymbolError) as info:
        resolve_codes("okx", "cryptopair", ["BTC/USDX", "dogeusdt"], {"BTC/USDT": "btcusdt"})
    assert "BTC/USDX" in str(info.value) and "dogeusdt" in str(info.value) and "BTC/USDT" in str(info.value)


_asset = st.text(alphabet=string.ascii_uppercase + string.digits + "-._/:é", min_size=1, max_size=8)


@given(st.lists(st.tuples(_asset, _asset, _asset, st.booleans()), min_size=1, max_size=25))
def test_codes_are_unique_alphanumeric_and_order_independent(specs):
    markets = []
    seen = set()
    for base, quote, market_id, active in specs:
        symbol = f"{base}/{quote}"
        if symbol in seen:
            continue
        seen.add(symbol)
        markets.append(market(symbol, base, quote, market_id, active=active))
    codes = assign_codes(markets)
    assert len(set(codes.values())) == len(codes) == len(markets)
    assert all(c and c.isalnum() and c == c.lower() and c.isascii() for c in codes.values())
    assert assign_codes(list(reversed(markets))) == codes
