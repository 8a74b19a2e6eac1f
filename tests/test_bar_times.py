"""``store.reads.bar_times_ms`` (what coverage reports compare with the bars expected) reads back the open time of
every stored bar to the millisecond, on each store: PostgreSQL computes them on the server, SQLite's text is
parsed in the client, and both round down as epoch milliseconds do."""

import numpy as np
import pytest

from zvt_ccxt.domain import CryptoPair1mKdata
from zvt_ccxt.store.reads import BarCount, bar_counts, bar_times_ms
from zvt_ccxt.store.rows import intraday_ids
from zvt_ccxt.store.writer import upsert

pytestmark = pytest.mark.usefixtures("database")

ENTITY = "cryptopair_binance_btcusdt"
COLUMNS = ("id", "entity_id", "timestamp", "code", "level", "close")
TIMES_MS = [
    -86_400_000 + 1,  # 1969-12-31 00:00:00.001: before the epoch, rounded down still
    -1,
    0,
    1,
    951_782_400_123,  # 2000-02-29 00:00:00.123
    1_748_736_059_999,
    1_748_736_060_000,
    9_000_000_000_999,  # 2255-03-14 16:00:00.999, late in the range of pandas' nanoseconds
]


def test_every_bar_time_comes_back_to_the_millisecond():
    ids, stamps = intraday_ids(ENTITY, TIMES_MS)
    rows = [(i, ENTITY, s, "btcusdt", "1m", 1.0) for i, s in zip(ids, stamps, strict=True)]
    upsert(CryptoPair1mKdata, COLUMNS, rows)
    # times between two milliseconds (written by hand: nothing here writes them) round down to the first
    between = [("2025-06-01 00:00:00.000999", 1_748_736_000_000), ("1969-12-31 23:59:59.999900", -1)]
    upsert(CryptoPair1mKdata, COLUMNS,
           [(f"{ENTITY}_between_{n}", ENTITY, text, "btcusdt", "1m", 1.0) for n, (text, _) in enumerate(between)])
    upsert(CryptoPair1mKdata, COLUMNS,
           [(f"{ENTITY}x_0", f"{ENTITY}x", stamps[3], "btcusdtx", "1m", 1.0)])  # another series, not read
    read = bar_times_ms(CryptoPair1mKdata, ENTITY)
    assert read.dtype == np.int64
    assert sorted(read.tolist()) == sorted(TIMES_MS + [ms for _, ms in between])


def test_a_series_with_no_bars_reads_as_an_empty_array():
    read = bar_times_ms(CryptoPair1mKdata, ENTITY)
    assert read.dtype == np.int64 and len(read) == 0


def _counts_by_hand(times_ms: list[int], ranges: list[tuple[int, int]]) -> list[int]:
    return [sum(start <= t < end for t in times_ms) for start, end in ranges]


RANGES = [(-86_400_000, 0), (0, 2), (951_782_400_000, 1_748_736_060_000), (1_748_736_060_000, 1_748_736_060_001),
          (5, 6), (0, 10_000_000_000_000),
          (-10**14, 10**14), (10**13, 10**13 + 5), (-10**13, -86_400_000)]  # all of them, none after, none before


def test_bars_are_counted_by_range_with_their_first_and_last():
    ids, stamps = intraday_ids(ENTITY, TIMES_MS)
    upsert(CryptoPair1mKdata, COLUMNS, [(i, ENTITY, s, "btcusdt", "1m", 1.0) for i, s in zip(ids, stamps, strict=True)])
    upsert(CryptoPair1mKdata, COLUMNS,  # another series whose id extends this one's: not counted
           [(f"{ENTITY}x_{stamps[3][:10]}", f"{ENTITY}x", stamps[3], "btcusdtx", "1m", 1.0)])
    counted = bar_counts(CryptoPair1mKdata, ENTITY, RANGES)
    assert counted == BarCount(len(TIMES_MS), min(TIMES_MS), max(TIMES_MS), _counts_by_hand(TIMES_MS, RANGES))


def test_a_bar_whose_id_does_not_say_its_time_is_counted_by_its_timestamp():
    ids, stamps = intraday_ids(ENTITY, TIMES_MS)
    rows = [(i, ENTITY, s, "btcusdt", "1m", 1.0) for i, s in zip(ids, stamps, strict=True)]
    rows.append((f"{ENTITY}_written_by_hand", ENTITY, "2025-06-01 00:00:00.000000", "btcusdt", "1m", 1.0))
    upsert(CryptoPair1mKdata, COLUMNS, rows)
    times = [*TIMES_MS, 1_748_736_000_000]
    counted = bar_counts(CryptoPair1mKdata, ENTITY, RANGES)
    assert counted == BarCount(len(times), min(times), max(times), _counts_by_hand(times, RANGES))


def test_a_series_with_no_bars_counts_none():
    assert bar_counts(CryptoPair1mKdata, ENTITY, [(0, 10)]) == BarCount(0, None, None, [0])
