"""What zvt-ccxt knows about each exchange beyond ccxt's unified API: one profile per exchange.

``ExchangeProfile`` holds every such fact with the value that suits any ccxt exchange; ``PROFILES`` has one
instance per exchange zvt-ccxt has studied, setting only what differs. Callers read
``profile_for(exchange_id).<fact>``: nothing else in the package branches on an exchange id, so supporting
an exchange is one entry here (``tests/test_profiles.py`` checks both).

Facts kept per ccxt market type (or per open interest period) are mappings with an optional ``"default"``
entry for the other types, read with ``by_market_type``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from zvt_ccxt.exchange.kline_decoders import KlineRows
from zvt_ccxt.levels import HOUR_MS

T = TypeVar("T")


@dataclass(frozen=True)
class ExchangeProfile:
    # -- the REST client --------------------------------------------------------------------------------

    #: ccxt market types ``load_markets`` asks for (``options["fetchMarkets"]["types"]``): spot and perpetuals
    #: only. ccxt's defaults also fetch options and dated futures: 5 to 11 requests instead of 2 or 3.
    market_types: tuple[str, ...] | None = None
    #: Where the raw OHLCV row holds the quote-currency volume, which ccxt's unified row drops (read by the
    #: client's ``parse_ohlcv`` hook; inverse markets get none, binance's hold the base volume there).
    quote_volume_index: int | None = None
    #: The shape of the raw kline rows, when a page of them can be decoded without ccxt's per-value parser to
    #: exactly ccxt's rows (``kline_decoders``); None: ccxt parses every page.
    kline_rows: KlineRows | None = None
    #: The exchange's request limit counts fixed windows of the wall clock this many seconds long, reset as each
    #: one starts (``exchange.limiter``): a window's allowance may then go out at once. None: the limit's kind is
    #: not known to be that, and requests are paced evenly.
    rate_limit_window: float | None = None
    #: The answer header carrying the exchange's own count of the request weight used in the current window, and
    #: the weight of one ccxt cost unit by the part of the URL that names the API (first match). The budget moves
    #: up to that count, so other programs on the same address are accounted for.
    used_weight_header: tuple[str, tuple[tuple[str, float], ...]] | None = None
    #: Error answers ccxt maps to a permanent error although the exchange documents them as "try again
    #: later", as substrings of the error text.
    transient_errors: tuple[str, ...] = ()
    #: Corrections to ccxt's ``has``: (data type, historical|recent|live) -> (offered, why).
    capability_facts: Mapping[tuple[str, str], tuple[bool, str]] = field(default_factory=dict)

    # -- live streams (ccxt.pro) ------------------------------------------------------------------------

    #: ccxt.pro options set unless the configuration sets them.
    stream_options: Mapping[str, Any] = field(default_factory=dict)
    #: permessage-deflate window bits the websocket handshake offers (ccxt.pro's ``options["ws"]["compress"]``;
    #: ccxt >= 4.5.90 offers 15). 0 offers none: inflating every frame costs more CPU than the bandwidth it
    #: saves is worth to a market-data stream (on loopback it halves ccxt.pro's frame rate); an exchange
    #: whose gateway refuses a handshake without the offer sets 15. ``ws.compress`` in the options wins.
    stream_compress: int = 0
    #: The lean decoder reading this exchange's trade and candle frames instead of ccxt.pro's parser, by name
    #: (``zvt_ccxt.stream.decoders``; proved to yield ccxt's rows on every captured and simulated frame, and
    #: leaving to ccxt what it does not recognise). None: ccxt parses every frame.
    stream_decoder: str | None = None
    #: Public trade ids are consecutive integers per market, so a skipped id is a lost trade.
    sequential_trade_ids: bool = False
    #: The order book check ccxt.pro does not make itself, by name (``zvt_ccxt.stream.books``).
    book_check: str | None = None
    #: Frames that are keep-alive answers rather than data (they must not count as the connection being
    #: alive with data): any text frame (okx's ``pong``), dicts holding one of these field values (bybit's
    #: ``ret_msg``/``op`` ``pong``), and dicts holding one of these keys.
    heartbeat_text_frames: bool = True
    heartbeat_fields: tuple[tuple[str, str], ...] = (("ret_msg", "pong"), ("op", "pong"))
    heartbeat_keys: tuple[str, ...] = ("pong",)

    # -- trade history (``zvt_ccxt.backfill.trade_pager``) -----------------------------------------------

    #: How public trade history is walked, by pager name: ``since`` forward with ccxt's ``since``.
    trade_paging: str = "since"
    #: Trades per request, by ccxt market type.
    trade_limits: Mapping[str, int] = field(default_factory=lambda: {"default": 1000})
    #: The longest ``since``/``until`` window a trades request accepts.
    trade_window_max_ms: int | None = None
    #: The request parameter carrying a trade id cursor.
    trade_cursor_param: str | None = None
    #: An implicit ccxt method asked instead of the one ``fetch_trades`` picks (``params["method"]``).
    trade_history_method: str | None = None
    #: Extra parameters telling the exchange what the cursor is: ``"timestamp"`` or ``"id"`` -> params.
    trade_cursor_kinds: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    # -- funding rate history (``zvt_ccxt.backfill.funding_pager``) --------------------------------------

    #: ``forward`` from ``since`` with ``until``, or ``backward`` from the end with ``funding_cursor_param``.
    funding_paging: str = "forward"
    #: The parameter carrying the backward cursor, and whether the exchange includes the event at it.
    funding_cursor_param: str | None = None
    funding_cursor_inclusive: bool = False
    #: Funding events per request.
    funding_limit: int = 100
    #: Funding row fields ccxt leaves in ``info``: column -> exchange field.
    funding_info_fields: Mapping[str, str] = field(default_factory=dict)

    # -- open interest history (``zvt_ccxt.backfill.open_interest_pager``) ---------------------------------

    #: How open interest history is paged, by pager name: ``windows`` of ``open_interest_limit`` periods.
    open_interest_paging: str = "windows"
    open_interest_limit: int = 100
    #: The periods served, where fewer than the recorder offers (empty: all of them).
    open_interest_periods: tuple[str, ...] = ()
    #: Days of history served, by period (none: unbounded).
    open_interest_days: Mapping[str, int] = field(default_factory=dict)
    #: The first day with statistics, by period (none: as far back as ``open_interest_days`` reaches).
    open_interest_first_day: Mapping[str, str] = field(default_factory=dict)
    #: Extra request parameters, by contract kind (``linear`` or ``inverse``).
    open_interest_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Extra request parameters, by period (ccxt sends what ``params`` names).
    open_interest_period_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    # -- order book snapshots (``zvt_ccxt.recorders.orderbook``) ------------------------------------------

    #: Depths a request may ask for, by ccxt market type (the smallest that holds the wanted depth is asked).
    orderbook_depths: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    #: The deepest book one request returns, by ccxt market type.
    orderbook_max: Mapping[str, int] = field(default_factory=dict)


#: Any ccxt exchange without a profile of its own.
DEFAULT_PROFILE = ExchangeProfile()

PROFILES: dict[str, ExchangeProfile] = {
    "binance": ExchangeProfile(
        kline_rows=KlineRows(inverse_volume=7),
        market_types=("spot", "linear", "inverse"),
        quote_volume_index=7,
        # REQUEST_WEIGHT per MINUTE: the weight used is counted per clock minute (``x-mbx-used-weight-1m``)
        rate_limit_window=60.0,
        # spot's count (ccxt's costs: weight 2 is 0.4, 6,000 weight = 1,200 units a minute). The futures APIs count
        # against limits of their own (2,400), which one budget per exchange cannot keep apart; ccxt's costs there
        # spend the budget at half that limit, so their allowance fits beside what others spent
        used_weight_header=("x-mbx-used-weight-1m", (("/api/", 5.0),)),
        capability_facts={("funding", "live"): (True, "the mark price stream carries the funding rate")},
        # streamed trades are aggregate trades: their ids are those of the REST ``aggTrades`` endpoint that
        # repairs gaps, so a repaired trade is stored once
        stream_options={"watchTradesForSymbols": {"name": "aggTrade"}, "watchTrades": {"name": "aggTrade"}},
        stream_decoder="binance_events",
        sequential_trade_ids=True,
        # aggregate trades: a time window holding more than the cap answers with its *last* trades, so the
        # first trade is found with a window small enough, then ``fromId`` walks forward
        trade_paging="agg_trades",
        trade_window_max_ms=HOUR_MS,
        trade_cursor_param="fromId",
        funding_limit=1000,
        funding_info_fields={"mark_price": "markPrice"},
        open_interest_limit=500,
        open_interest_days={"default": 30},
        # coin-margined statistics default to the quarterly contract
        open_interest_params={"inverse": {"contractType": "PERPETUAL"}},
        orderbook_depths={"swap": (5, 10, 20, 50, 100, 500, 1000)},
        orderbook_max={"spot": 5000, "default": 1000},
    ),
    "okx": ExchangeProfile(
        kline_rows=KlineRows(contract_volume=6),
        market_types=("spot", "swap"),
        quote_volume_index=7,
        capability_facts={
            ("open_interest", "historical"): (True, "the latest 1,440 periods of 5m, 1h or 1d (1d from 2024-01-01)"),
        },
        # ccxt.pro checks the ``seqId`` chain, not the crc32 checksum over the top 25 levels
        book_check="okx_checksum",
        stream_decoder="okx_v5",
        # ``trades`` may aggregate several fills under one id, so ids are not sequential; ``history-trades``
        # is walked back by trade id (``after``), starting from a timestamp cursor
        trade_paging="history_trades",
        trade_limits={"default": 100},
        trade_cursor_param="after",
        trade_history_method="publicGetMarketHistoryTrades",
        trade_cursor_kinds={"timestamp": {"type": 2}, "id": {"type": 1}},
        funding_paging="backward",
        funding_cursor_param="after",
        # per instrument, the latest 1,440 periods of each of three periods (ccxt turns the window bounds into
        # the exclusive ``begin``/``end`` okx expects); ``1D`` days open at 00:00 UTC+8, ``1Dutc`` ones at 00:00
        # UTC like every daily series here
        open_interest_periods=("5m", "1h", "1d"),
        open_interest_days={"5m": 5, "1h": 60, "1d": 1440},
        open_interest_first_day={"1d": "2024-01-01"},
        open_interest_period_params={"1d": {"period": "1Dutc"}},
        orderbook_max={"default": 400},
    ),
    "bybit": ExchangeProfile(
        kline_rows=KlineRows(inverse_volume=6),
        market_types=("spot", "linear", "inverse"),
        quote_volume_index=6,
        # 10016: internal error or service restarting, sent with HTTP 200
        transient_errors=('"retCode":10016',),
        capability_facts={
            ("trades", "historical"): (False, "serves only the most recent trades (spot 60, contracts 1000)"),
        },
        # the update id ``u`` of a delta grows by one; contracts' trade ids are UUIDs
        book_check="update_id",
        stream_decoder="bybit_v5",
        trade_paging="recent_only",
        trade_limits={"spot": 60, "default": 1000},
        funding_paging="backward",
        funding_cursor_param="endTime",
        funding_cursor_inclusive=True,
        funding_limit=200,
        open_interest_paging="cursor",
        open_interest_limit=200,
        orderbook_max={"spot": 200, "default": 500},
    ),
    "coinbase": ExchangeProfile(
        kline_rows=KlineRows(
            time="start", time_in_seconds=True, prices=("open", "high", "low", "close"), volume="volume", dict_rows=True
        ),
        sequential_trade_ids=True,
        # ``sequence_num`` counts every message of a connection
        book_check="connection_sequence",
        # ``[start, end]`` windows in seconds walked back: a window holding more than the cap answers with
        # its *newest* trades
        trade_paging="time_windows",
    ),
}


def profile_for(exchange_id: str | None) -> ExchangeProfile:
    """The profile of ``exchange_id``: its own, or the shared defaults for any other ccxt exchange."""
    return PROFILES.get(exchange_id or "", DEFAULT_PROFILE)


def by_market_type(table: Mapping[str, Any], market_type: str | None, fallback: Any = None) -> Any:
    """The entry of a per-market-type fact for ``market_type`` (spot when unknown), else its ``"default"``."""
    return table.get(market_type or "spot", table.get("default", fallback))


def needed(value: T | None, exchange_id: str, fact: str) -> T:
    """``value``, a fact the exchange's way of paging cannot do without; a profile lacking it is a clear error."""
    if value is None:
        raise ValueError(f"the {exchange_id} profile has no {fact}, which its paging needs")
    return value
