"""Coverage reports and repair for any zvt-ccxt kdata schema."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from zvt_ccxt.backfill import coverage
from zvt_ccxt.backfill.summary import RecordSummary
from zvt_ccxt.store.writer import engine_for


def _entity_ids(schema: type, exchange: str | None, codes: Sequence[str] | None, entity_ids) -> list[str]:
    if entity_ids:
        return list(entity_ids)
    clauses, params = [], []
    if exchange:
        clauses.append("data_table = ? AND entity_id LIKE ? ESCAPE '\\'")
        params += [schema.__tablename__, f"%\\_{exchange}\\_%"]
    else:
        clauses.append("data_table = ?")
        params.append(schema.__tablename__)
    where = " AND ".join(clauses)
    with engine_for(coverage.CcxtCoverage).connect() as connection:
        rows = connection.exec_driver_sql(
            f"SELECT DISTINCT entity_id FROM ccxt_coverage WHERE {where}", tuple(params)
        )
        found = sorted(r[0] for r in rows)
    if codes:
        wanted = {str(c).lower().replace("/", "").replace(":", "") for c in codes}
        found = [e for e in found if e.split("_", 2)[2] in wanted]
    return found


def coverage_report(
    schema: type, exchange: str | None = None, codes: Sequence[str] | None = None, entity_ids=None
) -> pd.DataFrame:
    """One row per (entity, level): bars stored vs expected, no-trading gaps, failed and unknown ranges."""
    rows = []
    level = schema.level_value
    for entity_id in _entity_ids(schema, exchange, codes, entity_ids):
        with engine_for(schema).connect() as connection:
            stamps = [
                r[0]
                for r in connection.exec_driver_sql(
                    f'SELECT timestamp FROM "{schema.__tablename__}" WHERE entity_id = ?', (entity_id,)
                )
            ]
        stored_ms = (
            (pd.to_datetime(pd.Series(stamps, dtype="object")).astype("int64") // 1_000_000).to_numpy(dtype="int64")
            if stamps
            else np.empty(0, dtype="int64")
        )
        rows.append(coverage.entity_report(schema.__tablename__, level, entity_id, stored_ms))
    return pd.DataFrame(rows)


def repair(
    schema: type, exchange: str | None = None, codes: Sequence[str] | None = None, entity_ids=None
) -> RecordSummary:
    """Re-fetch only the failed and unknown windows inside what was already requested (no new bars)."""
    ids = _entity_ids(schema, exchange, codes, entity_ids)
    if not ids:
        return RecordSummary(schema.__tablename__)
    return schema.record_data(provider="ccxt", entity_ids=ids, repair_only=True)
