"""Funding rates, open interest and order books of the simulated markets, deterministic in (market, time).

Funding: perpetuals settle every 8 hours (00:00, 08:00, 16:00 UTC) from their listing; the BTC linear
perpetuals switch to 4 hours on ``FUNDING_SWITCH_4H_MS`` and the ETH linear perpetuals to 1 hour on
``FUNDING_SWITCH_1H_MS``, as exchanges do for volatile symbols. Open interest follows a slow path around a
level tied to the market's volume. Order books are built around the last traded price.
"""

from __future__ import annotations

import math

import numpy as np

from .pricing import _TWO_PI, _mix, _unit, stable_hash
from .timeframes import HOUR_MS, MINUTE_MS
from .universe import SimMarket

FUNDING_SWITCH_4H_MS = 1_746_835_200_000  # 2025-05-10 00:00 UTC
FUNDING_SWITCH_1H_MS = 1_747_699_200_000  # 2025-05-20 00:00 UTC
_DAY_MS = 24 * HOUR_MS


def funding_schedule(market: SimMarket) -> list[tuple[int, int]]:
    """``(from_ms, interval_ms)`` segments of a perpetual's funding history, oldest first."""
    schedule = [(market.listing_ms, 8 * HOUR_MS)]
    if market.kind == "linear" and market.base == "BTC":
        schedule.append((FUNDING_SWITCH_4H_MS, 4 * HOUR_MS))
    elif market.kind == "linear" and market.base == "ETH":
        schedule.append((FUNDING_SWITCH_1H_MS, HOUR_MS))
    return schedule


def funding_times(market: SimMarket, t0: int, t1: int, now_ms: int) -> np.ndarray:
    """Settled funding times in ``[t0, t1)``, ascending (none after now or after delisting)."""
    if market.kind == "spot":
        return np.zeros(0, dtype=np.int64)
    end = min(t1, now_ms + 1)
    if market.delist_ms is not None:
        end = min(end, market.delist_ms)
    schedule = funding_schedule(market)
    parts = []
    for i, (seg_start, interval) in enumerate(schedule):
        seg_end = schedule[i + 1][0] if i + 1 < len(schedule) else end
        lo, hi = max(t0, seg_start), min(end, seg_end)
        if lo >= hi:
            continue
        first = -(-lo // interval) * interval
        parts.append(np.arange(first, hi, interval, dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def funding_interval_ms(market: SimMarket, at_ms: int) -> int:
    """The interval in force for the funding at ``at_ms`` (the one that ends there)."""
    interval = funding_schedule(market)[0][1]
    for start, value in funding_schedule(market):
        if start < at_ms:
            interval = value
    return interval


def funding_rates(market: SimMarket, times: np.ndarray) -> np.ndarray:
    """Funding rate per settlement, rounded to 8 decimals, scaled to the interval it covers."""
    if not len(times):
        return np.zeros(0)
    seed = stable_hash("funding:" + market.exchange + ":" + market.id)
    phase = _TWO_PI * (seed % 1000) / 1000.0
    noise = _unit(_mix(times.astype(np.uint64) ^ np.uint64(seed)), 0) - 0.5
    per_8h = 0.0001 + 0.00025 * np.sin(times / (3.3 * _DAY_MS) * _TWO_PI + phase) + 0.00004 * noise
    scale = np.array([funding_interval_ms(market, int(t)) / (8 * HOUR_MS) for t in times])
    return np.round(per_8h * scale, 8)


def smooth_price(market: SimMarket, at_ms: np.ndarray) -> np.ndarray:
    """The market's slow price path (no minute noise), in quote currency."""
    series = market.series
    minutes = np.asarray(at_ms, dtype=np.float64) / MINUTE_MS
    return series.path.level * np.exp(series.path.log_price(minutes))


def mark_prices(market: SimMarket, times: np.ndarray) -> np.ndarray:
    tick = float(market.tick)
    return np.round(smooth_price(market, times) / tick) * tick


def open_interest(market: SimMarket, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(contracts, base amount, quote value)`` of open interest at ``times``."""
    times = np.asarray(times, dtype=np.int64)
    seed = stable_hash("oi:" + market.exchange + ":" + market.id)
    phase = _TWO_PI * (seed % 977) / 977.0
    level = market.series.spec.mean_base_volume * 30_000.0
    base = level * (1.0 + 0.2 * np.sin(times / (9.0 * _DAY_MS) * _TWO_PI + phase))
    base *= 1.0 + 0.01 * (_unit(_mix(times.astype(np.uint64) ^ np.uint64(seed)), 0) - 0.5)
    price = smooth_price(market, times)
    size = float(market.contract_size)
    lot = float(market.lot)
    if market.kind == "inverse":
        contracts = np.floor(base * price / size / lot) * lot
        base = contracts * size / price
    else:
        contracts = np.floor(base / size / lot) * lot
        base = contracts * size
    return contracts, base, base * price


def period_times(t0: int, t1: int, period_ms: int, now_ms: int, first_ms: int) -> np.ndarray:
    """Period starts in ``[t0, t1]`` that are not after now nor before ``first_ms``, ascending."""
    lo = max(t0, first_ms)
    hi = min(t1, now_ms)
    if hi < lo:
        return np.zeros(0, dtype=np.int64)
    first = -(-lo // period_ms) * period_ms
    return np.arange(first, hi + 1, period_ms, dtype=np.int64)


def order_book(market: SimMarket, last_price_units: int, depth: int, at_ms: int) -> tuple[list, list]:
    """``(bids, asks)`` as ``[price in ticks, amount in lots]`` levels, best first, around the last price."""
    seed = np.uint64(stable_hash("book:" + market.exchange + ":" + market.id))
    second = np.uint64(at_ms // 1000)
    k = np.arange(2 * depth, dtype=np.uint64)
    h = _mix((second * np.uint64(4096) + k) ^ seed)
    gaps = 1 + (_unit(h, 0) * 3).astype(np.int64)
    # level sizes of a few hundredths to a couple of minutes' volume, in whole lots of the native unit
    price = last_price_units * float(market.tick)
    base_per_lot = float(market.lot) * (float(market.contract_size) if market.contract else 1.0)
    if market.kind == "inverse":
        base_per_lot /= price
    base = (0.02 + 1.5 * _unit(h, 16) ** 2) * market.series.spec.mean_base_volume
    sizes = np.maximum(1, np.floor(base / base_per_lot)).astype(np.int64)
    half = max(1, int(math.ceil(last_price_units * 0.00002)))
    bid_gaps, ask_gaps = gaps[:depth], gaps[depth:]
    bids = last_price_units - half - np.concatenate(([0], np.cumsum(bid_gaps[1:])))
    asks = last_price_units + half + np.concatenate(([0], np.cumsum(ask_gaps[1:])))
    bids = np.maximum(bids, 1)
    return (
        [[int(p), int(s)] for p, s in zip(bids, sizes[:depth], strict=True)],
        [[int(p), int(s)] for p, s in zip(asks, sizes[depth:], strict=True)],
    )


def update_id(market: SimMarket, at_ms: int) -> int:
    """A book sequence number that grows with time."""
    return 10_000_000_000 + (at_ms - market.listing_ms) // 10
