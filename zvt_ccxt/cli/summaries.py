"""The table printed after a recording or repair run: one row per symbol, with gaps where coverage knows them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zvt_ccxt.cli.messages import LIMIT, one_line
from zvt_ccxt.cli.tables import render

if TYPE_CHECKING:
    from zvt_ccxt.backfill.summary import RecordSummary
    from zvt_ccxt.domain.schema import Schema

HEADERS = (
    "symbol",
    "data",
    "rows",
    "from",
    "to",
    "requests",
    "fetched",
    "empty",
    "failed",
    "rejected",
    "no-trading",
    "missing",
    "status",
)


@dataclass
class RunOutcome:
    """One ``record_data`` call: what it recorded, under which label, and the coverage gaps of its entities."""

    label: str
    summary: RecordSummary
    #: entity_id -> (bars with no trading, bars failed or unknown), for kdata schemas
    gaps: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.summary.ok and not any(missing for _, missing in self.gaps.values())


def kdata_gaps(schema: Schema, entity_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per entity: bars missing as nothing traded, and bars missing as a window failed or was never fetched."""
    if not entity_ids or not hasattr(schema, "level_value"):
        return {}
    import pandas as pd

    from zvt_ccxt.api import coverage_report

    report = coverage_report(schema, entity_ids=list(entity_ids))
    gaps = {}
    for row in report.to_dict("records"):
        if row.get("expected_bars") is None or pd.isna(row.get("expected_bars")):
            continue
        missing = int(row.get("failed_bars") or 0) + int(row.get("unknown_bars") or 0)
        gaps[row["entity_id"]] = (int(row.get("no_trading_bars") or 0), missing)
    return gaps


def _stamp(ms: int | None):
    import pandas as pd

    return None if ms is None else pd.Timestamp(ms, unit="ms")


def outcome_table(outcomes: Sequence[RunOutcome]) -> str:
    rows = []
    for outcome in outcomes:
        for result in outcome.summary.results:
            no_trading, missing = outcome.gaps.get(result.entity_id, (None, None))
            if result.interrupted:
                status = "interrupted"
            elif result.error:
                status = f"FAILED: {one_line(result.error)}"
            elif result.windows.get("failed") or missing:
                status = "FAILED: gaps to repair"
            else:
                status = "ok"
            rows.append(
                [
                    result.symbol,
                    outcome.label,
                    result.rows,
                    _stamp(result.first_ms),
                    _stamp(result.last_ms),
                    result.requests,
                    result.windows.get("fetched", 0),
                    result.windows.get("empty", 0),
                    result.windows.get("failed", 0),
                    result.rejected,
                    no_trading,
                    missing,
                    status,
                ]
            )
    return render(rows, HEADERS, max_width=LIMIT + len("FAILED: "))  # statuses come shortened at a clause


def totals_line(outcomes: Sequence[RunOutcome], seconds: float) -> str:
    results = [r for o in outcomes for r in o.summary.results]
    failed = sum(
        1
        for o in outcomes
        for r in o.summary.results
        if not r.interrupted and (not r.ok or o.gaps.get(r.entity_id, (0, 0))[1])
    )
    interrupted = sum(1 for r in results if r.interrupted)
    rows = sum(r.rows for r in results)
    return (
        f"{rows:,} rows written for {len(results)} symbol{'s' if len(results) != 1 else ''} "
        f"in {seconds:.1f} s; {failed} failed" + (f", {interrupted} interrupted" if interrupted else "")
    )
