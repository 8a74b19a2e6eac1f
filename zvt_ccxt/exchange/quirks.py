"""The few places where an exchange needs more than ccxt's unified API, each in one small table.

Keep additions here; nothing else in the package branches on an exchange id.
"""

from __future__ import annotations

#: ``options["fetchMarkets"]`` so ``load_markets`` asks only for spot and perpetual markets
#: (ccxt's defaults also fetch options and dated futures: 5 to 11 requests instead of 2 or 3).
MARKET_TYPES: dict[str, dict] = {
    "binance": {"types": ["spot", "linear", "inverse"]},
    "okx": {"types": ["spot", "swap"]},
    "bybit": {"types": ["spot", "linear", "inverse"]},
}

#: Where the raw OHLCV row holds the quote-currency volume, which ccxt's unified row drops.
#: binance coin-margined (inverse) rows hold the base volume there instead, so inverse is excluded.
QUOTE_VOLUME_INDEX: dict[str, int] = {"binance": 7, "okx": 7, "bybit": 6}


def quote_volume(exchange_id: str, raw_row: object, inverse: bool) -> float | None:
    """The quote volume from an exchange's raw OHLCV row, or None where it does not report it."""
    index = QUOTE_VOLUME_INDEX.get(exchange_id)
    if index is None or inverse or not isinstance(raw_row, list | tuple) or len(raw_row) <= index:
        return None
    try:
        value = float(raw_row[index])
    except (TypeError, ValueError):
        return None
    return value
