"""Keeping entity tables in step with the exchange's markets."""

from __future__ import annotations

import logging

import pandas as pd

from zvt_ccxt import clock, store
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.exchange.client import get_client
from zvt_ccxt.exchange.markets import entity_rows

logger = logging.getLogger(__name__)


def refresh_entities(entity_schema: Schema, exchange_id: str) -> int:
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
