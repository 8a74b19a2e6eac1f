import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zvt_ccxt import levels
from zvt_ccxt.backfill.candles import aggregate, change_pct, normalise

H = levels.HOUR_MS
T0 = 1_704_067_200_000  # Monday 2024-01-01 00:00 UTC


def bar(ts, o=100.0, h=110.0, low=90.0, c=105.0, v=2.0, qv=None):
    return [ts, o, h, low, c, v, qv]


def test_valid_rows_are_kept_sorted_and_deduplicated_keeping_the_last():
    rows = [bar(T0 + H), bar(T0), bar(T0 + H, c=107.0)]
    candles = normalise(rows, "1h")
    assert candles.ts.tolist() == [T0, T0 + H]
    assert candles.close.tolist() == [105.0, 107.0]
    assert not candles.rejected


@pytest.mark.parametrize(
    "row, reason",
    [
        (bar(T0 + 1), "bar start"),
        (bar(T0, h=100.0, c=105.0), "high/low"),
        (bar(T0, low=106.0), "high/low"),
        (bar(T0, v=-1.0), "negative volume"),
        (bar(T0, o=float("nan")), "non-finite"),
        (bar(T0, o=float("inf")), "non-finite"),
        (bar(T0, o="100"), "non-numeric"),
        (bar(T0, o=0.0, low=0.0), "non-positive"),
        ([T0, 1, 2], "six-field"),
        (None, "six-field"),
        ([None, 1, 2, 1, 1, 1], "timestamp"),
    ],
)
def test_bad_rows_are_rejected_with_a_reason(row, reason):
    candles = normalise([row, bar(T0 + H)], "1h")
    assert len(candles) == 1 and candles.ts[0] == T0 + H
    assert len(candles.rejected) == 1 and reason in candles.rejected[0][1]


def test_turnover_is_the_reported_quote_volume_else_estimated():
    reported = normalise([bar(T0, qv=321.5)], "1h")
    assert reported.turnover[0] == 321.5 and not reported.turnover_estimated[0]
    estimated = normalise([bar(T0)], "1h")
    assert estimated.turnover[0] == pytest.approx(2.0 * (110 + 90 + 105) / 3)
    assert estimated.turnover_estimated[0]
    inverse = normalise([bar(T0, v=7.0)], "1h", inverse=True, contract_size=100.0)
    assert inverse.turnover[0] == 700.0


def test_aggregation_into_weeks_respects_monday_boundaries():
    days = [bar(T0 + d * levels.DAY_MS, o=100 + d, h=200 + d, low=50 - d, c=101 + d, v=1.0, qv=10.0) for d in range(10)]
    days.insert(0, bar(T0 - levels.DAY_MS, o=99, h=150, low=60, c=100, v=1.0, qv=10.0))  # Sunday: previous week
    weeks = aggregate(normalise(days, "1d"), "1wk")
    assert weeks.ts.tolist() == [T0 - levels.WEEK_MS, T0, T0 + levels.WEEK_MS]
    assert weeks.open.tolist() == [99, 100, 107]
    assert weeks.close.tolist() == [100, 107, 110]
    assert weeks.high.tolist() == [150, 206, 209]
    assert weeks.low.tolist() == [60, 44, 41]
    assert weeks.volume.tolist() == [1.0, 7.0, 3.0]
    assert weeks.turnover.tolist() == [10.0, 70.0, 30.0]


def test_aggregation_into_months_uses_calendar_months():
    jan31 = T0 + 30 * levels.DAY_MS
    feb1 = T0 + 31 * levels.DAY_MS
    months = aggregate(normalise([bar(T0), bar(jan31, c=100.0), bar(feb1)], "1d"), "1mon")
    assert months.ts.tolist() == [T0, feb1]
    assert months.close.tolist() == [100.0, 105.0]


def test_change_pct_uses_the_previous_close():
    assert change_pct(np.array([110.0, 121.0]), 100.0).tolist() == pytest.approx([0.1, 0.1])
    assert math.isnan(change_pct(np.array([110.0]), None)[0])


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-5, max_value=500),
            st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(max_size=3), st.none()),
            st.floats(min_value=-10, max_value=1e6),
            st.floats(min_value=-10, max_value=1e6),
        ),
        max_size=40,
    )
)
def test_normalised_candles_always_satisfy_the_invariants(specs):
    rows = [[T0 + i * H + (1 if i < 0 else 0), o, max(a, b), min(a, b), a, abs(b)] for i, o, a, b in specs]
    candles = normalise(rows, "1h")
    assert len(candles) <= len({r[0] for r in rows})
    assert np.all(np.diff(candles.ts) > 0)
    assert np.all(candles.ts % H == 0)
    assert np.all(candles.high >= np.maximum(candles.open, candles.close))
    assert np.all(candles.low <= np.minimum(candles.open, candles.close))
    assert np.all(candles.volume >= 0) and np.all(np.isfinite(candles.turnover))
