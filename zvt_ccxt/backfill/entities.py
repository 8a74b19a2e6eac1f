"""Keeping entity tables in step with the exchange's markets, each market's source kept in the coverage ledger.

Every stored market has one window in the ledger (key: its entity table, start 0, end: when it was last listed)
holding the source of the listing that wrote it (``zvt_ccxt.provenance``): live, replay or simulator. A replayed or
simulated listing says nothing of the exchange, so it never marks a market from elsewhere inactive; a live listing
rewrites the markets it lists and removes those only a synthetic listing ever had.
"""

from __future__ import annotations

import logging

import pandas as pd

from zvt_ccxt import clock, provenance, store
from zvt_ccxt.domain.coverage import FETCHED
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.exchange.client import get_client
from zvt_ccxt.exchange.markets import entity_rows
from zvt_ccxt.store.coverage import Window

logger = logging.getLogger(__name__)


def refresh_entities(entity_schema: Schema, exchange_id: str) -> int:
    """Store the exchange's current markets of this entity type; markets no longer listed become inactive."""
    client = get_client(exchange_id)
    markets = client.load_markets(reload=True)
    entity_type = entity_schema.__tablename__
    rows = entity_rows(exchange_id, markets.values(), entity_type)
    frame = pd.DataFrame(rows)
    listed = set(frame["id"]) if not frame.empty else set()
    sources = {e: w.source for e, w in store.coverage.latest_by_entity(entity_type, exchange_id).items()}
    synthetic_run = provenance.is_synthetic()
    gone, never_listed = [], []
    for entity_id in store.entities.ids(entity_schema, exchange_id):
        if entity_id in listed:
            continue
        synthetic_entity = sources.get(entity_id) in provenance.SYNTHETIC
        if not synthetic_run and synthetic_entity:
            never_listed.append(entity_id)
        elif synthetic_entity or not synthetic_run:
            gone.append(entity_id)
    now_ms = clock.now_ms()
    now = pd.Timestamp(now_ms, unit="ms")
    if not frame.empty:
        frame["updated_timestamp"] = now
        store.entities.save(entity_schema, frame)
        store.coverage.save_many([(entity_type, e, Window(0, now_ms, FETCHED, 1)) for e in frame["id"]])
    if gone:
        store.entities.save(
            entity_schema,
            pd.DataFrame({"id": gone, "active": [False] * len(gone), "updated_timestamp": [now] * len(gone)}),
        )
        logger.info("%s: %d %s markets no longer listed, marked inactive", exchange_id, len(gone), entity_type)
    if never_listed:  # only a replayed or simulated listing had them: not the exchange's
        store.entities.delete(entity_schema, never_listed)
        for entity_id in never_listed:
            store.coverage.discard(entity_type, entity_id, [Window(0, 0, FETCHED)])
        logger.info("%s: %d %s markets of a replayed or simulated listing removed", exchange_id, len(never_listed),
                    entity_type)
    return len(rows)
