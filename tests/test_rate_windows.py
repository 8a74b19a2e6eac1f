"""Binance's request limit is a fixed window of the clock's minute: a backfill spends the window's allowance at
once, and moves its budget up to the exchange's own count of the window, so what another program on the same
address spent is not spent again (``exchange.limiter``, the profile's ``used_weight_header``)."""

import time
import urllib.request

import ccxt
import pytest

from zvt_ccxt.domain import CryptoPair1hKdata
from zvt_ccxt_testkit import simulated
from zvt_ccxt_testkit.simulator.server import WeightLimit, repoint

from conftest import SIM_NOW

#: every case runs on each store (zvt's SQLite files, PostgreSQL)
pytestmark = pytest.mark.usefixtures("database")

#: request weight a minute of the simulated address, and ccxt's ms per cost unit for it (a unit is 5 weight)
LIMIT = 300
RATE_LIMIT_MS = 60_000 / (LIMIT / 5) * 1.001  # a limiter of its own: no other test's budget in it
#: what the other program spends first: 10 exchangeInfo requests of weight 20. Of the 100 left, the run's markets
#: (three exchangeInfo) take 60, and its klines (2 symbols x 5 months of 1h in pages of 200, weight 2 each) 74 more
OTHER_PROGRAM = 10
#: the simulator starts a window with the minute; the other program and the run's first request must share one
LEAST_SECONDS_LEFT = 20.0


def _spend_as_another_program(base_url: str) -> None:
    url = repoint(ccxt.binance(), base_url).urls["api"]["public"] + "/exchangeInfo"
    for _ in range(OTHER_PROGRAM):
        with urllib.request.urlopen(url, timeout=10) as answer:
            answer.read()


def test_a_run_spends_only_what_another_program_left_of_the_window_and_is_never_refused(store):
    with simulated(SIM_NOW, rate_limit=True, rate_limit_ms=RATE_LIMIT_MS, weight_limit=WeightLimit(limit=LIMIT),
                   page_cap=200) as sim:
        left = 60.0 - time.time() % 60.0
        if left < LEAST_SECONDS_LEFT:
            time.sleep(left + 0.5)
        _spend_as_another_program(sim.base_url)
        summary = CryptoPair1hKdata.record_data(
            provider="ccxt", exchange="binance", symbols=["BTC/USDT", "ETH/USDT"], start_timestamp="2025-01-01"
        )
        assert summary.ok and summary.rows > 0
        # without the exchange's count the run would have taken the window's whole allowance and been refused
        assert sim.limit_answers == {}
        assert len({start for _, start in sim.weight_used}) >= 2, "the run did not wait for the next window"
        assert max(sim.weight_used.values()) <= LIMIT
