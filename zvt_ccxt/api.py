"""Coverage reports and repair for any zvt-ccxt kdata schema."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pandas as pd

from zvt_ccxt import store
from zvt_ccxt.backfill import coverage, instruments
from zvt_ccxt.backfill.summary import RecordSummary
from zvt_ccxt.domain.schema import Schema


def _entity_ids(schema: Schema, exchange: str | None, codes: Sequence[str] | None, entity_ids) -> list[str]:
    if entity_ids:
        return list(entity_ids)
    found = store.coverage.entity_ids(schema.__tablename__, exchange)
    return instruments.stored_ids(schema.__tablename__.split("_", 1)[0], found, [str(c) for c in codes or []])


def coverage_report(
    schema: Schema, exchange: str | None = None, codes: Sequence[str] | None = None, entity_ids=None
) -> pd.DataFrame:
    """One row per (entity, level): bars stored vs expected, no-trading gaps, failed and unknown ranges."""
    rows = []
    level = schema.level_value
    table = schema.__tablename__
    for entity_id in _entity_ids(schema, exchange, codes, entity_ids):
        windows = store.coverage.windows(table, entity_id)
        rows.append(coverage.entity_report(
            windows, level, entity_id, functools.partial(store.reads.bar_counts, schema, entity_id)))
    return pd.DataFrame(rows)


def repair(
    schema: Schema, exchange: str | None = None, codes: Sequence[str] | None = None, entity_ids=None
) -> RecordSummary:
    """Re-fetch only the failed and unknown windows inside what was already requested (no new bars)."""
    ids = _entity_ids(schema, exchange, codes, entity_ids)
    if not ids:
        return RecordSummary(schema.__tablename__)
    return schema.record_data(provider="ccxt", entity_ids=ids, repair_only=True)


def markets_coverage(exchange: str | None = None) -> pd.DataFrame:
    """One row per (entity table, exchange, source) of the stored markets: how many, and when that source last
    listed them (the ledger keeps one window per market, from its latest listing)."""
    from zvt_ccxt.domain.meta import ENTITY_SCHEMAS

    counts: dict[tuple[str, str, str], list[int]] = {}
    for table in ENTITY_SCHEMAS:
        for entity_id, window in store.coverage.latest_by_entity(table, exchange).items():
            key = (table, entity_id.split("_", 2)[1], window.source or coverage.UNKNOWN_SOURCE)
            found = counts.setdefault(key, [0, 0])
            found[0] += 1
            found[1] = max(found[1], window.end_ms)
    return pd.DataFrame(
        [{"markets": table, "exchange": exchange_id, "count": count, "source": source,
          "listed_at": pd.Timestamp(listed_ms, unit="ms")}
         for (table, exchange_id, source), (count, listed_ms) in sorted(counts.items())],
        columns=["markets", "exchange", "count", "source", "listed_at"],
    )


def market_data_coverage(exchange: str | None = None) -> pd.DataFrame:
    """One row per (data table, entity) of what is not kdata (trades, funding, open interest, order books): the
    span requested, the windows' sources, and the ranges that failed or were never fetched inside it."""
    from zvt_ccxt.domain.kdata import KDATA_SCHEMAS
    from zvt_ccxt.domain.market_data import CryptoOrderbook
    from zvt_ccxt.domain.meta import ENTITY_SCHEMAS
    from zvt_ccxt.domain.private import CcxtStreamAudit, CryptoBalance, CryptoMyTrade, CryptoOrder, CryptoPosition

    kdata_tables = {schema.__tablename__ for schema in KDATA_SCHEMAS.values()}
    # rows with no past to fetch again: snapshots, an account's states and fills, a stream's sessions, forming bars
    states = {schema.__tablename__ for schema in
              (CryptoOrderbook, CryptoBalance, CryptoMyTrade, CryptoOrder, CryptoPosition, CcxtStreamAudit)}
    rows = []
    for table in store.coverage.data_tables():
        if table in kdata_tables or table in ENTITY_SCHEMAS:  # markets: ``markets_coverage``
            continue
        for entity_id in store.coverage.entity_ids(table, exchange):
            windows = store.coverage.windows(table, entity_id)
            start, end = min(w.start_ms for w in windows), max(w.end_ms for w in windows)
            if table in states or table.endswith(coverage.PARTIAL_SUFFIX):  # a failure counts until the next row
                failed, unknown = coverage.snapshot_failed_ranges(windows), []
            else:
                failed = coverage.failed_ranges(windows)
                unknown = [
                    r for r in coverage.missing_ranges(start, end, windows) if not any(f[0] < r[1] and r[0] < f[1]
                                                                                        for f in failed)
                ]

            def stamp(ms: int) -> pd.Timestamp:
                return pd.Timestamp(ms, unit="ms")

            rows.append(
                {
                    "data_table": table,
                    "entity_id": entity_id,
                    "requested_from": stamp(start),
                    "requested_to": stamp(end),
                    "windows": len(windows),
                    "failed_ranges": [(stamp(s), stamp(e)) for s, e in failed],
                    "unknown_ranges": [(stamp(s), stamp(e)) for s, e in unknown],
                    "source": coverage.sources(windows),
                }
            )
    return pd.DataFrame(rows)
