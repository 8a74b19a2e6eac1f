"""The lean kline decoder yields exactly the rows ccxt's parser yields (with the client's quote volume column):
on every kline page the simulators serve, spot and perpetual, of every exchange whose profile names a layout,
and on captured pages where a capture folder is present; anything else goes to ccxt's parser."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from zvt_ccxt.exchange.client import get_client
from zvt_ccxt.exchange.kline_decoders import KlineRows, decode_page
from zvt_ccxt.exchange.profiles import PROFILES, profile_for

H = 3_600_000
#: the captured traffic folder (read only when present): ``URL -> RECEIVED_AT: BODY`` lines
CAPTURES = Path(os.environ.get("ZVT_CCXT_CAPTURES", "/work/shared/captures"))
#: where captured kline answers come from: URL fragment -> (exchange, market type, inverse, rows of the body)
CAPTURED_KLINES = {
    "/api/v3/klines": ("binance", "spot", False, lambda body: body),
    "/fapi/v1/klines": ("binance", "swap", False, lambda body: body),
    "/dapi/v1/klines": ("binance", "swap", True, lambda body: body),
    "/api/v5/market/candles": ("okx", None, None, lambda body: body.get("data")),
    "/api/v5/market/history-candles": ("okx", None, None, lambda body: body.get("data")),
    "/v5/market/kline": ("bybit", None, None, lambda body: (body.get("result") or {}).get("list")),
    "/api/v3/brokerage/market/products/": ("coinbase", "spot", False, lambda body: body.get("candles")),
}


def _exact(rows) -> str:
    """Rows as text that tells 1 from 1.0 and None from 0: equal text, equal rows of equal types."""
    return repr(rows)


def _ccxt_rows(client, raw, market, timeframe="1m", since=None, limit=None):
    """ccxt's own parse_ohlcvs (the class's, calling the client's per-row hook) on a raw page."""
    exchange = client.ccxt
    return type(exchange).parse_ohlcvs(exchange, raw, market, timeframe, since, limit)


def _served_pages(sim, exchange_id: str) -> list[tuple]:
    """Every raw kline page the client asked the simulator for: spot and perpetual markets, three timeframes."""
    client = get_client(exchange_id)
    client.load_markets()
    hook = client.ccxt.parse_ohlcvs
    seen: list[tuple] = []

    def capture(ohlcvs, market=None, timeframe="1m", since=None, limit=None, tail=False):
        seen.append((ohlcvs, market, timeframe, since, limit))
        return hook(ohlcvs, market, timeframe, since, limit, tail)

    client.ccxt.parse_ohlcvs = capture
    try:
        for market in sim.markets[exchange_id]:
            if market.hidden or market.symbol not in client.ccxt.markets:
                continue
            ccxt_market = client.ccxt.markets[market.symbol]
            limit = client.ohlcv_limit(ccxt_market)
            for timeframe in ("1m", "1h", "1d"):
                if timeframe not in client.timeframes:
                    continue
                step = {"1m": 60_000, "1h": H, "1d": 24 * H}[timeframe]
                until = sim.now_ms - step
                since = until - step * min(limit, 50)
                client.fetch_ohlcv(market.symbol, timeframe, since, limit, until)
    finally:
        client.ccxt.parse_ohlcvs = hook
    return seen


@pytest.mark.parametrize("exchange_id", sorted(PROFILES))
def test_decoded_rows_are_ccxts_rows_on_every_simulated_page(sim, exchange_id):
    layout = profile_for(exchange_id).kline_rows
    if layout is None:
        pytest.skip(f"{exchange_id}: its profile names no kline layout (ccxt parses its pages)")
    client = get_client(exchange_id)
    pages = _served_pages(sim, exchange_id)
    kinds = {(market["type"], bool(market.get("inverse"))) for _, market, *_ in pages}
    assert any(kind == "spot" for kind, _ in kinds) or exchange_id not in ("binance", "okx", "bybit", "coinbase")
    assert sum(len(raw) for raw, *_ in pages) > 100
    quote_index = profile_for(exchange_id).quote_volume_index
    for raw, market, timeframe, since, limit in pages:
        decoded = decode_page(raw, layout, market, quote_index)
        assert decoded is not None, f"{exchange_id} {market['symbol']} {timeframe}: a served page not recognised"
        expected = _ccxt_rows(client, raw, market)  # sorted by time, as ccxt's parse_ohlcvs returns them
        where = f"{exchange_id} {market['symbol']} {timeframe}"
        assert _exact(client.ccxt.sort_by(decoded, 0)) == _exact(expected), where
        # and through the client's hook, with ccxt's sorting and since/limit filter
        assert _exact(client.ccxt.parse_ohlcvs(raw, market, timeframe, since, limit)) == _exact(
            _ccxt_rows(client, raw, market, timeframe, since, limit)
        )


def test_the_simulators_serve_perpetuals_of_every_profiled_exchange_that_lists_them(sim):
    for exchange_id in ("binance", "okx", "bybit"):
        kinds = {(m["type"], bool(m.get("inverse"))) for _, m, *_ in _served_pages(sim, exchange_id)}
        assert ("swap", False) in kinds and ("swap", True) in kinds, f"{exchange_id}: {kinds}"


def _captured_pages() -> list[tuple[str, str, object]]:
    pages = []
    if not CAPTURES.is_dir():
        return pages
    for path in sorted(CAPTURES.iterdir()):
        if not path.is_file() or path.suffix == ".md":
            continue
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                url, arrow, rest = line.partition(" -> ")
                if not arrow:
                    continue
                for fragment, source in CAPTURED_KLINES.items():
                    if fragment in url and ("candles" in url or "kline" in url):
                        body = rest.partition(": ")[2]
                        try:
                            pages.append((url, source, json.loads(body)))
                        except ValueError:
                            continue
    return pages


def test_decoded_rows_are_ccxts_rows_on_every_captured_page(sim):
    pages = _captured_pages()
    if not pages:
        pytest.skip(f"no captured kline page in {CAPTURES}")
    for url, (exchange_id, market_type, inverse, rows_of), body in pages:
        client = get_client(exchange_id)
        client.load_markets()
        raw = rows_of(body)
        market_types = [market_type] if market_type else ["spot", "swap"]
        inverses = [inverse] if inverse is not None else [False, True]
        for kind in market_types:
            for inverse_flag in inverses:
                market = {"type": kind, "inverse": inverse_flag, "symbol": url}
                decoded = decode_page(raw, profile_for(exchange_id).kline_rows, market,
                                      profile_for(exchange_id).quote_volume_index)
                if decoded is not None:
                    assert _exact(client.ccxt.sort_by(decoded, 0)) == _exact(_ccxt_rows(client, raw, market)), url


LIST_LAYOUT = KlineRows(inverse_volume=7)
SPOT = {"type": "spot", "inverse": False, "symbol": "BTC/USDT"}
GOOD = [1_700_000_000_000, "1.5", "2", "1", "1.75", "10", 1_700_000_059_999, "17.5", 3, "1", "1", "0"]


@pytest.mark.parametrize(
    "page, market",
    [
        ([GOOD, [*GOOD[:1], None, *GOOD[2:]]], SPOT),  # a missing price
        ([GOOD, [*GOOD[:1], 1.5, *GOOD[2:]]], SPOT),  # a number where text is expected
        ([GOOD, [*GOOD[:1], "", *GOOD[2:]]], SPOT),  # empty text
        ([GOOD, [*GOOD[:1], "NaNish", *GOOD[2:]]], SPOT),  # text that is no number
        ([GOOD, ["1700000060000.0", *GOOD[1:]]], SPOT),  # text time where this layout has integers: allowed
        ([GOOD, GOOD[:5]], SPOT),  # a short row
        ([GOOD, dict(enumerate(GOOD))], SPOT),  # a row of another kind
        ({"rows": [GOOD]}, SPOT),  # not a list of rows
        ([GOOD, [True, *GOOD[1:]]], SPOT),  # a time of another type
        ([GOOD], None),  # no market to choose the volume column by
    ],
)
def test_what_the_decoder_does_not_recognise_goes_to_ccxt(sim, page, market):
    client = get_client("binance")
    decoded = decode_page(page, LIST_LAYOUT, market, 7)
    if decoded is None:  # not recognised: the hook answers as ccxt does, rows or error
        try:
            expected = _exact(_ccxt_rows(client, page, market))
        except Exception as error:  # noqa: BLE001 - whatever ccxt raises, the hook must raise too
            with pytest.raises(type(error)):
                client.ccxt.parse_ohlcvs(page, market)
        else:
            assert _exact(client.ccxt.parse_ohlcvs(page, market)) == expected
    else:  # recognised: then it must agree with ccxt exactly
        assert _exact(decoded) == _exact(_ccxt_rows(client, page, market))
    recognised = decode_page([GOOD], LIST_LAYOUT, SPOT, 7)
    assert recognised is not None and _exact(recognised) == _exact(_ccxt_rows(client, [GOOD], SPOT))


def test_the_fallback_is_taken_for_a_page_the_decoder_refuses(sim):
    page = [GOOD, [*GOOD[:1], None, *GOOD[2:]]]
    assert decode_page(page, LIST_LAYOUT, SPOT, 7) is None
    rows = get_client("binance").ccxt.parse_ohlcvs(page, SPOT)
    assert rows[1][1] is None and rows[0][1] == 1.5  # ccxt's answer for a missing price: None, not an error


def test_a_layout_of_another_volume_column_per_market_kind():
    row = ["1700000000000", "1", "2", "0.5", "1.5", "11", "22", "33", "1"]
    contract = KlineRows(contract_volume=6)
    assert decode_page([row], contract, {"type": "spot"}, None)[0][5] == 11.0
    assert decode_page([row], contract, {"type": "swap", "inverse": False}, None)[0][5] == 22.0
    inverse = KlineRows(inverse_volume=6)
    assert decode_page([row], inverse, {"type": "swap", "inverse": True}, 7)[0][5:] == [22.0, None]
    assert decode_page([row], inverse, {"type": "swap", "inverse": False}, 7)[0][5:] == [11.0, 33.0]


def _page(stamps: list[int]) -> list[list]:
    return [[t, "1.5", "2", "1", "1.75", "10", t + 59_999, "17.5", 3, "1", "1", "0"] for t in stamps]


@pytest.mark.parametrize(
    "stamps",
    [
        [1_700_000_000_000 + i * 60_000 for i in range(12)],  # ascending: the bisection path
        [1_700_000_000_000 + i * 60_000 for i in reversed(range(12))],  # descending: ccxt's sort and filter
        [1_700_000_000_000 + (i // 2) * 60_000 for i in range(12)],  # repeated times: ccxt's sort and filter
        [],
    ],
)
def test_the_since_and_limit_filter_of_decoded_pages_is_ccxts(sim, stamps):
    client = get_client("binance")
    exchange = client.ccxt
    page = _page(stamps)
    first = min(stamps, default=1_700_000_000_000)
    for since in (None, first - 1, first, first + 1, first + 5 * 60_000, first + 60 * 60_000):
        for limit in (None, 0, 1, 5, 12, 50, -3):
            for tail in (False, True):
                ours = exchange.parse_ohlcvs(page, SPOT, "1m", since, limit, tail)
                theirs = type(exchange).parse_ohlcvs(exchange, page, SPOT, "1m", since, limit, tail)
                assert _exact(ours) == _exact(theirs), (stamps[:2], since, limit, tail)
    decoded = decode_page(page, LIST_LAYOUT, SPOT, 7)
    ascending = all(a < b for a, b in zip(stamps, stamps[1:], strict=False))
    assert (type(decoded).__name__ == "AscendingRows") == ascending


def test_a_window_of_ascending_rows_is_the_rows_inside_it(sim):
    from zvt_ccxt.exchange.kline_decoders import time_range

    stamps = [1_700_000_000_000 + i * 60_000 for i in range(20)]
    rows = decode_page(_page(stamps), LIST_LAYOUT, SPOT, 7)
    for since, until in ((stamps[0], stamps[-1] + 1), (stamps[3] - 1, stamps[7]), (stamps[3], stamps[3] + 1),
                         (0, stamps[0]), (stamps[-1] + 1, stamps[-1] + 10**6)):
        assert time_range(rows, since, until) == [r for r in rows if since <= r[0] < until]
