"""Per-exchange request handlers."""

from .binance import Binance
from .bybit import Bybit
from .coinbase import Coinbase
from .common import Request, Response
from .okx import Okx

VENUES = (Binance, Okx, Bybit, Coinbase)

__all__ = ["VENUES", "Binance", "Bybit", "Coinbase", "Okx", "Request", "Response"]
