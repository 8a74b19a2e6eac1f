"""A lean decoder of kline pages: the rows ccxt's ``parse_ohlcvs`` yields, without its per-value helpers.

ccxt turns each raw kline row into ``[time, open, high, low, close, volume]`` through generic safe accessors
(``safe_integer``, ``safe_number``: a string check, a ``str``, a ``float``, a try per value), most of a backfill's
CPU. An exchange whose rows have a simple, known shape describes it with a ``KlineRows`` in its profile; for
such a page ``decode_page`` computes the same values with the same expressions (``int(float(t))`` or
``int(float(t) * 1000)`` for the time, ``float(text)`` for each number), plus the client's quote volume
column. Anything it does not recognise, a single row of another shape, a value of another type, an empty or
unparsable number, makes it return None, and the page goes to ccxt's own parser: it never guesses.
``tests/test_kline_decoders.py`` proves the rows equal ccxt's on the simulators' pages of every profiled
exchange and on captured pages.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

#: a position in a list row or a key of a dict row
Key = int | str


@dataclass(frozen=True)
class KlineRows:
    """Where an exchange's raw kline row holds what ccxt's ``parse_ohlcv`` reads."""

    #: the open time: an integer or numeric text, in ms (or in seconds with ``time_in_seconds``)
    time: Key = 0
    time_in_seconds: bool = False
    #: open, high, low, close: numeric text
    prices: tuple[Key, Key, Key, Key] = (1, 2, 3, 4)
    #: the volume ccxt reports; for inverse markets ``inverse_volume``, for markets other than spot
    #: ``contract_volume``, where ccxt reads another column for them
    volume: Key = 5
    inverse_volume: Key | None = None
    contract_volume: Key | None = None
    #: the row is a dict (keys) rather than a list (positions)
    dict_rows: bool = False

    def volume_key(self, market: Mapping[str, Any]) -> Key:
        if self.contract_volume is not None and market.get("type") != "spot":
            return self.contract_volume
        if self.inverse_volume is not None and market.get("inverse") is True:
            return self.inverse_volume
        return self.volume


class AscendingRows(list):
    """Decoded rows whose times are integers, positive and strictly ascending: sorting leaves them as they are,
    and a time range of them is a slice found by bisection."""


def since_limit(rows: AscendingRows, since: int, limit: int | None) -> AscendingRows:
    """What ccxt's ``filter_by_since_limit(sort_by(rows, 0), since, limit, 0)`` returns for such rows: the rows
    from ``since`` on, the first ``limit`` of them (ccxt reads a limit of 0 as none)."""
    if not rows:
        return AscendingRows()
    kept = rows[bisect_left(rows, since, key=_time) :] if since > rows[0][0] else rows
    return AscendingRows(kept[:limit] if limit else kept)


def time_range(rows: AscendingRows, since: int, until: int) -> AscendingRows:
    """The rows of ``[since, until)``."""
    return AscendingRows(rows[bisect_left(rows, since, key=_time) : bisect_left(rows, until, key=_time)])


_time = itemgetter(0)


def decode_page(
    raw: Any, layout: KlineRows, market: Mapping[str, Any] | None, quote_index: int | None
) -> list[list] | None:
    """``[time, open, high, low, close, volume, quote volume | None]`` for each raw row, as ccxt's parser and
    the client's quote column make them; None when the page is not exactly of ``layout``'s shape."""
    if type(raw) is not list or not isinstance(market, Mapping) or not isinstance(market.get("type"), str):
        return None
    row_type = dict if layout.dict_rows else list
    time_key = layout.time
    o, h, low, c = layout.prices
    v = layout.volume_key(market)
    scale = 1000 if layout.time_in_seconds else 1
    # the client's quote volume column: list rows of non-inverse markets that reach it
    quote = None if layout.dict_rows or market.get("inverse") else quote_index
    width = 0 if layout.dict_rows else 1 + max(k for k in (time_key, o, h, low, c, v) if isinstance(k, int))
    if not layout.dict_rows and scale == 1:
        return _decode_list_rows(raw, itemgetter(time_key, o, h, low, c, v), width, quote)
    rows: list[list] = []
    append = rows.append
    try:
        for item in raw:
            if type(item) is not row_type or (width and len(item) < width):
                return None
            row: Any = item  # a list or a dict, indexed by the layout's positions or keys
            stamp = row[time_key]
            kind = type(stamp)
            if kind is str:
                if not stamp:
                    return None
            elif kind is not int:
                return None
            values = (row[o], row[h], row[low], row[c], row[v])
            for value in values:
                if type(value) is not str or not value:
                    return None
            # the same expressions as ccxt's safe_integer / safe_timestamp and safe_number (float numbers)
            ts = int(float(stamp) * scale) if scale != 1 else int(float(stamp))
            first, high, lowest, last, volume = values
            decoded: list[Any] = [ts, float(first), float(high), float(lowest), float(last), float(volume)]
            if quote is not None and len(row) > quote:
                try:
                    decoded.append(float(row[quote]))
                except (TypeError, ValueError):
                    decoded.append(None)
            else:
                decoded.append(None)
            append(decoded)
    except (KeyError, IndexError, TypeError, ValueError, OverflowError):
        return None
    return rows


def _decode_list_rows(
    raw: list, columns: itemgetter, width: int, quote: int | None
) -> AscendingRows | list[list] | None:
    """``decode_page`` for list rows with millisecond times, the common case, in as few steps a row as it takes
    (the same checks and the same expressions): every backfilled bar passes here."""
    rows: list[list] = []
    append = rows.append
    previous = 0
    ascending = True
    # an empty text fails float() with ValueError, like any text that is no number: refused below
    try:
        for item in raw:
            if type(item) is not list or len(item) < width:
                return None
            stamp, first, high, lowest, last, volume = columns(item)
            kind = type(stamp)
            if kind is not int and (kind is not str or not stamp):
                return None
            if not (str is type(first) is type(high) is type(lowest) is type(last) is type(volume)):
                return None
            ts = int(float(stamp))
            if ts <= previous:
                ascending = False
            previous = ts
            if quote is not None and len(item) > quote:
                try:
                    reported: float | None = float(item[quote])
                except (TypeError, ValueError):
                    reported = None
            else:
                reported = None
            append([ts, float(first), float(high), float(lowest), float(last), float(volume), reported])
    except (IndexError, TypeError, ValueError, OverflowError):
        return None
    return AscendingRows(rows) if ascending else rows
