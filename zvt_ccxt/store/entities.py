"""The entity tables (``CryptoPair``, ``CryptoPerp``): what is stored per exchange, and writing markets to them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd
from sqlalchemy import bindparam, text

from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt.store.retrying import retried
from zvt_ccxt.store.writer import upsert_frame


class StoredEntity(NamedTuple):
    id: str
    exchange: str
    code: str
    symbol: str


def _rows(schema: Schema, select: str, where: str, parameters: dict, *expanding: str):
    table = schema.__tablename__
    statement = text(f'SELECT {select} FROM "{table}" WHERE {where}')
    if expanding:
        statement = statement.bindparams(*(bindparam(name, expanding=True) for name in expanding))

    def work() -> list:
        with engine_for(schema).connect() as connection:
            return list(connection.execute(statement, parameters).fetchall())

    return retried(work, f"reading {table}")


def symbols(schema: Schema, exchange: str) -> dict[str, str]:
    """symbol -> code of the entities stored for ``exchange``."""
    rows = _rows(schema, '"symbol", "code"', '"exchange" = :exchange', {"exchange": exchange})
    return {str(r.symbol): str(r.code) for r in rows}


def ids(schema: Schema, exchange: str) -> list[str]:
    """Ids of the entities stored for ``exchange``."""
    return [r.id for r in _rows(schema, '"id"', '"exchange" = :exchange', {"exchange": exchange})]


def by_id(schema: Schema, entity_ids: Sequence[str]) -> list[StoredEntity]:
    """The stored entities among ``entity_ids``, in no particular order."""
    if not entity_ids:
        return []
    rows = _rows(schema, '"id", "exchange", "code", "symbol"', '"id" IN :ids', {"ids": list(entity_ids)}, "ids")
    return [StoredEntity(r.id, r.exchange, r.code, r.symbol) for r in rows]


def listed_ms(schema: Schema, entity_id: str) -> int | None:
    """When the stored entity ``entity_id`` was listed (epoch ms), None when unknown or not stored."""
    rows = _rows(schema, '"list_date"', '"id" = :id', {"id": entity_id})
    if not rows or rows[0].list_date is None:
        return None
    return int(pd.Timestamp(rows[0].list_date).value // 1_000_000)


def delete(schema: Schema, entity_ids: Sequence[str]) -> None:
    """Remove the entities ``entity_ids`` (markets only a replayed or simulated listing ever had)."""
    if not entity_ids:
        return
    statement = text(f'DELETE FROM "{schema.__tablename__}" WHERE "id" IN :ids').bindparams(
        bindparam("ids", expanding=True)
    )
    with engine_for(schema).begin() as connection:
        connection.execute(statement, {"ids": list(entity_ids)})


def save(schema: Schema, frame: pd.DataFrame) -> int:
    """Insert or update entity rows (a DataFrame of schema columns, ``id`` among them)."""
    return upsert_frame(schema, frame)


def frame(schema: Schema, exchange: str) -> pd.DataFrame:
    """Every stored entity of ``exchange`` through zvt's ``query_data``, by symbol."""
    found = schema.query_data(provider=PROVIDER, filters=[schema.exchange == exchange], order=schema.symbol.asc())
    return pd.DataFrame() if found is None else found
