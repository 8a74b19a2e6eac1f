"""What every zvt-ccxt recorder does the same way: read the user's arguments, pick entities, isolate failures."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from zvt_ccxt import clock, interrupts, levels
from zvt_ccxt.backfill.entities import select_entity_ids
from zvt_ccxt.backfill.summary import RecordSummary, SymbolResult
from zvt_ccxt.errors import InvalidTimeRangeError, ZvtCcxtError
from zvt_ccxt.exchange.client import check_exchange_id

logger = logging.getLogger(__name__)


def exchange_list(exchange: str | None, exchanges: Sequence[str] | str | None) -> list[str]:
    """``exchange="okx"`` and ``exchanges=[...]`` as one validated list."""
    items: list[str] = []
    if exchange:
        items.append(exchange)
    if isinstance(exchanges, str):
        exchanges = [exchanges]
    items += list(exchanges or [])
    return [check_exchange_id(e) for e in dict.fromkeys(items)]


def wanted_items(code=None, codes=None, symbol=None, symbols=None) -> list[str] | None:
    """Codes and ccxt symbols the user asked for, in order, or None for all."""
    items: list[str] = []
    for single, many in ((code, codes), (symbol, symbols)):
        if single:
            items.append(single)
        if isinstance(many, str):
            many = [s.strip() for s in many.split(",") if s.strip()]
        items += list(many or [])
    return list(dict.fromkeys(items)) or None


#: 2009-01-01 UTC: no market traded before it, so an earlier start (0, "1900-01-01") begins here instead of
#: walking decades of empty windows
EARLIEST_MS = 1_230_768_000_000


def time_range(start_timestamp, end_timestamp) -> tuple[int | None, int | None]:
    """User start/end as UTC ms, refusing a start in the future or after the end."""
    start = None if start_timestamp is None else max(EARLIEST_MS, levels.to_utc_ms(start_timestamp))
    end = None if end_timestamp is None else levels.to_utc_ms(end_timestamp)
    now = clock.now_ms()
    if start is not None and start > now:
        raise InvalidTimeRangeError(f"start_timestamp {start_timestamp!r} is in the future")
    if start is not None and end is not None and end <= start:
        raise InvalidTimeRangeError(f"end_timestamp {end_timestamp!r} is not after start_timestamp {start_timestamp!r}")
    return start, end


def resolve_entity_ids(entity_schema: type, exchanges, wanted, entity_ids) -> list[str]:
    if not exchanges and not entity_ids:
        raise ZvtCcxtError("say which exchange to record: exchange='okx' (or exchanges=[...], or entity_ids=[...])")
    return select_entity_ids(entity_schema, exchanges, wanted, entity_ids)


def run_isolated(
    summary: RecordSummary, items: Sequence, work: Callable[[object, SymbolResult], None], describe, workers: int = 1
) -> RecordSummary:
    """Run ``work`` for every item; a failure is recorded in its result and the next item goes on.

    ``workers`` > 1 runs that many items at once on threads (I/O-bound recording of many symbols); the
    results keep the order of ``items``.
    """
    results = [SymbolResult(*describe(item)) for item in items]
    summary.results.extend(results)
    if workers > 1 and len(items) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="zvt-ccxt") as pool:
            list(pool.map(lambda pair: _run_one(work, *pair), zip(items, results, strict=True)))
    else:
        for item, result in zip(items, results, strict=True):
            _run_one(work, item, result)
    logger.info("%s", summary)
    return summary


def _run_one(work: Callable[[object, SymbolResult], None], item: object, result: SymbolResult) -> None:
    if interrupts.requested():  # stopped before this one began
        result.interrupted = True
        return
    try:
        work(item, result)
    except KeyboardInterrupt:  # SIGINT/SIGTERM: what was fetched is stored; the next items do not start
        interrupts.request()
        result.interrupted = True
        logger.warning("%s: interrupted", result.symbol)
    except ZvtCcxtError as error:
        result.error = str(error)
        logger.error("%s: %s", result.symbol, error)
    except Exception as error:  # an unexpected bug must not stop the other symbols either
        result.error = f"{type(error).__name__}: {error}"
        logger.exception("%s: unexpected error", result.symbol)
