"""Recorders: thin classes that fetch and map, registered with zvt for provider "ccxt".

Importing this package registers every recorder on its schemas.
"""

from zvt_ccxt.recorders.entity import CcxtEntityRecorder
from zvt_ccxt.recorders.kdata import CcxtKdataRecorder

__all__ = ["CcxtEntityRecorder", "CcxtKdataRecorder"]
