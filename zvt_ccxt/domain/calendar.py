"""A 24/7 UTC trading calendar for zvt entities: every day trades, bars cover the whole day.

zvt's defaults describe an exchange open on business days 09:30-15:00 with Friday weeks; its trader
and factors ask the entity schema for this calendar, so crypto entities override every piece of it.
Timestamps are naive UTC, as everything zvt-ccxt stores.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import pandas as pd

from zvt_ccxt import levels


def _level(level: object) -> str:
    return levels.level_value(level)


def _ms(value: object) -> int:
    return levels.to_utc_ms(value)


def _naive(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms")


#: The bar level whose last bar of a UTC day counts as the "close" (a trader running at 1h closes the day at 23:00).
_close_level: ContextVar[str] = ContextVar("close_level", default="1m")


@contextlib.contextmanager
def trading_level(level: object) -> Iterator[None]:
    """Within the block, ``is_close_timestamp`` means the last bar of the day at ``level``."""
    token = _close_level.set(_level(level))
    try:
        yield
    finally:
        _close_level.reset(token)


class AlwaysOpenCalendar:
    """Calendar classmethods for a market that never closes."""

    @classmethod
    def get_timezone(cls):
        return None  # timestamps are naive UTC, like the stored bars

    @classmethod
    def get_trading_dates(cls, start_date=None, end_date=None):
        return pd.date_range(start_date, end_date, freq="D")

    @classmethod
    def get_trading_intervals(cls, include_bidding_time=False):
        # zvt's time parser refuses "24:00": the last minute of the day stands for the close.
        return [("00:00", "23:59")]

    @classmethod
    def in_real_trading_time(cls, timestamp=None, include_bidding_time=True) -> bool:
        return True

    @classmethod
    def in_trading_time(cls, timestamp=None) -> bool:
        return True

    @classmethod
    def before_trading_time(cls, timestamp=None) -> bool:
        return False

    @classmethod
    def after_trading_time(cls, timestamp=None) -> bool:
        return False

    @classmethod
    def get_close_hour_and_minute(cls):
        return 23, 59

    @classmethod
    def get_interval_timestamps(cls, start_date, end_date, level) -> Iterator[pd.Timestamp]:
        """Every bar start of ``level`` from ``start_date`` to ``end_date`` inclusive (UTC)."""
        value = _level(level)
        end = _ms(end_date)
        for start in levels.bar_starts(_ms(start_date), end + 1, value):
            yield _naive(start)

    @classmethod
    def is_open_timestamp(cls, timestamp) -> bool:
        return levels.is_aligned(_ms(timestamp), "1d")

    @classmethod
    def is_close_timestamp(cls, timestamp) -> bool:
        """True for the day's last bar at the current ``trading_level`` (1m outside a trader: 23:59)."""
        level = _close_level.get()
        return levels.is_aligned(levels.next_bar_start(levels.bar_start(_ms(timestamp), level), level), "1d")

    @classmethod
    def is_finished_kdata_timestamp(cls, timestamp, level) -> bool:
        return levels.is_aligned(_ms(timestamp), _level(level))

    @classmethod
    def get_trading_t(cls) -> int:
        return 0
