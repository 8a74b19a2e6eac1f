"""The exchange simulator answers real ccxt clients with the exchanges' own wire formats."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import ccxt
import pytest

from zvt_ccxt_testkit.simulator import (
    HOST_PREFIX,
    SIMULATED_EXCHANGES,
    ExchangeSimulator,
    real_url,
    repoint,
)

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
WEEK = 7 * DAY
# 2025-01-01 00:20:34.567 UTC, deliberately inside a minute/hour/day
NOW = 1_735_689_600_000 + 20 * MIN + 34_567


def make_client(exchange: str, sim: ExchangeSimulator) -> ccxt.Exchange:
    client = getattr(ccxt, exchange)({"enableRateLimit": False, "timeout": 10_000})
    repoint(client, sim.base_url)
    return client


def http_get(sim: ExchangeSimulator, host: str, path: str) -> tuple[int, dict | list | str]:
    url = f"{sim.base_url}{HOST_PREFIX}{host}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


@pytest.fixture(scope="module")
def sim():
    with ExchangeSimulator(now_ms=NOW) as s:
        yield s


@pytest.fixture(scope="module")
def clients(sim):
    out = {ex: make_client(ex, sim) for ex in SIMULATED_EXCHANGES}
    for client in out.values():
        client.load_markets()
    return out


# -- markets -----------------------------------------------------------------------------------------

# symbol: (type, linear, inverse, contractSize, price tick, amount step, active, created)
EXPECTED_MARKETS = {
    "binance": {
        "BTC/USDT": ("spot", None, None, None, 0.01, 0.00001, True, None),
        "ETH/USDT": ("spot", None, None, None, 0.01, 0.0001, True, None),
        "LUNA/USDT": ("spot", None, None, None, 0.01, 0.01, False, None),
        "BTC/USDT:USDT": ("swap", True, False, 1.0, 0.1, 0.001, True, 1_567_900_800_000),
        "ETH/USDT:USDT": ("swap", True, False, 1.0, 0.01, 0.001, True, 1_574_812_800_000),
        "BTC/USD:BTC": ("swap", False, True, 100.0, 0.1, 1.0, True, 1_597_042_800_000),
    },
    "okx": {
        "BTC/USDT": ("spot", None, None, None, 0.1, 1e-08, True, 1_548_133_413_000),
        "ETH/USDT": ("spot", None, None, None, 0.01, 1e-06, True, 1_548_133_413_000),
        "LUNA/USDT": ("spot", None, None, None, 0.001, 1e-06, False, 1_599_580_800_000),
        "BTC/USDT:USDT": ("swap", True, False, 0.01, 0.1, 0.01, True, 1_573_557_408_000),
        "ETH/USDT:USDT": ("swap", True, False, 0.1, 0.01, 0.01, True, 1_573_557_408_000),
        "BTC/USD:BTC": ("swap", False, True, 100.0, 0.1, 1.0, True, 1_544_433_600_000),
    },
    "bybit": {
        "BTC/USDT": ("spot", None, None, None, 0.01, 1e-06, True, None),
        "ETH/USDT": ("spot", None, None, None, 0.01, 1e-05, True, None),
        "LUNA/USDT": ("spot", None, None, None, 0.0001, 0.01, False, None),
        "BTC/USDT:USDT": ("swap", True, False, 1.0, 0.1, 0.001, True, 1_585_526_400_000),
        "ETH/USDT:USDT": ("swap", True, False, 1.0, 0.01, 0.01, True, 1_615_766_400_000),
        "BTC/USD:BTC": ("swap", False, True, 1.0, 0.5, 1.0, True, 1_542_211_200_000),
    },
    "coinbase": {
        "BTC/USD": ("spot", None, None, None, 0.01, 1e-08, True, None),
        "ETH/USD": ("spot", None, None, None, 0.01, 1e-08, True, None),
        "BTC/USDT": ("spot", None, None, None, 0.01, 1e-08, True, None),
        "ETH/USDT": ("spot", None, None, None, 0.01, 1e-08, True, None),
        "LUNA/USDT": ("spot", None, None, None, 0.0001, 0.001, False, None),
    },
}


@pytest.mark.parametrize("exchange", SIMULATED_EXCHANGES)
def test_load_markets(clients, exchange):
    markets = clients[exchange].markets
    assert set(markets) == set(EXPECTED_MARKETS[exchange])
    for symbol, expected in EXPECTED_MARKETS[exchange].items():
        typ, linear, inverse, csize, tick, step, active, created = expected
        m = markets[symbol]
        assert m["type"] == typ, symbol
        assert m["linear"] is linear and m["inverse"] is inverse, symbol
        assert m["contractSize"] == csize, symbol
        assert m["precision"]["price"] == pytest.approx(tick), symbol
        assert m["precision"]["amount"] == pytest.approx(step), symbol
        assert m["limits"]["amount"]["min"] is not None and m["limits"]["amount"]["min"] > 0, symbol
        assert m["active"] is active, symbol
        assert m["created"] == created, symbol
        if typ == "swap":
            assert m["settle"] == ("BTC" if inverse else "USDT")


def test_load_markets_endpoints(sim):
    sim.requests.clear()
    for ex in SIMULATED_EXCHANGES:
        make_client(ex, sim).load_markets()
    seen = {(r["host"], r["path"], tuple(sorted(r["query"].items()))) for r in sim.requests}
    assert all(r["status"] == 200 for r in sim.requests)
    assert ("fapi.binance.com", "/fapi/v1/exchangeInfo", ()) in seen
    assert ("dapi.binance.com", "/dapi/v1/exchangeInfo", ()) in seen
    assert ("www.okx.com", "/api/v5/public/instruments", (("instType", "OPTION"), ("uly", "ETH-USD"))) in seen
    assert (
        "api.bybit.com",
        "/v5/market/instruments-info",
        (("category", "inverse"), ("limit", "1000")),
    ) in seen
    assert ("api.coinbase.com", "/v2/exchange-rates", ()) in seen
    assert ("api.coinbase.com", "/api/v3/brokerage/market/products", ()) in seen


# -- candles -----------------------------------------------------------------------------------------

PAGING_CASES = [
    # exchange, symbol, timeframe, bars back, page size asked
    ("binance", "BTC/USDT", "1m", 2500, 1000),
    ("binance", "BTC/USDT:USDT", "1h", 2500, 1000),
    ("binance", "BTC/USD:BTC", "1d", 1500, 1000),
    ("binance", "ETH/USDT", "1w", 3000, 1000),
    ("okx", "BTC/USDT", "1m", 2000, 300),
    ("okx", "BTC/USD:BTC", "1h", 2000, 300),
    ("okx", "ETH/USDT:USDT", "1d", 2000, 300),
    ("okx", "BTC/USDT", "1w", 400, 300),
    ("bybit", "BTC/USDT:USDT", "1m", 2500, 1000),
    ("bybit", "BTC/USD:BTC", "1h", 2500, 1000),
    ("bybit", "ETH/USDT", "1d", 3000, 1000),
    ("bybit", "BTC/USDT", "1w", 3000, 1000),
    ("coinbase", "BTC/USD", "1m", 1500, 300),
    ("coinbase", "ETH/USDT", "1h", 1500, 300),
    ("coinbase", "BTC/USDT", "1d", 1500, 300),
]

TF_MS = {"1m": MIN, "1h": HOUR, "1d": DAY, "1w": WEEK}


def floor_tf(ts: int, tf: str) -> int:
    if tf == "1w":
        return (ts - 4 * DAY) // WEEK * WEEK + 4 * DAY
    return ts // TF_MS[tf] * TF_MS[tf]


def page_forward(client, symbol, tf, since, limit, max_pages=40):
    bars: list[list] = []
    for _ in range(max_pages):
        batch = client.fetch_ohlcv(symbol, tf, since=since, limit=limit)
        batch = [b for b in batch if not bars or b[0] > bars[-1][0]]
        if not batch:
            break
        assert len(batch) <= limit
        bars.extend(batch)
        since = batch[-1][0] + 1
    return bars


@pytest.mark.parametrize("exchange,symbol,tf,back,limit", PAGING_CASES)
def test_fetch_ohlcv_pages_to_now(sim, clients, exchange, symbol, tf, back, limit):
    client = clients[exchange]
    dur = TF_MS[tf]
    since = floor_tf(NOW, tf) - back * dur
    bars = page_forward(client, symbol, tf, since, limit)
    times = [b[0] for b in bars]
    assert times == sorted(set(times)), "strictly increasing"
    assert all(floor_tf(t, tf) == t for t in times), "aligned"
    # the forming bar is last and no bar starts after now
    assert times[-1] == floor_tf(NOW, tf)
    assert times[-1] <= NOW < times[-1] + dur
    # contiguous: the synthetic markets trade every minute
    assert all(b - a == dur for a, b in zip(times, times[1:], strict=False))
    listing = sim.market(exchange, symbol).listing_ms
    assert times[0] == max(floor_tf(listing, tf), since)
    for _, o, h, low, c, v in bars:
        assert low <= min(o, c) <= max(o, c) <= h
        assert v > 0
    # identical to the simulator's own ground truth
    truth = sim.ohlcv(exchange, symbol, tf, since=since)
    assert [b[:5] for b in bars] == [t[:5] for t in truth]
    assert [b[5] for b in bars] == pytest.approx([t[5] for t in truth], rel=1e-9)


def test_binance_inverse_window_before_listing_is_empty(sim, clients):
    # ccxt bounds inverse requests with endTime = since + limit * duration - 1: nothing traded in that window
    listing = sim.market("binance", "BTC/USD:BTC").listing_ms
    sim.requests.clear()
    assert clients["binance"].fetch_ohlcv("BTC/USD:BTC", "1d", since=listing - 600 * DAY, limit=500) == []
    query = sim.requests[-1]["query"]
    assert int(query["endTime"]) == listing - 600 * DAY + 500 * DAY - 1
    bars = clients["binance"].fetch_ohlcv("BTC/USD:BTC", "1d", since=listing - 100 * DAY, limit=500)
    assert bars[0][0] == floor_tf(listing, "1d") and len(bars) == 401  # the listing day is unaligned


def test_clock_dependent_requests_follow_the_simulated_now(sim):
    # without since, ccxt coinbase derives start/end from its own clock: a past simulated now needs sync_clock
    client = make_client("coinbase", sim)
    client.load_markets()
    assert client.fetch_ohlcv("BTC/USD", "1h") == []  # the wall clock is far past NOW
    sim.sync_clock(client)
    bars = client.fetch_ohlcv("BTC/USD", "1h")
    assert len(bars) == 300 and bars[-1][0] == floor_tf(NOW, "1h")
    okx = sim.sync_clock(make_client("okx", sim))
    sim.requests.clear()
    okx.fetch_ohlcv("BTC/USDT", "1m", since=NOW - 100 * MIN)
    okx.fetch_ohlcv("BTC/USDT", "1m", since=NOW - 2000 * MIN)
    paths = [r["path"] for r in sim.requests if "candles" in r["path"]]
    assert paths == ["/api/v5/market/candles", "/api/v5/market/history-candles"]


def test_okx_window_before_listing_is_empty(sim, clients):
    # ccxt asks okx for (since - 1, since + limit * duration): a window that ends before the listing is empty
    listing = sim.market("okx", "BTC/USDT").listing_ms
    assert clients["okx"].fetch_ohlcv("BTC/USDT", "1d", since=listing - 400 * DAY, limit=300) == []
    bars = clients["okx"].fetch_ohlcv("BTC/USDT", "1d", since=listing - 100 * DAY, limit=300)
    assert bars[0][0] == floor_tf(listing, "1d") and len(bars) == 201


@pytest.mark.parametrize(
    "exchange,symbol",
    [
        ("binance", "ETH/USDT:USDT"),
        ("okx", "BTC/USDT:USDT"),
        ("bybit", "BTC/USD:BTC"),
        ("coinbase", "BTC/USD"),
    ],
)
def test_hour_equals_aggregated_minutes(clients, exchange, symbol):
    client = clients[exchange]
    hour = floor_tf(NOW, "1h") - 7 * HOUR
    [h] = client.fetch_ohlcv(symbol, "1h", since=hour, limit=1)
    minutes = client.fetch_ohlcv(symbol, "1m", since=hour, limit=60)
    assert h[0] == hour and len(minutes) == 60 and minutes[-1][0] == hour + 59 * MIN
    assert h[1] == minutes[0][1]
    assert h[2] == max(m[2] for m in minutes)
    assert h[3] == min(m[3] for m in minutes)
    assert h[4] == minutes[-1][4]
    assert h[5] == pytest.approx(sum(m[5] for m in minutes), rel=1e-9)


@pytest.mark.parametrize("exchange", ["binance", "okx", "bybit"])
def test_week_equals_aggregated_days(clients, exchange):
    client = clients[exchange]
    week = floor_tf(NOW, "1w") - 3 * WEEK
    [w] = client.fetch_ohlcv("BTC/USDT", "1w", since=week, limit=1)
    days = client.fetch_ohlcv("BTC/USDT", "1d", since=week, limit=7)
    assert w[0] == week and [d[0] for d in days] == [week + i * DAY for i in range(7)]
    assert (w[1], w[4]) == (days[0][1], days[-1][4])
    assert w[2] == max(d[2] for d in days) and w[3] == min(d[3] for d in days)
    assert w[5] == pytest.approx(sum(d[5] for d in days), rel=1e-9)


def test_forming_bar_follows_now():
    with ExchangeSimulator(now_ms=NOW) as s:
        client = make_client("binance", s)
        first = client.fetch_ohlcv("BTC/USDT", "1h", since=floor_tf(NOW, "1h") - HOUR)
        s.set_now(NOW + 10 * MIN)
        later = client.fetch_ohlcv("BTC/USDT", "1h", since=floor_tf(NOW, "1h") - HOUR)
        assert first[0] == later[0]  # the complete hour does not change
        assert first[-1][0] == later[-1][0] == floor_tf(NOW, "1h")
        assert later[-1][5] > first[-1][5]  # the forming hour keeps accumulating volume
        s.set_now(NOW + 2 * HOUR)
        newest = client.fetch_ohlcv("BTC/USDT", "1h", since=floor_tf(NOW, "1h"))[-1]
        assert newest[0] == floor_tf(NOW, "1h") + 2 * HOUR


@pytest.mark.parametrize("exchange", SIMULATED_EXCHANGES)
def test_gap_window_has_no_bars(exchange):
    symbol = "BTC/USDT" if exchange != "coinbase" else "BTC/USD"
    gap_start = floor_tf(NOW, "1h") - 10 * HOUR - 15 * MIN  # 13:45 .. 16:25 of the previous day
    gap_end = gap_start + 2 * HOUR + 40 * MIN
    with ExchangeSimulator(now_ms=NOW) as s:
        s.add_gap(exchange, symbol, gap_start, gap_end)
        client = make_client(exchange, s)
        since = floor_tf(gap_start, "1h")
        minutes = page_forward(client, symbol, "1m", since, 300)
        assert minutes and all(not (gap_start <= m[0] < gap_end) for m in minutes)
        assert len([m for m in minutes if m[0] < gap_end + 30 * MIN]) == 45 + 30
        hours = client.fetch_ohlcv(symbol, "1h", since=floor_tf(since, "1h"), limit=5)
        hour_times = [h[0] for h in hours]
        full = floor_tf(gap_start, "1h") + HOUR  # 14:00 and 15:00 are entirely inside the gap
        assert full not in hour_times and full + HOUR not in hour_times and full + 2 * HOUR in hour_times
        # the partially covered hour aggregates only the minutes that traded
        partial = floor_tf(gap_start, "1h")
        [h] = [h for h in hours if h[0] == partial]
        traded = [m for m in minutes if partial <= m[0] < partial + HOUR]
        assert len(traded) == (gap_start - partial) // MIN
        assert h[5] == pytest.approx(sum(m[5] for m in traded), rel=1e-9)
        assert h[4] == traded[-1][4]


def test_inactive_market_stops_at_delisting(clients, sim):
    luna = sim.market("binance", "LUNA/USDT")
    client = clients["binance"]
    assert client.markets["LUNA/USDT"]["active"] is False
    bars = client.fetch_ohlcv("LUNA/USDT", "1d", since=luna.delist_ms - 5 * DAY, limit=100)
    assert bars[-1][0] == floor_tf(luna.delist_ms - 1, "1d") and len(bars) == 5


def test_delist_and_hide():
    with ExchangeSimulator(now_ms=NOW) as s:
        client = make_client("okx", s)
        s.delist("okx", "ETH/USDT", at_ms=NOW - 3 * HOUR)
        client.load_markets()
        assert client.markets["ETH/USDT"]["active"] is False
        bars = client.fetch_ohlcv("ETH/USDT", "1h", since=NOW - 6 * HOUR)
        assert bars[-1][0] == floor_tf(NOW - 3 * HOUR, "1h")
        s.delist("okx", "ETH/USDT", hidden=True)
        assert "ETH/USDT" not in make_client("okx", s).load_markets()
        with pytest.raises(ccxt.BadSymbol):
            client.fetch_ohlcv("ETH/USDT", "1h", since=NOW - 6 * HOUR)


# -- per-request caps ---------------------------------------------------------------------------------


def test_binance_caps(sim):
    old = floor_tf(NOW, "1m") - 10 * DAY
    status, rows = http_get(
        sim, "api.binance.com", f"/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={old}&limit=5000"
    )
    assert status == 200 and len(rows) == 1000 and rows[0][0] == old
    assert len(rows[0]) == 12 and isinstance(rows[0][1], str) and isinstance(rows[0][6], int)
    status, rows = http_get(
        sim, "fapi.binance.com", f"/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime={old}&limit=5000"
    )
    assert status == 200 and len(rows) == 1500
    status, rows = http_get(sim, "dapi.binance.com", "/dapi/v1/klines?symbol=BTCUSD_PERP&interval=1m")
    assert status == 200 and len(rows) == 500 and rows[-1][0] == floor_tf(NOW, "1m")
    path = f"/api/v3/klines?symbol=BTCUSDT&interval=1h&endTime={old}&limit=3"
    status, rows = http_get(sim, "api.binance.com", path)
    assert [r[0] for r in rows] == [
        floor_tf(old, "1h") - 2 * HOUR,
        floor_tf(old, "1h") - HOUR,
        floor_tf(old, "1h"),
    ]


def okx_get(sim: ExchangeSimulator, path: str) -> tuple[int, dict]:
    return http_get(sim, "www.okx.com", "/api/v5/market/" + path)


def test_okx_caps_and_windows(sim, clients):
    sim.requests.clear()
    bars = clients["okx"].fetch_ohlcv("BTC/USDT", "1m", since=NOW - 2000 * MIN, limit=1000)
    assert sim.requests[-1]["query"]["limit"] == "300" and len(bars) == 300
    status, body = http_get(sim, "www.okx.com", "/api/v5/market/candles?instId=BTC-USDT&bar=1m&limit=1000")
    assert status == 200 and body["code"] == "0" and len(body["data"]) == 300
    newest = body["data"][0]
    assert newest[0] == str(floor_tf(NOW, "1m")) and newest[8] == "0" and body["data"][1][8] == "1"
    assert all(isinstance(x, str) for x in newest) and len(newest) == 9
    # /market/candles only serves the latest 1440 bars, history-candles everything
    old = floor_tf(NOW, "1m") - 3000 * MIN
    _, body = okx_get(sim, f"candles?instId=BTC-USDT&bar=1m&after={old}")
    assert body["data"] == []
    _, body = okx_get(sim, f"history-candles?instId=BTC-USDT&bar=1m&after={old}")
    assert len(body["data"]) == 100 and body["data"][0][0] == str(old - MIN)
    # before alone: the newest bars, all newer than before
    _, body = okx_get(sim, f"candles?instId=BTC-USDT&bar=1m&before={old}&limit=5")
    assert [int(r[0]) for r in body["data"]] == [floor_tf(NOW, "1m") - i * MIN for i in range(5)]
    # Hong Kong aligned day bars by default, UTC with the utc suffix
    _, hk = http_get(sim, "www.okx.com", "/api/v5/market/candles?instId=BTC-USDT&bar=1D&limit=2")
    _, utc = http_get(sim, "www.okx.com", "/api/v5/market/candles?instId=BTC-USDT&bar=1Dutc&limit=2")
    assert int(hk["data"][0][0]) % DAY == 16 * HOUR and int(utc["data"][0][0]) % DAY == 0


def test_bybit_caps(sim):
    old = floor_tf(NOW, "1m") - 10 * DAY
    _, body = http_get(
        sim,
        "api.bybit.com",
        f"/v5/market/kline?category=linear&symbol=BTCUSDT&interval=1&start={old}&limit=5000",
    )
    rows = body["result"]["list"]
    assert body["retCode"] == 0 and len(rows) == 1000
    assert int(rows[-1][0]) == old and int(rows[0][0]) == old + 999 * MIN  # newest first
    _, body = http_get(sim, "api.bybit.com", "/v5/market/kline?category=spot&symbol=BTCUSDT&interval=60")
    assert len(body["result"]["list"]) == 200 and int(body["result"]["list"][0][0]) == floor_tf(NOW, "1h")


CANDLES = "/api/v3/brokerage/market/products/BTC-USD/candles"


def test_coinbase_caps(sim):
    start = (NOW - 400 * MIN) // 1000
    status, body = http_get(
        sim,
        "api.coinbase.com",
        f"{CANDLES}?start={start}&end={start + 400 * 60}&granularity=ONE_MINUTE",
    )
    assert status == 400 and body["error"] == "INVALID_ARGUMENT" and "350" in body["message"]
    status, body = http_get(
        sim,
        "api.coinbase.com",
        f"{CANDLES}?start={start}&end={start + 300 * 60}&granularity=ONE_MINUTE",
    )
    assert status == 200 and len(body["candles"]) == 300
    assert set(body["candles"][0]) == {"start", "low", "high", "open", "close", "volume"}
    status, body = http_get(
        sim,
        "api.coinbase.com",
        f"{CANDLES}?start={start}&end={start + 60}&granularity=FOUR_HOUR",
    )
    assert status == 400 and body["error"] == "INVALID_ARGUMENT"


def test_coinbase_rejects_weekly_through_ccxt(clients):
    with pytest.raises(ccxt.ExchangeError):
        clients["coinbase"].fetch_ohlcv("BTC/USD", "1w", since=NOW - 10 * WEEK)


# -- errors and faults --------------------------------------------------------------------------------


def test_error_shapes(sim):
    status, body = http_get(sim, "api.binance.com", "/api/v3/klines?symbol=NOPE&interval=1m")
    assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})
    status, body = http_get(sim, "api.binance.com", "/api/v3/klines?symbol=BTCUSDT&interval=7m")
    assert (status, body) == (400, {"code": -1120, "msg": "Invalid interval."})
    status, body = http_get(sim, "www.okx.com", "/api/v5/market/candles?instId=NOPE-USDT")
    assert status == 200 and body["code"] == "51001" and body["data"] == []
    status, body = http_get(sim, "www.okx.com", "/api/v5/market/candles?instId=BTC-USDT&bar=7m")
    assert status == 400 and body["code"] == "51000"
    status, body = http_get(sim, "api.bybit.com", "/v5/market/kline?category=spot&symbol=NOPE&interval=1")
    assert status == 200 and body["retCode"] == 10001
    status, body = http_get(sim, "api.coinbase.com", "/api/v3/brokerage/market/products/NOPE-USD/candles")
    assert status == 404 and body["error"] == "NOT_FOUND"
    for host, path in (
        ("api.binance.com", "/api/v3/nope"),
        ("www.okx.com", "/api/v5/nope"),
        ("api.bybit.com", "/v5/nope"),
        ("api.coinbase.com", "/api/v3/nope"),
    ):
        assert http_get(sim, host, path)[0] == 404


def test_ccxt_maps_errors(clients):
    with pytest.raises(ccxt.BadSymbol):
        clients["binance"].publicGetKlines({"symbol": "NOPE", "interval": "1m"})
    with pytest.raises(ccxt.BadSymbol):
        clients["okx"].publicGetMarketCandles({"instId": "NOPE-USDT"})
    with pytest.raises(ccxt.BadRequest):
        clients["bybit"].publicGetV5MarketKline({"category": "spot", "symbol": "NOPE", "interval": "1"})


def test_injected_faults():
    with ExchangeSimulator(now_ms=NOW) as s:
        client = make_client("binance", s)
        client.load_markets()
        s.inject(
            "binance",
            "/klines",
            429,
            {"code": -1003, "msg": "Too many requests."},
            headers={"Retry-After": "3"},
        )
        with pytest.raises(ccxt.DDoSProtection):
            client.fetch_ohlcv("BTC/USDT", "1m", since=NOW - HOUR)
        assert client.last_response_headers["Retry-After"] == "3"
        assert len(client.fetch_ohlcv("BTC/USDT", "1m", since=NOW - HOUR)) == 60  # one-shot
        # ccxt does not raise on a 200 whose body is not JSON: it quietly parses no candles
        s.inject("binance", "symbol=ETHUSDT", 200, "<html><body>maintenance</body></html>", times=2)
        for _ in range(2):
            assert client.fetch_ohlcv("ETH/USDT", "1m", since=NOW - HOUR) == []
            assert client.last_json_response is None and client.last_http_response.startswith("<html>")
        s.inject(None, "/klines", 200, '[[1735689600000,"93', times=1)
        assert client.fetch_ohlcv("ETH/USDT", "1m", since=NOW - HOUR) == []
        assert client.last_http_response == '[[1735689600000,"93'
        s.inject("binance", "/klines", 500, "", times=None)
        for _ in range(3):
            with pytest.raises(ccxt.ExchangeNotAvailable):
                client.fetch_ohlcv("ETH/USDT", "1m", since=NOW - HOUR)
        s.clear_faults()
        assert client.fetch_ohlcv("ETH/USDT", "1m", since=NOW - HOUR)
        statuses = [r["status"] for r in s.requests if r["path"].endswith("/klines")]
        assert statuses == [429, 200, 200, 200, 200, 500, 500, 500, 200]


# -- plumbing -----------------------------------------------------------------------------------------


def test_repoint_and_real_url():
    client = ccxt.bybit()
    repoint(client, "http://127.0.0.1:1234")
    url = client.urls["api"]["public"]
    assert url == "http://127.0.0.1:1234/_host/api.{hostname}"
    assert real_url(url + "/v5/market/kline?x=1") == "https://api.{hostname}/v5/market/kline?x=1"
    repoint(client, "http://127.0.0.1:999/")
    assert client.urls["api"]["public"] == "http://127.0.0.1:999/_host/api.{hostname}"
    okx = repoint(ccxt.okx(), "http://127.0.0.1:1234")
    assert okx.urls["api"]["rest"] == "http://127.0.0.1:1234/_host/{hostname}"
    okx_time = "www.okx.com/api/v5/public/time"
    assert real_url("http://127.0.0.1:1/_host/" + okx_time) == "https://" + okx_time
    assert real_url("https://api.binance.com/api/v3/time") == "https://api.binance.com/api/v3/time"


def test_lifecycle_is_fast_quiet_and_idempotent(capfd):
    t0 = time.perf_counter()
    s = ExchangeSimulator(now_ms=NOW).start()
    assert time.perf_counter() - t0 < 0.1
    status, body = http_get(s, "api.binance.com", "/api/v3/time")
    assert (status, body) == (200, {"serverTime": NOW})
    s.close()
    s.close()
    with ExchangeSimulator() as s2:
        assert abs(s2.now_ms - time.time() * 1000) < 5000
    out, err = capfd.readouterr()
    assert out == "" and err == ""


@pytest.mark.parametrize("exchange", ["binance", "okx", "bybit", "coinbase"])
def test_websocket_repoint_leaves_no_real_host(exchange):
    """Every websocket URL of the installed ccxt.pro client ends up local, keys a ccxt release renamed included."""
    import ccxt.pro

    from zvt_ccxt_testkit.simulator.ws.server import WsExchangeServer

    server = WsExchangeServer(start_ms=NOW)
    server._port = 1  # the URLs are all that is checked: nothing listens
    client = getattr(ccxt.pro, exchange)()
    server.repoint(client)

    def urls(node):
        if isinstance(node, dict):
            for value in node.values():
                yield from urls(value)
        elif isinstance(node, str):
            yield node

    found = list(urls(client.urls["api"]["ws"]))
    assert found and all(url.startswith("ws://127.0.0.1:1/") for url in found), found
