"""The stored time text (``store.rows.sql_datetimes``): a few times are stamped one by one from a cache of
seconds, many at once by numpy; both must give SQLAlchemy's DATETIME text of the same instant."""

import random
from datetime import datetime, timedelta

import numpy as np
import pytest

from zvt_ccxt.store import rows

EPOCH = datetime(1970, 1, 1)
EDGES = [-62_135_596_800_000, -86_400_000 + 1, -1_001, -1_000, -999, -1, 0, 1, 999, 1_000, 951_782_400_123,
         1_748_736_059_999, 253_402_300_799_999]


def text_of(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).isoformat(sep=" ", timespec="microseconds")


@pytest.mark.parametrize("ms", EDGES)
def test_one_time_is_its_instant_to_the_millisecond(ms):
    assert rows.sql_datetimes([ms]) == [text_of(ms)]
    assert rows.stamp(ms) == text_of(ms)


def test_few_and_many_times_give_the_same_text():
    draw = random.Random(7)
    times = [draw.randrange(-10**12, 4 * 10**12) for _ in range(2_000)] + EDGES
    expected = [text_of(ms) for ms in times]
    assert rows.sql_datetimes(times) == expected  # numpy, at once
    one_by_one = [text for ms in times for text in rows.sql_datetimes([ms])]
    assert one_by_one == expected
    assert rows.sql_datetimes(np.array(times[:5], dtype="int64")) == expected[:5]


def test_times_of_one_second_keep_their_milliseconds_and_a_full_cache_starts_again():
    second = 1_748_736_000_000
    assert rows.sql_datetimes([second + 7, second + 993]) == [text_of(second + 7), text_of(second + 993)]
    limit = rows._second_text.cache_info().maxsize
    many_seconds = [second + 1_000 * n + n % 1_000 for n in range(limit + 10)]
    assert [rows.stamp(ms) for ms in many_seconds] == [text_of(ms) for ms in many_seconds]
    assert rows._second_text.cache_info().currsize <= limit


def test_fractional_milliseconds_are_cut_as_the_integer_cast_cuts_them():
    assert rows.sql_datetimes([1_717_200_000_123.9]) == rows.sql_datetimes(np.array([1_717_200_000_123.9] * 20))[:1]
    assert rows.stamp(1_717_200_000_123.9) == text_of(1_717_200_000_123)
