"""A local websocket exchange speaking the public stream protocols of binance, okx, bybit and coinbase.

:class:`WsExchangeServer` plays deterministic trade tapes (:mod:`.tape`) to ccxt.pro clients re-pointed at it
with :meth:`WsExchangeServer.repoint`, and injects the faults a live stream must survive: dropped frames,
stalls that keep the connection open, abrupt closes, bad checksums and sequence gaps, replayed frames.
"""

from zvt_ccxt_testkit.simulator.ws.base import BOOK, FUNDING, KLINE, TRADES
from zvt_ccxt_testkit.simulator.ws.okx import okx_checksum
from zvt_ccxt_testkit.simulator.ws.server import WsExchangeServer
from zvt_ccxt_testkit.simulator.ws.tape import Bar, SimTrade, Tape

__all__ = ["BOOK", "FUNDING", "KLINE", "TRADES", "Bar", "SimTrade", "Tape", "WsExchangeServer", "okx_checksum"]
