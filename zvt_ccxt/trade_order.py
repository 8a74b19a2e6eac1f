"""The one order of trades: by time, then by exchange trade id, numerically where the ids are numbers.

Streams, history pagers, repairs and candles rebuilt from stored trades all sort with it, so a bar's open and
close are the same trades whichever path built it ("999" comes before "1000", as the exchange counts).
"""

from __future__ import annotations

from collections.abc import Mapping


def trade_order(timestamp_ms: int | float | None, trade_id: object) -> tuple[int, int, str]:
    """Sort key of one trade. Digit-only ids compare by length first, which is numeric order without parsing
    (exchange ids carry no leading zeros); other ids sort as text, before numeric ones at the same instant."""
    text = "" if trade_id is None else str(trade_id)
    return (int(timestamp_ms or 0), len(text) if text.isdigit() else 0, text)


def trade_key(trade: Mapping) -> tuple[int, int, str]:
    """``trade_order`` of a ccxt structure (``timestamp``, ``id``)."""
    return trade_order(trade.get("timestamp"), trade.get("id"))
