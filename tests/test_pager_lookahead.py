"""The kline pager asks for the next window while the current one is awaited: the same pages, the same windows
asked for (one more where a guess was wrong), two requests in flight, nothing asked for after it is done."""

from __future__ import annotations

import threading
import time

import pytest

from zvt_ccxt import levels
from zvt_ccxt.backfill import pager as pager_module
from zvt_ccxt.backfill.pager import OhlcvPager
from zvt_ccxt.errors import ExchangeRequestError

M = levels.MINUTE_MS
T0 = 1_700_000_040_000 // M * M
LIMIT = 10


class BarServer:
    """Answers ``fetch_ohlcv`` from a set of 1m bar times, ``limit`` bars at most from ``since``, after ``delay``
    seconds; counts requests in flight and keeps every window asked for."""

    exchange_id = "binance"
    timeframes = {"1m": "1m", "1d": "1d"}

    def __init__(self, times: list[int], delay: float = 0.01, fail_since: int | None = None) -> None:
        self.times = sorted(times)
        self.delay = delay
        self.fail_since = fail_since
        self.asked: list[tuple[int, int]] = []
        self.in_flight = self.most_in_flight = 0
        self.closed_at: float | None = None
        self.last_asked_at = 0.0
        self._lock = threading.Lock()

    def fetch_ohlcv(self, symbol: str, timeframe: str, since: int, limit: int, until: int) -> list[list]:
        with self._lock:
            self.asked.append((since, until))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.last_asked_at = time.monotonic()
        try:
            time.sleep(self.delay)
            if self.fail_since is not None and since == self.fail_since:
                raise ExchangeRequestError("binance", symbol, RuntimeError(f"502 for since={since}"), transient=True,
                                           status=502)
            if timeframe == "1d":
                return []  # no daily bars: empty stretches are believed without a probe
            rows = [t for t in self.times if since <= t < until][:limit]
            return [[t, 1.0, 2.0, 0.5, 1.5, 3.0, None] for t in rows]
        finally:
            with self._lock:
                self.in_flight -= 1


def pages_of(server: BarServer, start: int, end: int, lookahead: bool, monkeypatch) -> list[tuple]:
    with monkeypatch.context() as patch:
        if not lookahead:  # the reference: one request at a time
            patch.setattr(pager_module._Lookahead, "ask", lambda self, since, until: None)
        pager = OhlcvPager(server, "BTC/USDT", "1m", LIMIT)  # type: ignore[arg-type]
        found = []
        try:
            for page in pager.pages(start, end):
                found.append((page.window.start_ms, page.window.end_ms, page.window.status, len(page.rows),
                              [row[0] for row in page.rows]))
        except ExchangeRequestError as error:
            found.append(("raised", str(error)))
        server.closed_at = time.monotonic()
        return found + [("requests", pager.requests)]


def minutes(*spans: tuple[int, int]) -> list[int]:
    return [T0 + i * M for first, last in spans for i in range(first, last)]


CASES = {
    "whole windows": minutes((0, 200)),
    "a window ending early (no trading at its end)": minutes((0, 57), (63, 200)),
    "bars missing inside windows": minutes((0, 13), (15, 44), (47, 200)),
    "an empty stretch between trading": minutes((0, 40), (90, 200)),
    "trading starting late": minutes((35, 200)),
}


@pytest.mark.parametrize("times", CASES.values(), ids=CASES.keys())
def test_pages_are_those_of_one_request_at_a_time(times, monkeypatch):
    one_at_a_time = BarServer(times)
    expected = pages_of(one_at_a_time, T0, T0 + 200 * M, False, monkeypatch)
    ahead = BarServer(times)
    found = pages_of(ahead, T0, T0 + 200 * M, True, monkeypatch)
    assert found[:-1] == expected[:-1]
    assert set(one_at_a_time.asked) <= set(ahead.asked)
    wasted = len(ahead.asked) - len(one_at_a_time.asked)
    assert found[-1] == ("requests", expected[-1][1] + wasted) and wasted <= 2


def test_whole_windows_keep_two_requests_in_flight_and_ask_for_nothing_more(monkeypatch):
    server = BarServer(minutes((0, 200)), delay=0.02)
    pages_of(server, T0, T0 + 200 * M, True, monkeypatch)
    assert server.most_in_flight == 2
    # two at a time, so not always in this order
    assert sorted(server.asked) == [(T0 + i * LIMIT * M, T0 + (i + 1) * LIMIT * M) for i in range(20)]


def test_a_failed_window_fails_the_rest_and_nothing_is_asked_for_after_the_pager_is_done(monkeypatch):
    server = BarServer(minutes((0, 200)), fail_since=T0 + 50 * M)
    found = pages_of(server, T0, T0 + 200 * M, True, monkeypatch)
    statuses = [entry[2] for entry in found if len(entry) == 5]
    assert statuses == ["fetched"] * 5 + ["failed"]
    assert found[-2][0] == "raised" and "since=" in found[-2][1]
    failed = found[5]
    assert (failed[0], failed[1]) == (T0 + 50 * M, T0 + 200 * M)
    assert server.in_flight == 0 and server.last_asked_at <= server.closed_at
