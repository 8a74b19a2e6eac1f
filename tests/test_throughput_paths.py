"""The pieces that make backfills fast: the shared request limiter, page prefetching, SQLite's one-statement bar
write, and recording several symbols at once. Each is checked for giving the same results as the plain path."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zvt_ccxt.backfill.pager import prefetched
from zvt_ccxt.domain import CryptoPair1dKdata, CryptoPair1hKdata, CryptoPair1mKdata
from zvt_ccxt.exchange import limiter as limiter_module
from zvt_ccxt.exchange.limiter import RequestLimiter
from zvt_ccxt.store import sqlite_records
from zvt_ccxt.store.writer import prepare_bars

from conftest import SIM_NOW


class FakeClock:
    """``time.monotonic``/``time.time``/``time.sleep`` for the limiter: sleeping moves the clock, nothing really
    waits."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def install(self, patch: pytest.MonkeyPatch) -> "FakeClock":
        for name in ("monotonic", "time"):
            patch.setattr(limiter_module.time, name, self.monotonic)
        patch.setattr(limiter_module.time, "sleep", self.sleep)
        return self


@pytest.fixture
def clock(monkeypatch):
    return FakeClock().install(monkeypatch)


def test_the_limiter_spaces_requests_at_the_rate_after_a_burst(clock):
    limiter = RequestLimiter(units_per_second=10, burst=2, headroom=1.0)
    starts = []
    for _ in range(6):
        limiter.acquire(1)
        starts.append(round(clock.now - 100.0, 6))
    assert starts == [0.0, 0.0, 0.0, 0.1, 0.2, 0.3]  # two units of burst, then one unit every 0.1 s


def test_a_pause_holds_every_later_request(clock):
    limiter = RequestLimiter(units_per_second=100, burst=1, headroom=1.0)
    limiter.acquire(1)
    limiter.pause(5.0)  # a 429 with Retry-After: 5
    limiter.acquire(1)
    assert clock.now - 100.0 == pytest.approx(5.0)


def test_a_fixed_window_sends_its_allowance_at_once_and_the_rest_when_the_next_opens(clock):
    # 10 units a second over 6 s windows: 60 units a window; the clock stands at 100.0, in the window [96, 102)
    limiter = RequestLimiter(units_per_second=10, headroom=1.0, window=6.0)
    starts = []
    for _ in range(121):
        limiter.acquire(1)
        starts.append(round(clock.now, 6))
    opened = 102.0 + limiter_module.WINDOW_MARGIN
    assert starts == [100.0] * 60 + [opened] * 60 + [opened + 6.0]


def test_a_fixed_window_pause_holds_every_request_and_then_spends_from_its_window(clock):
    limiter = RequestLimiter(units_per_second=10, headroom=1.0, window=6.0)
    limiter.acquire(1)
    limiter.pause(1.0)  # a 429 with Retry-After: 1, at 100.0
    limiter.acquire(1)
    assert clock.now == pytest.approx(101.0)
    for _ in range(9):  # the pause used up the window to 101.0: 10 units are left of it
        limiter.acquire(1)
    assert clock.now == pytest.approx(101.0)
    limiter.acquire(1)
    assert clock.now == pytest.approx(102.0 + limiter_module.WINDOW_MARGIN)


def _units_sent_at_once(limiter, clock, most=200) -> int:
    started, sent = clock.now, 0
    while sent < most:
        limiter.acquire(1)
        if clock.now != started:
            return sent
        sent += 1
    return sent


def test_the_exchanges_count_of_its_window_moves_the_budget_up(clock):
    limiter = RequestLimiter(units_per_second=10, headroom=1.0, window=6.0)  # 60 units in [96, 102)
    limiter.observe(45, sent_at=99.0)  # another program on the address spent 45 of them
    assert _units_sent_at_once(limiter, clock) == 15
    assert clock.now == pytest.approx(102.0 + limiter_module.WINDOW_MARGIN)


def test_a_count_that_may_be_the_window_befores_is_not_taken_for_this_ones(clock):
    limiter = RequestLimiter(units_per_second=10, headroom=1.0, window=6.0)
    limiter.observe(58, sent_at=95.9)  # sent before [96, 102) opened: counted in the window before
    limiter.observe(58, sent_at=96.2)  # sent in the margin after it opened: the exchange's clock may lag ours
    assert _units_sent_at_once(limiter, clock) == 60


def test_a_paced_budget_ignores_the_exchanges_count(clock):
    limiter = RequestLimiter(units_per_second=10, burst=5, headroom=1.0)
    limiter.observe(1000, sent_at=99.0)
    assert _units_sent_at_once(limiter, clock) == 6  # its burst and the unit that was due


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.sampled_from([0.4, 1.0, 4.0])), min_size=1, max_size=300))
def test_a_fixed_window_never_sends_more_than_its_allowance_nor_waits_while_it_has_some(calls):
    with pytest.MonkeyPatch.context() as patch:
        fake = FakeClock().install(patch)
        window, allowance = 6.0, 20.0
        limiter = RequestLimiter(units_per_second=allowance / window, headroom=1.0, window=window)
        sent: dict[float, float] = {}
        for gap, cost in calls:
            fake.now += gap
            asked_in = fake.now - fake.now % window
            spent_before = sent.get(asked_in, 0.0)
            waited = limiter.acquire(cost)
            opened = fake.now - fake.now % window
            sent[opened] = sent.get(opened, 0.0) + cost
            if waited:  # only when its window was (all but a straddling request) full, until a window opens
                assert spent_before + cost > allowance - 4.0
                assert opened > asked_in and fake.now - opened == pytest.approx(limiter_module.WINDOW_MARGIN)
    # a request whose reservation straddles two windows is sent in the later one: at most one request over
    assert max(sent.values()) <= allowance + 4.0


def test_the_limiter_shares_one_budget_between_threads():
    limiter = RequestLimiter(units_per_second=1e6, burst=1, headroom=1.0)
    reserved = []

    def work():
        for _ in range(200):
            limiter.acquire(1)
            reserved.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reserved) == 800 and limiter._next_free > 0  # every acquire was booked in the one bucket


def test_prefetched_pages_arrive_in_order_and_an_error_after_the_pages_before_it():
    def pages():
        yield from range(5)
        raise ValueError("page 5 failed")

    seen = []
    with pytest.raises(ValueError, match="page 5"):
        for page in prefetched(pages(), depth=2):
            seen.append(page)
    assert seen == [0, 1, 2, 3, 4]


def test_a_caller_that_stops_early_stops_the_prefetching_thread():
    finished = threading.Event()

    def pages():
        try:
            yield from range(1000)
        finally:
            finished.set()

    for page in prefetched(pages(), depth=2):
        if page == 3:
            break
    assert finished.is_set()


def _stored(schema, entity_id):
    columns = [c for c in schema.__table__.columns.keys() if c not in ("id", "entity_id", "created_timestamp")]
    from zvt_ccxt.store.engines import engine_for

    with engine_for(schema).connect() as connection:
        rows = connection.exec_driver_sql(
            f'SELECT substr(id, length(entity_id) + 2), {", ".join(columns)} FROM "{schema.__tablename__}" '
            "WHERE entity_id = ? ORDER BY timestamp",
            (entity_id,),
        ).fetchall()
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("schema, daily", [(CryptoPair1mKdata, False), (CryptoPair1dKdata, True)])
def test_the_one_statement_bar_write_stores_exactly_what_executemany_stores(store, monkeypatch, schema, daily):
    assert sqlite_records.math_functions(), "this SQLite cannot decode the records: its bar path is off"
    rng = np.random.default_rng(3)
    count = 2500  # more than one slice of encoded rows
    ts = 1_717_200_000_000 + np.arange(count, dtype="int64") * (86_400_000 if daily else 60_000)
    values = {
        "open": rng.random(count) * 1e5,
        "close": np.round(rng.random(count) * 1e5, 2),
        "high": rng.random(count) * 1e6,
        "low": np.round(rng.random(count), 8),
        "volume": rng.random(count) * 10.0 ** rng.integers(-8, 10, count),
        "turnover": rng.random(count),
        "change_pct": np.where(rng.random(count) < 0.1, np.nan, rng.random(count) - 0.5),
        "turnover_estimated": rng.random(count) < 0.5,
    }
    # a decimal parser's hard case, a subnormal, the extremes, a negative, an infinity (stored NULL), zero
    hard = [387.248275516983, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, -2.5, np.inf, 0.0]
    values["turnover"][: len(hard)] = hard
    constants = {
        "provider": "ccxt",
        "code": "x",
        "name": "X/Y",
        "level": "1m",
        "timeframe": "1m",
        "derived": False,
        "closed": True,
    }
    fast_id, slow_id = "cryptopair_test_fast", "cryptopair_test_slow"
    prepared = []
    original = sqlite_records.prepare
    monkeypatch.setattr(sqlite_records, "prepare", lambda *args: prepared.append(args[0]) or original(*args))
    assert prepare_bars(schema, ts, values, {**constants, "entity_id": fast_id}, fast_id, daily)() == count
    assert prepared == [schema]  # the records path wrote it
    monkeypatch.setattr(sqlite_records, "math_functions", lambda: False)
    assert prepare_bars(schema, ts, values, {**constants, "entity_id": slow_id}, slow_id, daily)() == count
    assert prepared == [schema]  # the row path wrote this one
    fast, slow = _stored(schema, fast_id), _stored(schema, slow_id)
    assert len(fast) == count and fast == slow


def test_recording_symbols_at_once_stores_the_same_as_one_after_another(sim):
    from conftest import empty_store

    symbols = ["BTC/USDT", "ETH/USDT"]

    def record(workers):
        summary = CryptoPair1hKdata.record_data(
            provider="ccxt", exchange="binance", symbols=symbols, start_timestamp=SIM_NOW - 20 * 86_400_000,
            workers=workers,
        )
        frame = CryptoPair1hKdata.query_data(provider="ccxt", order=CryptoPair1hKdata.id.asc())
        return summary, frame.drop(columns=["created_timestamp"], errors="ignore")

    one_by_one, expected = record(1)
    empty_store()
    at_once, found = record(2)
    assert [r.symbol for r in at_once.results] == [r.symbol for r in one_by_one.results] == symbols
    assert at_once.ok and [r.rows for r in at_once.results] == [r.rows for r in one_by_one.results]
    assert len(found) == 2 * 20 * 24 and found.equals(expected)
