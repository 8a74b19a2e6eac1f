"""zvt bar levels, ccxt timeframes and UTC bar arithmetic for markets that never close.

Bars start at multiples of their length since the Unix epoch, except weeks (Monday 00:00 UTC, as
binance, okx's ``utc`` bars and bybit align them) and months (the 1st, 00:00 UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from zvt_ccxt.errors import UnsupportedLevelError

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday: the first Monday is four days later.
_FIRST_MONDAY_MS = 4 * DAY_MS

#: zvt level value -> ccxt unified timeframe.
LEVEL_TIMEFRAMES: dict[str, str] = {
    "1m": "1m",
    "5m": "5m",
    "15m": "15m",
    "30m": "30m",
    "1h": "1h",
    "4h": "4h",
    "1d": "1d",
    "1wk": "1w",
    "1mon": "1M",
}
BAR_LEVELS: tuple[str, ...] = tuple(LEVEL_TIMEFRAMES)

_FIXED_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "4h": 4 * HOUR_MS,
    "1d": DAY_MS,
    "1wk": WEEK_MS,
}


def level_value(level: object) -> str:
    """Normalise an ``IntervalLevel`` or its string value ("1h"), refusing non-bar levels."""
    value = getattr(level, "value", level)
    if not isinstance(value, str) or value not in LEVEL_TIMEFRAMES:
        hint = " (tick and l2quote data come from the trade recorder)" if value in ("tick", "l2quote") else ""
        raise UnsupportedLevelError(f"level {value!r} is not a bar level; use one of {', '.join(BAR_LEVELS)}{hint}")
    return value


def bar_start(ts_ms: int, level: str) -> int:
    """Start of the bar of ``level`` containing ``ts_ms``."""
    if level == "1mon":
        moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
        return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp() * 1000)
    if level == "1wk":
        return (ts_ms - _FIRST_MONDAY_MS) // WEEK_MS * WEEK_MS + _FIRST_MONDAY_MS
    size = _FIXED_MS[level]
    return ts_ms // size * size


def next_bar_start(bar_ms: int, level: str) -> int:
    """Start of the bar after the one starting at ``bar_ms``."""
    if level == "1mon":
        moment = datetime.fromtimestamp(bar_ms / 1000, tz=UTC)
        year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)
    return bar_ms + _FIXED_MS[level]


def bars_after(bar_ms: int, count: int, level: str) -> int:
    """Start of the bar ``count`` bars after the one starting at ``bar_ms``."""
    if level != "1mon":
        return bar_ms + count * _FIXED_MS[level]
    moment = datetime.fromtimestamp(bar_ms / 1000, tz=UTC)
    months = moment.year * 12 + moment.month - 1 + count
    return int(datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC).timestamp() * 1000)


def is_aligned(ts_ms: int, level: str) -> bool:
    return bar_start(ts_ms, level) == ts_ms


def nominal_ms(level: str) -> int:
    """Bar length in ms (a month counts 31 days): for page sizes and estimates, never for alignment."""
    return _FIXED_MS.get(level, 31 * DAY_MS)


def bar_starts(start_ms: int, end_ms: int, level: str) -> list[int]:
    """Every bar start in ``[start_ms, end_ms)``, the first one aligned up."""
    current = bar_start(start_ms, level)
    if current < start_ms:
        current = next_bar_start(current, level)
    starts = []
    while current < end_ms:
        starts.append(current)
        current = next_bar_start(current, level)
    return starts


def bar_starts_array(start_ms: int, end_ms: int, level: str):
    """``bar_starts`` as an int64 numpy array, computed at once for the levels of a fixed length."""
    import numpy as np

    if level not in _FIXED_MS:
        return np.array(bar_starts(start_ms, end_ms, level), dtype="int64")
    first = bar_start(start_ms, level)
    if first < start_ms:
        first = next_bar_start(first, level)
    return np.arange(first, max(first, end_ms), _FIXED_MS[level], dtype="int64")


@dataclass(frozen=True)
class TimeframePlan:
    """How one level is fetched on one exchange: natively, or aggregated from a finer native timeframe."""

    level: str
    timeframe: str
    source_level: str

    @property
    def derived(self) -> bool:
        return self.source_level != self.level


def plan_timeframe(exchange_id: str, exchange_timeframes: dict | None, level: object) -> TimeframePlan:
    """Pick the exchange's native timeframe for ``level``, else the largest native level that divides it."""
    value = level_value(level)
    native = set(exchange_timeframes or {})
    if LEVEL_TIMEFRAMES[value] in native:
        return TimeframePlan(value, LEVEL_TIMEFRAMES[value], value)
    for candidate in reversed(BAR_LEVELS[: BAR_LEVELS.index(value)]):
        if LEVEL_TIMEFRAMES[candidate] in native and _divides(candidate, value):
            return TimeframePlan(value, LEVEL_TIMEFRAMES[candidate], candidate)
    raise UnsupportedLevelError(f"{exchange_id} serves no timeframe from which {value} bars can be built")


def _divides(finer: str, coarser: str) -> bool:
    if coarser == "1mon":
        return _FIXED_MS[finer] <= DAY_MS and DAY_MS % _FIXED_MS[finer] == 0
    if coarser == "1wk":
        return DAY_MS % _FIXED_MS[finer] == 0 or finer == "1d"
    return _FIXED_MS[coarser] % _FIXED_MS[finer] == 0


def to_utc_ms(value: object) -> int:
    """Read a user timestamp as UTC: naive strings and datetimes are UTC, ints are ms, never local time."""
    import pandas as pd

    from zvt_ccxt.errors import InvalidTimeRangeError

    if isinstance(value, bool):
        raise InvalidTimeRangeError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidTimeRangeError(f"not a timestamp: {value!r}")
        return int(value)
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as error:
        raise InvalidTimeRangeError(f"cannot read {value!r} as a timestamp: {error}") from None
    if stamp is pd.NaT:
        raise InvalidTimeRangeError(f"cannot read {value!r} as a timestamp")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return round(stamp.timestamp() * 1000)
