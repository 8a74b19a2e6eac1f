"""Candle rows: normalise what an exchange sent, refuse what is wrong, and aggregate finer bars into coarser.

A row is kept only if its timestamp is an aligned bar start of the level, its prices are finite and
positive with ``low <= min(open, close) <= max(open, close) <= high``, its volume is finite and
non-negative, and nothing is absurd: no price above ``MAX_PRICE``, no volume or turnover above
``MAX_AMOUNT`` (an overflow included). Duplicates keep the last occurrence; the result is strictly
increasing in time.

``turnover`` is the quote-currency volume the exchange reports; where it reports none it is estimated
(``turnover_estimated`` is True): ``volume * contract_size`` for inverse swaps (their volume is counted in
contracts worth ``contract_size`` quote units each), otherwise ``volume * (high + low + close) / 3``.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeGuard

import numpy as np

from zvt_ccxt import levels

logger = logging.getLogger(__name__)

_COLUMNS = ("open", "high", "low", "close", "volume", "turnover")


@dataclass
class Candles:
    """Column arrays of validated bars, sorted by ``ts`` (ms, bar open time, UTC)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    turnover: np.ndarray
    turnover_estimated: np.ndarray
    rejected: list[tuple[object, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.ts.size)

    @classmethod
    def of(
        cls,
        ts: np.ndarray,
        columns: Callable[[str], np.ndarray],
        estimated: np.ndarray,
        rejected: list[tuple[object, str]] | None = None,
    ) -> Candles:
        """Bars from ``ts``, each value column (``_COLUMNS``) as ``columns(name)``, and the estimate flags."""
        return cls(
            ts,
            open=columns("open"),
            high=columns("high"),
            low=columns("low"),
            close=columns("close"),
            volume=columns("volume"),
            turnover=columns("turnover"),
            turnover_estimated=estimated,
            rejected=rejected or [],
        )

    @classmethod
    def empty(cls) -> Candles:
        return cls.of(np.empty(0, dtype="int64"), lambda _: np.empty(0, dtype="float64"), np.empty(0, dtype=bool))

    def slice(self, mask: np.ndarray) -> Candles:
        return Candles.of(
            self.ts[mask], lambda name: getattr(self, name)[mask], self.turnover_estimated[mask], self.rejected
        )


#: Values past these are refused as absurd: no market has come within ten thousand times of them (bitcoin
#: in Iranian rial is about 1e11; a month of PEPE on one exchange about 1e14 tokens, 1e12 USDT at most).
MAX_PRICE = 1e15
MAX_AMOUNT = 1e20


def _reject_reason(row: object, level: str) -> str | None:
    if not isinstance(row, list | tuple) or len(row) < 6:
        return "not a six-field OHLCV row"
    ts = row[0]
    if not _finite(ts) or ts < 0:
        return "timestamp is not a non-negative number"
    if int(ts) != ts or not levels.is_aligned(int(ts), level):
        return f"timestamp {ts} is not a {level} bar start"
    values = []
    for value in row[1:6]:
        if not _finite(value):
            return f"non-numeric or non-finite value {value!r}"[:200]
        values.append(float(value))
    open_, high, low, close, volume = values
    if min(open_, high, low, close) <= 0:
        return "non-positive price"
    if high < max(open_, close) or low > min(open_, close) or low > high:
        return "high/low do not bound open/close"
    if volume < 0:
        return "negative volume"
    if high > MAX_PRICE or volume > MAX_AMOUNT:
        return f"absurd value: a price above {MAX_PRICE:g} or a volume above {MAX_AMOUNT:g}"
    return None


def _absurd_turnover(row: list, inverse: bool, contract_size: float | None) -> str | None:
    """The turnover a valid row will get (reported, else estimated as in ``_with_turnover``) past ``MAX_AMOUNT``."""
    if len(row) > 6 and _finite_non_negative(row[6]):
        turnover = float(row[6])
    elif inverse and contract_size:
        turnover = float(row[5]) * float(contract_size)
    else:
        turnover = float(row[5]) * (float(row[2]) + float(row[3]) + float(row[4])) / 3.0
    return None if turnover <= MAX_AMOUNT else f"absurd value: a turnover above {MAX_AMOUNT:g}"


def normalise(
    rows: list, level: str, *, inverse: bool = False, contract_size: float | None = None, context: str = ""
) -> Candles:
    """Validate raw ccxt rows (``[ts, o, h, l, c, v, quote_volume?]``) of ``level`` into ``Candles``."""
    fast = _normalise_clean(rows, level)
    if fast is not None:
        result = _with_turnover(*fast, inverse=inverse, contract_size=contract_size)
        if (result.turnover <= MAX_AMOUNT).all():  # else the row-by-row path names the absurd rows
            return result
    kept: dict[int, list] = {}
    rejected: list[tuple[object, str]] = []
    for row in rows:
        reason = _reject_reason(row, level) or _absurd_turnover(row, inverse, contract_size)
        if reason:
            rejected.append((row, reason))
            continue
        kept[int(row[0])] = row  # a later duplicate replaces an earlier one
    if rejected:
        logger.warning("%s: rejected %d of %d rows, first: %s", context, len(rejected), len(rows), rejected[0][1])
    if not kept:
        result = Candles.empty()
        result.rejected = rejected
        return result
    ordered = [kept[ts] for ts in sorted(kept)]
    ts = np.fromiter((r[0] for r in ordered), dtype="int64", count=len(ordered))
    matrix = np.array([r[1:6] for r in ordered], dtype="float64")
    reported = np.array(
        [float(r[6]) if len(r) > 6 and _finite_non_negative(r[6]) else np.nan for r in ordered], dtype="float64"
    )
    result = _with_turnover(ts, matrix, reported, inverse=inverse, contract_size=contract_size)
    result.rejected = rejected
    return result


#: what a cell of a row may hold for the column-wise check; None (no quote volume) only in the last column,
#: which holds because None becomes NaN and the first six columns must be finite
_CELL_TYPES = frozenset({int, float, type(None)})


def _normalise_clean(rows: list, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(ts, [o, h, l, c, v] matrix, quote volumes)`` when every row is valid and the rows strictly ascend,
    checked column-wise in numpy; None otherwise, and the row-by-row path decides (with its reasons)."""
    if not rows:
        return None
    try:
        if not set(map(type, itertools.chain.from_iterable(rows))) <= _CELL_TYPES:
            return None
        table = np.array(rows, dtype="float64")  # one conversion of the whole page; None becomes NaN
    except (TypeError, ValueError, OverflowError):  # a row that is no sequence, ragged rows, an integer past any float
        return None
    if table.shape != (len(rows), 7):
        return None
    values, reported = table[:, :6], np.ascontiguousarray(table[:, 6])
    if not np.isfinite(values).all():
        return None
    stamps = values[:, 0]
    if stamps.min() < 0 or stamps.max() >= 2**53 or not (np.floor(stamps) == stamps).all():
        return None
    ts = stamps.astype("int64")
    open_, high, low, close, volume = values[:, 1:].T
    valid = (
        (np.diff(ts) > 0).all()
        and (bar_keys(ts, level) == ts).all()
        and (np.minimum(np.minimum(open_, close), low) > 0).all()
        and (high >= np.maximum(open_, close)).all()
        and (low <= np.minimum(open_, close)).all()
        and (volume >= 0).all()
        and (high <= MAX_PRICE).all()
        and (volume <= MAX_AMOUNT).all()
    )
    if not valid:
        return None
    with np.errstate(invalid="ignore"):
        reported[~(np.isfinite(reported) & (reported >= 0))] = np.nan
    return ts, values[:, 1:], reported


def _with_turnover(
    ts: np.ndarray, matrix: np.ndarray, reported: np.ndarray, *, inverse: bool, contract_size: float | None
) -> Candles:
    open_, high, low, close, volume = (np.ascontiguousarray(column) for column in matrix.T)
    estimated = np.isnan(reported)
    if estimated.any():
        with np.errstate(over="ignore", invalid="ignore"):  # absurd results are refused before they are stored
            if inverse and contract_size:
                estimate = volume * float(contract_size)
            else:
                estimate = volume * (high + low + close) / 3.0
        reported = np.where(estimated, estimate, reported)
    return Candles(ts, open_, high, low, close, volume, reported, estimated)


def _finite(value: object) -> TypeGuard[int | float]:
    """A real number a float holds (an integer past 1e308 does not fit one)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _finite_non_negative(value: object) -> bool:
    return _finite(value) and value >= 0


def concat(parts: list[Candles]) -> Candles:
    """Join consecutive, non-overlapping batches."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return Candles.empty()
    return Candles.of(
        np.concatenate([p.ts for p in parts]),
        lambda name: np.concatenate([getattr(p, name) for p in parts]),
        np.concatenate([p.turnover_estimated for p in parts]),
    )


def bar_keys(ts: np.ndarray, level: str) -> np.ndarray:
    """Bar start of ``level`` for every timestamp, vectorised."""
    if level == "1mon":
        months = ts.astype("datetime64[ms]").astype("datetime64[M]")
        return months.astype("datetime64[ms]").astype("int64")
    if level == "1wk":
        monday = 4 * levels.DAY_MS
        return (ts - monday) // levels.WEEK_MS * levels.WEEK_MS + monday
    size = levels.nominal_ms(level)
    return ts // size * size


def aggregate(candles: Candles, target_level: str) -> Candles:
    """OHLCV-aggregate finer ``candles`` into ``target_level`` bars (open first, close last, sums of volumes)."""
    if not len(candles):
        return Candles.empty()
    keys = bar_keys(candles.ts, target_level)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], keys.size] - 1
    return Candles(
        ts=keys[starts],
        open=candles.open[starts],
        high=np.maximum.reduceat(candles.high, starts),
        low=np.minimum.reduceat(candles.low, starts),
        close=candles.close[ends],
        volume=np.add.reduceat(candles.volume, starts),
        turnover=np.add.reduceat(candles.turnover, starts),
        turnover_estimated=np.logical_or.reduceat(candles.turnover_estimated, starts),
    )


def change_pct(close: np.ndarray, previous_close: float | None) -> np.ndarray:
    """Close-to-close change of each bar; the first uses ``previous_close`` (NaN when unknown)."""
    previous = np.r_[np.nan if previous_close is None else previous_close, close[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        return close / previous - 1.0
