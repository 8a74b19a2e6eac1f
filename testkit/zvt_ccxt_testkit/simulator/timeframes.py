"""Bar bucketing rules (fixed-length bars with an offset, and calendar-month bars)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday: the first Monday 00:00 UTC is 4 days later.
MONDAY_OFFSET_MS = 4 * DAY_MS
HK_SHIFT_MS = 8 * HOUR_MS


@dataclass(frozen=True)
class Timeframe:
    """A bar size.

    Fixed bars start at ``offset + k * ms``.  Month bars (``months > 0``) start on the first day of every
    ``months``-th calendar month of the clock shifted by ``shift`` (ms east of UTC), e.g. ``shift=8h`` gives
    months that begin at 00:00 Hong Kong time.
    """

    ms: int = 0
    offset: int = 0
    months: int = 0
    shift: int = 0

    @property
    def is_month(self) -> bool:
        return self.months > 0

    @property
    def hour_aligned(self) -> bool:
        """True when every bar boundary is a whole UTC hour (bars can be built from hourly rows)."""
        if self.is_month:
            return self.shift % HOUR_MS == 0
        return self.ms % HOUR_MS == 0 and self.offset % HOUR_MS == 0

    @property
    def nominal_ms(self) -> int:
        return self.months * 31 * DAY_MS if self.is_month else self.ms

    # -- vectorised / scalar bucketing -------------------------------------------------------------
    def floor_array(self, ts: np.ndarray) -> np.ndarray:
        ts = np.asarray(ts, dtype=np.int64)
        if not self.is_month:
            return ((ts - self.offset) // self.ms) * self.ms + self.offset
        month_index = (ts + self.shift).astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
        month_index = (month_index // self.months) * self.months
        return _month_start_ms(month_index) - self.shift

    def floor(self, ts: int) -> int:
        return int(self.floor_array(np.array([ts], dtype=np.int64))[0])

    def ceil(self, ts: int) -> int:
        """First bar start >= ts."""
        start = self.floor(ts)
        return start if start >= ts else self.add(start, 1)

    def add(self, start: int, n: int) -> int:
        """Start of the bar ``n`` bars after the bar starting at ``start`` (``start`` must be a bar start)."""
        if not self.is_month:
            return start + n * self.ms
        month_index = int(
            np.array([start + self.shift], dtype="datetime64[ms]").astype("datetime64[M]").astype(np.int64)[0]
        )
        return int(_month_start_ms(np.array([month_index + n * self.months]))[0]) - self.shift

    def end(self, start: int) -> int:
        return self.add(start, 1)


def _month_start_ms(month_index: np.ndarray) -> np.ndarray:
    months = np.asarray(month_index, dtype=np.int64).astype("datetime64[M]")
    return months.astype("datetime64[ms]").astype(np.int64)


def fixed(ms: int, offset: int = 0) -> Timeframe:
    return Timeframe(ms=ms, offset=offset % ms)


def monthly(months: int = 1, shift: int = 0) -> Timeframe:
    return Timeframe(months=months, shift=shift)


M1 = fixed(MINUTE_MS)
H1 = fixed(HOUR_MS)

# -- per exchange interval names --------------------------------------------------------------------

#: ccxt's unified timeframes, UTC aligned, weeks from Monday; binance names its intervals the same way
UNIFIED_TIMEFRAMES: dict[str, Timeframe] = {
    "1m": fixed(MINUTE_MS),
    "3m": fixed(3 * MINUTE_MS),
    "5m": fixed(5 * MINUTE_MS),
    "15m": fixed(15 * MINUTE_MS),
    "30m": fixed(30 * MINUTE_MS),
    "1h": fixed(HOUR_MS),
    "2h": fixed(2 * HOUR_MS),
    "4h": fixed(4 * HOUR_MS),
    "6h": fixed(6 * HOUR_MS),
    "8h": fixed(8 * HOUR_MS),
    "12h": fixed(12 * HOUR_MS),
    "1d": fixed(DAY_MS),
    "3d": fixed(3 * DAY_MS),
    "1w": fixed(WEEK_MS, MONDAY_OFFSET_MS),
    "1M": monthly(1),
}
BINANCE_INTERVALS = UNIFIED_TIMEFRAMES


def _okx_intervals() -> dict[str, Timeframe]:
    out: dict[str, Timeframe] = {
        "1m": fixed(MINUTE_MS),
        "3m": fixed(3 * MINUTE_MS),
        "5m": fixed(5 * MINUTE_MS),
        "15m": fixed(15 * MINUTE_MS),
        "30m": fixed(30 * MINUTE_MS),
        "1H": fixed(HOUR_MS),
        "2H": fixed(2 * HOUR_MS),
        "4H": fixed(4 * HOUR_MS),
    }
    # bars of 6 hours and longer exist in a Hong Kong time flavour (default) and a UTC flavour
    for name, shift in (("", HK_SHIFT_MS), ("utc", 0)):
        out["6H" + name] = fixed(6 * HOUR_MS, -shift)
        out["12H" + name] = fixed(12 * HOUR_MS, -shift)
        out["1D" + name] = fixed(DAY_MS, -shift)
        out["2D" + name] = fixed(2 * DAY_MS, -shift)
        out["3D" + name] = fixed(3 * DAY_MS, -shift)
        out["1W" + name] = fixed(WEEK_MS, MONDAY_OFFSET_MS - shift)
        out["1M" + name] = monthly(1, shift)
        out["3M" + name] = monthly(3, shift)
    return out


OKX_BARS: dict[str, Timeframe] = _okx_intervals()

BYBIT_INTERVALS: dict[str, Timeframe] = {
    "1": fixed(MINUTE_MS),
    "3": fixed(3 * MINUTE_MS),
    "5": fixed(5 * MINUTE_MS),
    "15": fixed(15 * MINUTE_MS),
    "30": fixed(30 * MINUTE_MS),
    "60": fixed(HOUR_MS),
    "120": fixed(2 * HOUR_MS),
    "240": fixed(4 * HOUR_MS),
    "360": fixed(6 * HOUR_MS),
    "720": fixed(12 * HOUR_MS),
    "D": fixed(DAY_MS),
    "W": fixed(WEEK_MS, MONDAY_OFFSET_MS),
    "M": monthly(1),
}

COINBASE_GRANULARITIES: dict[str, Timeframe] = {
    "ONE_MINUTE": fixed(MINUTE_MS),
    "FIVE_MINUTE": fixed(5 * MINUTE_MS),
    "FIFTEEN_MINUTE": fixed(15 * MINUTE_MS),
    "THIRTY_MINUTE": fixed(30 * MINUTE_MS),
    "ONE_HOUR": fixed(HOUR_MS),
    "TWO_HOUR": fixed(2 * HOUR_MS),
    "SIX_HOUR": fixed(6 * HOUR_MS),
    "ONE_DAY": fixed(DAY_MS),
}
