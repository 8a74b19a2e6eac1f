"""Public trades whose aggregation is exactly the simulated candles.

Every complete minute of a market is split into a deterministic run of trades: the first trade prints the
minute's open, the last its close, one the high and one the low, the rest lie in between; their amounts
(whole lots of the market's native unit: base amount, or contracts) add up to the minute's volume. So any
candle built from these trades equals the exchange's own candle. The forming minute has no trades yet: a
trade tape is published minute by minute.

Trade ids grow with time and never depend on "now": ``ID_OFFSET + minute_index * ID_STRIDE + position``, where
``minute_index`` counts minutes since the market's first one. Ids are therefore unique and increasing, with
holes between minutes (like an id space shared with other instruments).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pricing import CLOSE, CONTRACTS, HIGH, LOW, OPEN, TB_CONTRACTS, TRADES, TS, Series, _mix, _unit
from .timeframes import MINUTE_MS

ID_OFFSET = 100_000_000
#: ids reserved per minute (more than the most trades a minute ever gets)
ID_STRIDE = 1000
MAX_PER_MINUTE = ID_STRIDE - 1
_SALT = np.uint64(0x5DEECE66D)
_CHUNK_MINUTES = 240


@dataclass(frozen=True)
class Tape:
    """Trades as column arrays, ascending by id (and so by time)."""

    ts: np.ndarray  # ms
    id: np.ndarray
    price: np.ndarray  # in ticks
    lots: np.ndarray  # in lots of the native unit
    buy: np.ndarray  # taker side is buy

    def __len__(self) -> int:
        return int(self.id.size)

    def take(self, index) -> Tape:
        return Tape(self.ts[index], self.id[index], self.price[index], self.lots[index], self.buy[index])

    @staticmethod
    def empty() -> Tape:
        ints = np.zeros(0, dtype=np.int64)
        return Tape(ints, ints.copy(), ints.copy(), ints.copy(), np.zeros(0, dtype=bool))

    @staticmethod
    def concat(parts: list[Tape]) -> Tape:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Tape.empty()
        if len(parts) == 1:
            return parts[0]
        return Tape(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in ("ts", "id", "price", "lots", "buy"))
        )


def _split(rows: np.ndarray, first_minute: int, seed: np.uint64) -> Tape:
    """The trades of the minute rows ``rows`` (complete minutes with trading)."""
    if not len(rows):
        return Tape.empty()
    lots = rows[:, CONTRACTS]
    count = np.minimum(np.maximum(rows[:, TRADES] // 6, 4), np.minimum(lots, MAX_PER_MINUTE))
    count = np.maximum(count, 1)
    total = int(count.sum())
    starts = np.concatenate(([0], np.cumsum(count)[:-1]))
    owner = np.repeat(np.arange(len(rows)), count)
    position = np.arange(total) - starts[owner]
    n = count[owner]
    minute = rows[:, TS] // MINUTE_MS

    h = _mix((minute[owner].astype(np.uint64) * np.uint64(ID_STRIDE) + position.astype(np.uint64)) ^ seed ^ _SALT)
    h2 = _mix(h ^ _SALT)
    low, high = rows[owner, LOW], rows[owner, HIGH]
    price = low + np.minimum((_unit(h, 0) * (high - low + 1)).astype(np.int64), high - low)

    # per minute: which middle trades print the high and the low (two different slots when there are any)
    hm = _mix(minute.astype(np.uint64) ^ seed)
    middle = np.maximum(count - 2, 1)
    high_slot = 1 + (hm % middle.astype(np.uint64)).astype(np.int64)
    other = np.maximum(count - 3, 1).astype(np.uint64)
    low_slot = 1 + (high_slot - 1 + 1 + ((hm >> np.uint64(24)) % other).astype(np.int64)) % middle
    price = np.where(position == high_slot[owner], high, price)
    price = np.where((position == low_slot[owner]) & (count[owner] >= 4), low, price)
    price = np.where(position == 0, rows[owner, OPEN], price)
    price = np.where(position == n - 1, rows[owner, CLOSE], price)

    # amounts: at least one lot each, the rest shared by weight; the remainder goes to the minute's last trade
    weight = 1.0 + 3.0 * _unit(h2, 0)
    weight_sum = np.add.reduceat(weight, starts)
    spare = (lots - count).astype(np.float64)
    amount = 1 + np.floor(spare[owner] * weight / weight_sum[owner]).astype(np.int64)
    short = lots - np.add.reduceat(amount, starts)
    last = starts + count - 1
    amount[last] += short

    ts = minute[owner] * MINUTE_MS + (MINUTE_MS * (position + 0.999 * _unit(h2, 16)) / n).astype(np.int64)
    ids = ID_OFFSET + (minute[owner] - first_minute) * ID_STRIDE + position
    taker_share = rows[owner, TB_CONTRACTS] / np.maximum(lots[owner], 1)
    buy = _unit(h2, 32) < taker_share
    return Tape(ts.astype(np.int64), ids.astype(np.int64), price.astype(np.int64), amount, buy)


def minute_of_id(series: Series, trade_id: int) -> int:
    return series.first_minute + max(0, int(trade_id) - ID_OFFSET) // ID_STRIDE


def trades(series: Series, m0: int, m1: int, now_ms: int) -> Tape:
    """Every trade of the complete minutes in ``[m0, m1)``."""
    hi = min(m1, now_ms // MINUTE_MS)
    if hi <= m0:
        return Tape.empty()
    return _split(series.minute_rows(m0, hi, now_ms), series.first_minute, series.seed)


def between(series: Series, t0: int, t1: int, now_ms: int) -> Tape:
    """Trades with ``t0 <= ts < t1``."""
    if t1 <= t0:
        return Tape.empty()
    tape = trades(series, t0 // MINUTE_MS, -(-t1 // MINUTE_MS), now_ms)
    return tape.take((tape.ts >= t0) & (tape.ts < t1))


def forward(series: Series, now_ms: int, limit: int, *, from_id: int | None = None, from_ts: int | None = None) -> Tape:
    """The first ``limit`` trades with ``id >= from_id`` (or ``ts >= from_ts``), oldest first."""
    end_minute = now_ms // MINUTE_MS
    if from_id is not None:
        minute = max(series.first_minute, minute_of_id(series, from_id))
    else:
        minute = max(series.first_minute, int(from_ts or 0) // MINUTE_MS)
    parts, count, step = [], 0, _CHUNK_MINUTES
    while minute < end_minute and count < limit:
        tape = trades(series, minute, minute + step, now_ms)
        keep = tape.id >= from_id if from_id is not None else tape.ts >= (from_ts or 0)
        tape = tape.take(keep)
        parts.append(tape)
        count += len(tape)
        minute, step = minute + step, step * 2
    return Tape.concat(parts).take(slice(0, limit))


def backward(
    series: Series, now_ms: int, limit: int, *, before_id: int | None = None, before_ts: int | None = None
) -> Tape:
    """The last ``limit`` trades with ``id < before_id`` (or ``ts < before_ts``), oldest first."""
    if before_id is not None:
        minute = minute_of_id(series, before_id) + 1
    else:
        minute = -(-int(now_ms if before_ts is None else before_ts) // MINUTE_MS)
    minute = min(minute, now_ms // MINUTE_MS)
    parts, count, step = [], 0, _CHUNK_MINUTES
    while minute > series.first_minute and count < limit:
        lo = max(series.first_minute, minute - step)
        tape = trades(series, lo, minute, now_ms)
        if before_id is not None:
            tape = tape.take(tape.id < before_id)
        elif before_ts is not None:
            tape = tape.take(tape.ts < before_ts)
        parts.append(tape)
        count += len(tape)
        minute, step = lo, step * 2
    out = Tape.concat(parts[::-1])
    return out.take(slice(max(0, len(out) - limit), len(out)))
