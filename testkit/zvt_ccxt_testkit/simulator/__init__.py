"""A local HTTP exchange simulator speaking the real public REST formats of binance, okx, bybit and coinbase.

Point a ccxt client at it with :func:`repoint`; requests arrive as ``/_host/<real host>/<real path>`` and are
answered from a deterministic synthetic trade stream (see :mod:`.pricing`).  :func:`real_url` maps a simulator
URL back to the exchange's.

Endpoints (GET):

* binance  ``api.binance.com/api/v3/{exchangeInfo,klines,uiKlines,time,ping}``,
  ``fapi.binance.com/fapi/v1/{exchangeInfo,klines,time,ping}``, ``dapi.binance.com/dapi/v1/{...same}``,
  ``eapi.binance.com/eapi/v1/{exchangeInfo,time,ping}`` (no option contracts).  Klines: default 500,
  at most 1000 (spot) / 1500 (fapi, dapi) rows.
* okx      ``www.okx.com/api/v5/public/{instruments,time}``, ``/api/v5/market/{candles,history-candles}``.
  Candles: default 100, at most 300 rows; ``candles`` only serves the latest 1440 bars.
* bybit    ``api.bybit.com/v5/market/{instruments-info,kline,time}``.  Kline: default 200, at most 1000 rows.
* coinbase ``api.coinbase.com/v2/{currencies,currencies/crypto,exchange-rates,time}``,
  ``/api/v3/brokerage/time``, ``/api/v3/brokerage/market/products[/{id}[/candles]]``.  Candles: a
  start..end range spanning more than 350 buckets is rejected.

Trades, order books, funding and open interest (``venues/*_data.py``): binance ``aggTrades``,
``trades``, ``historicalTrades``, ``depth``, ``fundingRate`` and ``/futures/data/openInterestHist``; okx
``market/trades``, ``market/history-trades``, ``market/books``, ``public/funding-rate-history``,
``rubik/stat/contracts/open-interest-history`` (per instrument) and ``rubik/stat/contracts/open-interest-volume``
(per currency); bybit ``market/recent-trade`` (no history),
``market/orderbook``, ``market/funding/history``, ``market/open-interest``; coinbase
``market/products/{id}/ticker`` and ``market/product_book``. Trades aggregate exactly to the candles
(:mod:`.tape`); funding switches from 8h to 4h or 1h on some perpetuals (:mod:`.derivatives`).
"""

from .server import HOST_PREFIX, UNIFIED_TIMEFRAMES, ExchangeSimulator, real_url, repoint, sim_url
from .universe import SIMULATED_EXCHANGES, SimMarket

__all__ = [
    "HOST_PREFIX",
    "SIMULATED_EXCHANGES",
    "UNIFIED_TIMEFRAMES",
    "ExchangeSimulator",
    "SimMarket",
    "real_url",
    "repoint",
    "sim_url",
]
