"""Recorders: thin classes that fetch and map, registered with zvt for provider "ccxt".

Importing this package registers every recorder on its schemas.
"""

from zvt_ccxt.recorders.entity import CcxtEntityRecorder
from zvt_ccxt.recorders.funding import CcxtFundingRecorder
from zvt_ccxt.recorders.kdata import CcxtKdataRecorder
from zvt_ccxt.recorders.open_interest import CcxtOpenInterestRecorder
from zvt_ccxt.recorders.orderbook import CcxtOrderbookRecorder
from zvt_ccxt.recorders.trades import CcxtTradeRecorder

__all__ = [
    "CcxtEntityRecorder",
    "CcxtKdataRecorder",
    "CcxtTradeRecorder",
    "CcxtFundingRecorder",
    "CcxtOrderbookRecorder",
    "CcxtOpenInterestRecorder",
]
