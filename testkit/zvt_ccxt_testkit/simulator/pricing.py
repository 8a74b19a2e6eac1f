"""Deterministic synthetic market data.

Every market owns a closed-form per-minute price/volume path: the value of minute ``m`` depends only on the
market and ``m`` (no cumulative state), so any window can be produced independently and coarser bars are the
exact aggregation of the 1-minute bars.  All quantities are carried as int64 in fixed units so that sums
are exact:

* prices in ticks of the market's tick size,
* base volume in 1e-8 base units, quote volume in 1e-6 quote units,
* native volume (contracts for contract markets, base lots otherwise) in lots.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from .timeframes import HOUR_MS, MINUTE_MS, Timeframe

# row columns
TS, OPEN, HIGH, LOW, CLOSE, BASE, QUOTE, CONTRACTS, TRADES, TB_BASE, TB_QUOTE, TB_CONTRACTS = range(12)
NCOL = 12
SUM_COLS = [BASE, QUOTE, CONTRACTS, TRADES, TB_BASE, TB_QUOTE, TB_CONTRACTS]

BASE_DECIMALS = 8
QUOTE_DECIMALS = 6

_NOISE = 0.0007  # per-minute open/close noise (relative)
_WICK = 0.0005  # per-minute wick size (relative)
_TWO_PI = 2.0 * math.pi
_DAY_MIN = 1440.0
_CHUNK_HOURS = 720  # hourly cache is filled by chunks of 30 days of minutes

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_MASK16 = np.uint64(0xFFFF)

Bound = int | None


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x + _M1
    x = (x ^ (x >> _S30)) * _M2
    x = (x ^ (x >> _S27)) * _M3
    return x ^ (x >> _S31)


def _unit(h: np.ndarray, shift: int) -> np.ndarray:
    return ((h >> np.uint64(shift)) & _MASK16).astype(np.float64) * (1.0 / 65535.0)


def _rng_unit(seed: int, k: int) -> float:
    return (stable_hash(f"{seed}:{k}") % 1_000_003) / 1_000_003.0


@dataclass(frozen=True)
class AssetPath:
    """Slow common price level of an asset (shared by all markets of that asset)."""

    level: float
    components: tuple[tuple[float, float, float], ...]  # (amplitude, period in minutes, phase)

    @classmethod
    def for_asset(cls, asset: str, level: float) -> AssetPath:
        seed = stable_hash("asset:" + asset)
        periods = (2.3 * 525_600, 53 * _DAY_MIN, 2.7 * _DAY_MIN, 0.29 * _DAY_MIN, 47.0)
        amplitudes = (0.33, 0.11, 0.025, 0.006, 0.0015)
        comps = tuple(
            (amp, per * (0.85 + 0.3 * _rng_unit(seed, 2 * i)), _TWO_PI * _rng_unit(seed, 2 * i + 1))
            for i, (amp, per) in enumerate(zip(amplitudes, periods, strict=True))
        )
        return cls(level=level, components=comps)

    def log_price(self, t: np.ndarray) -> np.ndarray:
        out = np.zeros_like(t)
        for amp, per, phase in self.components:
            out += amp * np.sin(t * (_TWO_PI / per) + phase)
        return out


@dataclass
class SeriesSpec:
    """Static description of one market's trade stream."""

    key: str  # unique, e.g. "binance:BTCUSDT"
    asset: str  # base currency, selects the shared price level
    level: float  # typical price
    tick: Decimal  # price tick
    lot: Decimal  # step of the native volume unit (base amount or contracts)
    listing_ms: int
    mean_base_volume: float  # mean base volume per minute
    native: str = "base"  # "base" or "contracts"
    contract_size: Decimal = Decimal(1)  # base per contract (linear) / quote per contract (inverse)
    inverse: bool = False


@dataclass
class Series:
    spec: SeriesSpec
    delist_ms: int | None = None
    gaps: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        spec = self.spec
        self.seed = np.uint64(stable_hash("series:" + spec.key))
        self.path = AssetPath.for_asset(spec.asset, spec.level)
        self.basis_amp = 0.0008 * _rng_unit(int(self.seed), 1)
        self.basis_phase = _TWO_PI * _rng_unit(int(self.seed), 2)
        self.tick_f = float(spec.tick)
        self.lot_f = float(spec.lot)
        self.cs_f = float(spec.contract_size)
        if spec.native == "base":
            self.base_per_lot_e8 = _exact_int(spec.lot * 10**BASE_DECIMALS)
        elif not spec.inverse:
            self.base_per_lot_e8 = _exact_int(spec.lot * spec.contract_size * 10**BASE_DECIMALS)
        else:
            self.quote_per_lot_e6 = _exact_int(spec.lot * spec.contract_size * 10**QUOTE_DECIMALS)
        self.first_minute = -(-spec.listing_ms // MINUTE_MS)
        self._reset_cache()

    # -- state ------------------------------------------------------------------------------------
    def _reset_cache(self) -> None:
        self._hc_start = self.first_minute // 60
        self._hc_rows = np.zeros((0, NCOL), dtype=np.int64)
        self._hc_state = np.zeros(0, dtype=np.int8)  # 0 unknown, 1 no trades, 2 present

    def add_gap(self, start_ms: int, end_ms: int) -> None:
        self.gaps.append((int(start_ms), int(end_ms)))
        self._reset_cache()

    def set_delisted(self, delist_ms: int | None) -> None:
        self.delist_ms = None if delist_ms is None else int(delist_ms)
        self._reset_cache()

    def end_minute(self, now_ms: int) -> int:
        """Exclusive end of the minutes that can hold trades."""
        end = now_ms // MINUTE_MS + 1
        if self.delist_ms is not None:
            end = min(end, -(-self.delist_ms // MINUTE_MS))
        return end

    # -- minutes ----------------------------------------------------------------------------------
    def minute_rows(self, m0: int, m1: int, now_ms: int) -> np.ndarray:
        """Rows of the minutes in [m0, m1) that contain trades, ascending."""
        lo = max(m0, self.first_minute)
        hi = min(m1, self.end_minute(now_ms))
        if lo >= hi:
            return np.zeros((0, NCOL), dtype=np.int64)
        m = np.arange(lo, hi, dtype=np.int64)
        rows = self._generate(m)
        now_minute = now_ms // MINUTE_MS
        if hi - 1 == now_minute:
            self._make_partial(rows[-1], (now_ms - now_minute * MINUTE_MS) / MINUTE_MS)
        if self.gaps:
            ts = rows[:, TS]
            keep = np.ones(len(ts), dtype=bool)
            for gs, ge in self.gaps:
                keep &= ~((ts >= gs) & (ts < ge))
            rows = rows[keep]
        return rows

    def _generate(self, m: np.ndarray) -> np.ndarray:
        spec = self.spec
        t = m.astype(np.float64)
        t_all = np.empty(len(t) + 1)
        t_all[:-1] = t
        t_all[-1] = t[-1] + 1.0
        basis = self.basis_amp * np.sin(t_all * (_TWO_PI / 9973.0) + self.basis_phase)
        logp = self.path.log_price(t_all) + basis
        smooth = self.path.level * np.exp(logp)
        h1 = _mix(m.astype(np.uint64) ^ self.seed)
        h2 = _mix(h1 ^ _M3)
        n1 = 2.0 * _unit(h1, 0) - 1.0
        n2 = 2.0 * _unit(h1, 16) - 1.0
        w1 = _unit(h1, 32)
        w2 = _unit(h1, 48)
        v = _unit(h2, 0)
        tr = _unit(h2, 16)
        taker = 0.3 + 0.4 * _unit(h2, 32)

        o = smooth[:-1] * (1.0 + _NOISE * n1)
        c = smooth[1:] * (1.0 + _NOISE * n2)
        hi = np.maximum(o, c) * (1.0 + _WICK * w1)
        lw = np.minimum(o, c) * (1.0 - _WICK * w2)
        inv_tick = 1.0 / self.tick_f
        o_t = np.rint(o * inv_tick).astype(np.int64)
        c_t = np.rint(c * inv_tick).astype(np.int64)
        h_t = np.maximum(np.rint(hi * inv_tick).astype(np.int64), np.maximum(o_t, c_t))
        l_t = np.minimum(np.rint(lw * inv_tick).astype(np.int64), np.minimum(o_t, c_t))
        l_t = np.maximum(l_t, 1)
        vwap = (o_t + h_t + l_t + c_t).astype(np.float64) * (0.25 * self.tick_f)

        shape = (0.15 + 1.7 * v * v) * (1.0 + 0.35 * np.sin(t * (_TWO_PI / _DAY_MIN) + 1.3))
        base_f = spec.mean_base_volume * shape
        rows = np.empty((len(m), NCOL), dtype=np.int64)
        if spec.native == "base":
            lots = np.maximum(np.floor(base_f / self.lot_f), 1).astype(np.int64)
            base = lots * self.base_per_lot_e8
            quote = np.rint(base.astype(np.float64) * vwap * 10.0 ** (QUOTE_DECIMALS - BASE_DECIMALS))
        elif not spec.inverse:
            lots = np.maximum(np.floor(base_f / (self.cs_f * self.lot_f)), 1).astype(np.int64)
            base = lots * self.base_per_lot_e8
            quote = np.rint(base.astype(np.float64) * vwap * 10.0 ** (QUOTE_DECIMALS - BASE_DECIMALS))
        else:
            lots = np.maximum(np.floor(base_f * vwap / (self.cs_f * self.lot_f)), 1).astype(np.int64)
            quote = (lots * self.quote_per_lot_e6).astype(np.float64)
            base = np.rint(quote / vwap * 10.0 ** (BASE_DECIMALS - QUOTE_DECIMALS)).astype(np.int64)
        quote = quote.astype(np.int64)
        rows[:, TS] = m * MINUTE_MS
        rows[:, OPEN] = o_t
        rows[:, HIGH] = h_t
        rows[:, LOW] = l_t
        rows[:, CLOSE] = c_t
        rows[:, BASE] = base
        rows[:, QUOTE] = quote
        rows[:, CONTRACTS] = lots
        rows[:, TRADES] = 1 + np.floor(80.0 * shape * (0.5 + tr)).astype(np.int64)
        tb_lots = np.floor(lots * taker).astype(np.int64)
        rows[:, TB_CONTRACTS] = tb_lots
        if spec.inverse:
            rows[:, TB_QUOTE] = tb_lots * self.quote_per_lot_e6
            rows[:, TB_BASE] = np.floor(base * taker).astype(np.int64)
        else:
            rows[:, TB_BASE] = tb_lots * self.base_per_lot_e8
            rows[:, TB_QUOTE] = np.floor(quote * taker).astype(np.int64)
        return rows

    def _make_partial(self, row: np.ndarray, fraction: float) -> None:
        """Turn a complete minute into the forming one, ``fraction`` of the way through it."""
        g = (fraction * 59.0 + 1.0) / 60.0  # at least one second worth of trading
        o, h, lw, c = (int(x) for x in row[OPEN : CLOSE + 1])
        c_p = int(round(o + (c - o) * g))
        top, bottom = max(o, c), min(o, c)
        row[CLOSE] = c_p
        row[HIGH] = max(o, c_p) + int((h - top) * g)
        row[LOW] = min(o, c_p) - int((bottom - lw) * g)
        lots, tb_lots = int(row[CONTRACTS]), int(row[TB_CONTRACTS])
        new_lots = max(1, int(lots * g))
        new_tb = min(new_lots, int(tb_lots * g))
        share, tb_share = new_lots / lots, (new_tb / tb_lots if tb_lots else 0.0)
        row[CONTRACTS], row[TB_CONTRACTS] = new_lots, new_tb
        if self.spec.inverse:
            row[QUOTE], row[TB_QUOTE] = new_lots * self.quote_per_lot_e6, new_tb * self.quote_per_lot_e6
            row[BASE], row[TB_BASE] = int(row[BASE] * share), int(row[TB_BASE] * tb_share)
        else:
            row[BASE], row[TB_BASE] = new_lots * self.base_per_lot_e8, new_tb * self.base_per_lot_e8
            row[QUOTE], row[TB_QUOTE] = int(row[QUOTE] * share), int(row[TB_QUOTE] * tb_share)
        row[TRADES] = max(1, int(row[TRADES] * g))

    # -- hours (cached) ---------------------------------------------------------------------------
    def hour_rows(self, h0: int, h1: int, now_ms: int) -> np.ndarray:
        """Rows of the hours in [h0, h1) that contain trades, ascending."""
        h0 = max(h0, self._hc_start)
        if h0 >= h1:
            return np.zeros((0, NCOL), dtype=np.int64)
        complete_end = min(h1, now_ms // HOUR_MS)  # hours before this one are complete
        parts = []
        if h0 < complete_end:
            self._fill_hours(h0, complete_end, now_ms)
            a, b = h0 - self._hc_start, complete_end - self._hc_start
            state = self._hc_state[a:b]
            parts.append(self._hc_rows[a:b][state == 2])
        rest = max(h0, complete_end)
        if rest < h1:
            minutes = self.minute_rows(rest * 60, h1 * 60, now_ms)
            if len(minutes):
                parts.append(aggregate(minutes, minutes[:, TS] // HOUR_MS * HOUR_MS))
        if not parts:
            return np.zeros((0, NCOL), dtype=np.int64)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _fill_hours(self, h0: int, h1: int, now_ms: int) -> None:
        need = h1 - self._hc_start
        if need > len(self._hc_state):
            cap = max(need, 2 * len(self._hc_state), 24 * 64)
            rows = np.zeros((cap, NCOL), dtype=np.int64)
            state = np.zeros(cap, dtype=np.int8)
            rows[: len(self._hc_rows)] = self._hc_rows
            state[: len(self._hc_state)] = self._hc_state
            self._hc_rows, self._hc_state = rows, state
        a, b = h0 - self._hc_start, h1 - self._hc_start
        unknown = np.flatnonzero(self._hc_state[a:b] == 0)
        if not len(unknown):
            return
        breaks = np.flatnonzero(np.diff(unknown) != 1)
        starts = np.concatenate(([unknown[0]], unknown[breaks + 1]))
        ends = np.concatenate((unknown[breaks], [unknown[-1]])) + 1
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            for cs in range(s, e, _CHUNK_HOURS):
                ce = min(e, cs + _CHUNK_HOURS)
                ha, hb = a + cs + self._hc_start, a + ce + self._hc_start
                minutes = self.minute_rows(ha * 60, hb * 60, now_ms)
                self._hc_state[a + cs : a + ce] = 1
                if len(minutes):
                    hours = aggregate(minutes, minutes[:, TS] // HOUR_MS * HOUR_MS)
                    idx = hours[:, TS] // HOUR_MS - self._hc_start
                    self._hc_rows[idx] = hours
                    self._hc_state[idx] = 2

    # -- bars -------------------------------------------------------------------------------------
    def bars(self, tf: Timeframe, t0: int, t1: int, now_ms: int) -> np.ndarray:
        """Bars whose start lies in [t0, t1) (both bar boundaries), ascending, only bars with trades."""
        if not tf.is_month and tf.ms == MINUTE_MS:
            return self.minute_rows(t0 // MINUTE_MS, t1 // MINUTE_MS, now_ms)
        if tf.hour_aligned:
            src = self.hour_rows(t0 // HOUR_MS, t1 // HOUR_MS, now_ms)
        else:
            src = self.minute_rows(t0 // MINUTE_MS, t1 // MINUTE_MS, now_ms)
        if not len(src):
            return src
        return aggregate(src, tf.floor_array(src[:, TS]))

    def bounds(self, tf: Timeframe, now_ms: int) -> tuple[int, int] | None:
        """Start of the first and of the last bar that can exist (None when the market never traded)."""
        end = self.end_minute(now_ms)
        if end <= self.first_minute:
            return None
        return tf.floor(self.first_minute * MINUTE_MS), tf.floor((end - 1) * MINUTE_MS)

    def select(self, tf: Timeframe, now_ms: int, lo: Bound, hi: Bound, limit: int, anchor: str) -> np.ndarray:
        """Existing bars with ``lo <= start <= hi``; the first ``limit`` of them when ``anchor == "start"``,
        the last ``limit`` otherwise.  Ascending."""
        empty = np.zeros((0, NCOL), dtype=np.int64)
        b = self.bounds(tf, now_ms)
        if b is None or limit <= 0:
            return empty
        first, last = b
        lo_b = first if lo is None else max(first, tf.ceil(lo))
        hi_b = last if hi is None else min(last, tf.floor(hi))
        if lo_b > hi_b:
            return empty
        stop = tf.add(hi_b, 1)
        parts: list[np.ndarray] = []
        count, step = 0, limit
        if anchor == "start":
            cur = lo_b
            while True:
                nxt = min(tf.add(cur, step), stop)
                rows = self.bars(tf, cur, nxt, now_ms)
                parts.append(rows)
                count += len(rows)
                if count >= limit or nxt >= stop:
                    break
                cur, step = nxt, step * 2
            out = np.concatenate(parts)
            return out[:limit]
        cur_end = stop
        while True:
            start = max(tf.add(cur_end, -step), lo_b)
            rows = self.bars(tf, start, cur_end, now_ms)
            parts.append(rows)
            count += len(rows)
            if count >= limit or start <= lo_b:
                break
            cur_end, step = start, step * 2
        out = np.concatenate(parts[::-1])
        return out[-limit:]


def aggregate(rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Group consecutive rows sharing a key (rows sorted by time): open of first, max high, min low, close of
    last, sums of the volume columns; TS becomes the key."""
    n = len(rows)
    if n == 0:
        return rows
    cut = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate(([0], cut))
    lasts = np.concatenate((cut - 1, [n - 1]))
    out = np.empty((len(starts), NCOL), dtype=np.int64)
    out[:, TS] = keys[starts]
    out[:, OPEN] = rows[starts, OPEN]
    out[:, CLOSE] = rows[lasts, CLOSE]
    out[:, HIGH] = np.maximum.reduceat(rows[:, HIGH], starts)
    out[:, LOW] = np.minimum.reduceat(rows[:, LOW], starts)
    out[:, SUM_COLS] = np.add.reduceat(rows[:, SUM_COLS], starts, axis=0)
    return out


def _exact_int(value: Decimal) -> int:
    if value != value.to_integral_value():
        raise ValueError(f"{value} is not a whole number of units")
    return int(value)


# -- decimal formatting ------------------------------------------------------------------------------


def decimals_of(step: Decimal) -> int:
    exp = step.normalize().as_tuple().exponent
    return max(0, -int(exp))


def fmt_units(units: int, decimals: int, strip: bool = False) -> str:
    """Format an integer count of 10**-decimals units."""
    if decimals <= 0:
        return str(units)
    neg = units < 0
    q, r = divmod(abs(units), 10**decimals)
    frac = str(r).rjust(decimals, "0")
    if strip:
        frac = frac.rstrip("0")
        text = f"{q}.{frac}" if frac else str(q)
    else:
        text = f"{q}.{frac}"
    return "-" + text if neg else text


class Scale:
    """Converts a column of integer units into decimal strings with a given number of decimals."""

    def __init__(self, unit: Decimal, decimals: int):
        # value = units * unit; shown with ``decimals`` decimals (unit must be representable)
        self.decimals = decimals
        mult = unit * (Decimal(10) ** decimals)
        if mult == mult.to_integral_value():
            self.mult, self.div = int(mult), 1
        else:
            inv = Decimal(1) / mult
            if inv != inv.to_integral_value():
                raise ValueError(f"cannot show units of {unit} with {decimals} decimals")
            self.mult, self.div = 1, int(inv)

    def __call__(self, units: int, strip: bool = False) -> str:
        units = int(units)
        if self.div == 1:
            return fmt_units(units * self.mult, self.decimals, strip)
        return fmt_units(units // self.div, self.decimals, strip)
