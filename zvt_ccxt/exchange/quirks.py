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

#: Where the raw OHLCV row holds the quote-currency volume, which ccxt's unified row drops (read by the
#: client's ``parse_ohlcv`` hook). binance coin-margined (inverse) rows hold the base volume there instead,
#: so inverse markets get none.
QUOTE_VOLUME_INDEX: dict[str, int] = {"binance": 7, "okx": 7, "bybit": 6}

#: Error answers ccxt maps to a permanent error although the exchange documents them as "try again later",
#: as substrings of the error text (bybit 10016: internal error or service restarting, sent with HTTP 200).
TRANSIENT_ERRORS: dict[str, tuple[str, ...]] = {"bybit": ('"retCode":10016',)}


# -- live streams (ccxt.pro) ---------------------------------------------------------------------------

#: ccxt.pro options per exchange. binance streams aggregate trades: their ids are the ids of the REST
#: ``aggTrades`` endpoint that repairs gaps, so a repaired trade is stored once.
STREAM_OPTIONS: dict[str, dict] = {
    "binance": {"watchTradesForSymbols": {"name": "aggTrade"}, "watchTrades": {"name": "aggTrade"}},
}

#: Exchanges whose public trade ids are consecutive integers per market: a skipped id is a lost trade.
#: (bybit contracts send UUIDs; okx's ``trades`` channel may aggregate several fills under one id.)
SEQUENTIAL_TRADE_IDS: frozenset[str] = frozenset({"binance", "coinbase"})

#: Order book checks ccxt.pro 4.5 does not make itself: okx's crc32 checksum, bybit's update id ``u``
#: growing by one, and coinbase's ``sequence_num`` counting every message of a connection.
BOOK_CHECKS: dict[str, str] = {"okx": "okx_checksum", "bybit": "update_id", "coinbase": "connection_sequence"}


# -- market data history: trades, funding, open interest, order books ----------------------------------

#: How public trade history is paged (``zvt_ccxt.backfill.trade_pager``). binance: aggregate trades, found
#: by time window (a window holding more than the cap answers with its *last* trades) then walked by
#: ``fromId``; okx: ``history-trades`` walked back by trade id; coinbase: windows in seconds walked back (a
#: window holding more than the cap answers with its *newest* trades); bybit serves only the latest trades.
TRADE_PAGING: dict[str, str] = {
    "binance": "agg_trades",
    "okx": "history_trades",
    "coinbase": "time_windows",
    "bybit": "recent_only",
}
#: Trades per request, by exchange and ccxt market type ("default" for the others).
TRADE_LIMITS: dict[str, dict[str, int]] = {
    "binance": {"default": 1000},
    "okx": {"default": 100},
    "coinbase": {"default": 1000},
    "bybit": {"spot": 60, "default": 1000},
}

#: How funding rate history is paged: forward from ``since``, or back from a cursor sent as ``after``
#: (okx, exclusive) or ``endTime`` (bybit, inclusive); and the rows per request.
FUNDING_PAGING: dict[str, str] = {"binance": "forward", "okx": "after", "bybit": "end_time"}
FUNDING_LIMITS: dict[str, int] = {"binance": 1000, "okx": 100, "bybit": 200}
#: Funding row fields ccxt leaves in ``info``: column -> exchange field.
FUNDING_INFO_FIELDS: dict[str, dict[str, str]] = {"binance": {"mark_price": "markPrice"}}

#: How open interest history is paged: explicit windows of ``limit`` periods (binance; okx, whose bounds
#: ccxt turns into the exclusive ``begin``/``end`` okx expects), or bybit's ``cursor``.
OPEN_INTEREST_PAGING: dict[str, str] = {"binance": "windows", "okx": "windows", "bybit": "cursor"}
OPEN_INTEREST_LIMITS: dict[str, int] = {"binance": 500, "okx": 100, "bybit": 200}
#: The periods an exchange serves, where it serves fewer than the recorder offers.
OPEN_INTEREST_PERIODS: dict[str, tuple[str, ...]] = {"okx": ("5m", "1h", "1d")}
#: Days of open interest history served, by exchange and period ("default" for the others): okx keeps the
#: latest 1,440 periods of each.
OPEN_INTEREST_DAYS: dict[str, dict[str, int]] = {
    "binance": {"default": 30},
    "okx": {"5m": 5, "1h": 60, "1d": 1440},
}
#: The first day an exchange has statistics for, by exchange and period (okx's daily ones begin in 2024).
OPEN_INTEREST_FIRST_DAY: dict[str, dict[str, str]] = {"okx": {"1d": "2024-01-01"}}
#: Extra request parameters by market kind (binance's coin-margined statistics default to the quarterly
#: contract) and by period (okx's ``1D`` opens at 00:00 UTC+8, its ``1Dutc`` at 00:00 UTC like every daily
#: series here; ccxt sends what ``params`` names).
OPEN_INTEREST_PARAMS: dict[str, dict[str, dict]] = {"binance": {"inverse": {"contractType": "PERPETUAL"}}}
OPEN_INTEREST_PERIOD_PARAMS: dict[str, dict[str, dict]] = {"okx": {"1d": {"period": "1Dutc"}}}

#: Order book depths an exchange accepts (a request asks for the smallest one that holds the wanted depth).
ORDERBOOK_DEPTHS: dict[str, dict[str, tuple[int, ...]]] = {"binance": {"swap": (5, 10, 20, 50, 100, 500, 1000)}}
#: The deepest order book one request returns, by ccxt market type.
ORDERBOOK_MAX: dict[str, dict[str, int]] = {
    "binance": {"spot": 5000, "default": 1000},
    "okx": {"default": 400},
    "bybit": {"spot": 200, "default": 500},
}

#: Facts ccxt's ``has`` gets wrong or leaves out: (exchange, data type, historical|recent|live) -> (offered, why).
CAPABILITY_FACTS: dict[tuple[str, str, str], tuple[bool, str]] = {
    ("bybit", "trades", "historical"): (False, "serves only the most recent trades (spot 60, contracts 1000)"),
    ("binance", "funding", "live"): (True, "the mark price stream carries the funding rate"),
    ("okx", "open_interest", "historical"): (True, "the latest 1,440 periods of 5m, 1h or 1d (1d from 2024-01-01)"),
}


def by_market_type(table: dict[str, dict], exchange_id: str, market_type: str | None, fallback=None):
    """A per-exchange, per-market-type entry of ``table`` ("default" when the type has none)."""
    entry = table.get(exchange_id) or {}
    return entry.get(market_type or "spot", entry.get("default", fallback))
