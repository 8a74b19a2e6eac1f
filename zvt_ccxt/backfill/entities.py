"""Keeping entity tables in step with the exchange's markets, and picking the entities a run works on."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from zvt_ccxt import clock, store
from zvt_ccxt.errors import UnknownSymbolError
from zvt_ccxt.exchange.client import get_client
from zvt_ccxt.exchange.markets import entity_rows, resolve_codes

logger = logging.getLogger(__name__)


def refresh_entities(entity_schema: type, exchange_id: str) -> int:
    """Store the exchange's current markets of this entity type; markets no longer listed become inactive."""
    client = get_client(exchange_id)
    markets = client.load_markets(reload=True)
    entity_type = entity_schema.__tablename__
    rows = entity_rows(exchange_id, markets.values(), entity_type)
    frame = pd.DataFrame(rows)
    listed = set(frame["id"]) if not frame.empty else set()
    gone = [e for e in store.entities.ids(entity_schema, exchange_id) if e not in listed]
    now = pd.Timestamp(clock.now_ms(), unit="ms")
    if not frame.empty:
        frame["updated_timestamp"] = now
        store.entities.save(entity_schema, frame)
    if gone:
        store.entities.save(
            entity_schema,
            pd.DataFrame({"id": gone, "active": [False] * len(gone), "updated_timestamp": [now] * len(gone)}),
        )
        logger.info("%s: %d %s markets no longer listed, marked inactive", exchange_id, len(gone), entity_type)
    return len(rows)


def select_entity_ids(
    entity_schema: type, exchanges: Sequence[str], wanted: Sequence[str] | None, entity_ids: Sequence[str] | None
) -> list[str]:
    """Entity ids for codes or ccxt symbols on each exchange, loading markets when something is not stored yet."""
    if entity_ids:
        return list(dict.fromkeys(entity_ids))
    entity_type = entity_schema.__tablename__
    selected: list[str] = []
    for exchange_id in exchanges:
        known = store.entities.symbols(entity_schema, exchange_id)
        try:
            if not known:
                raise UnknownSymbolError("nothing stored yet")
            codes = resolve_codes(exchange_id, entity_type, wanted, known) if wanted else sorted(set(known.values()))
        except UnknownSymbolError:
            refresh_entities(entity_schema, exchange_id)
            known = store.entities.symbols(entity_schema, exchange_id)
            codes = resolve_codes(exchange_id, entity_type, wanted, known) if wanted else sorted(set(known.values()))
        selected += [f"{entity_type}_{exchange_id}_{code}" for code in codes]
    return selected
