"""REST faults injected into the simulator's candle answers, and the run that proves each one is survived.

A fault is served either ``once`` (on the third candle request, as many times as a retry can absorb) or
``always`` (on every request for one window in the middle of the history). Each fault says what must
follow: ``ok`` (retried or absorbed inside the run: the table equals a clean run's at once) or ``repaired``
(the run fails that window, keeps everything before it, and a later run makes the table equal a clean run's).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zvt_ccxt import levels, store
from zvt_ccxt.backfill import coverage
from zvt_ccxt_testkit.reliability.harness import (
    CANDLE_PATHS,
    SPOT,
    clear_tables,
    compare_rows,
    row_columns,
    table_rows,
)
from zvt_ccxt_testkit.simulated_exchanges import SIM_NOW_MS

LEVEL = "1h"
PAGE_CAP = 100
HISTORY_DAYS = 20
START_MS = levels.bar_start(SIM_NOW_MS, "1d") - HISTORY_DAYS * levels.DAY_MS
END_MS = levels.bar_start(SIM_NOW_MS, LEVEL)
#: the window the ``always`` variant breaks: the third page, which does not start on a day boundary
FAULTY_WINDOW_MS = START_MS + 2 * PAGE_CAP * levels.HOUR_MS
EXCHANGES = ("binance", "okx", "bybit", "coinbase")
#: the ccxt client timeout of fault runs: short, so a stalled answer costs little, yet long enough that a loaded
#: 2-core machine still serves the giant page (15,000 rows) before it (250 ms did not, now and then)
CLIENT_TIMEOUT_MS = 1500


# -- rewriting real answers ---------------------------------------------------------------------------------


def _rows(payload: Any) -> list:
    """The candle list inside an exchange's answer (binance: the body; okx: data; bybit: result.list; coinbase)."""
    if isinstance(payload, list):
        return payload
    for key in ("data", "result", "list", "candles"):
        if isinstance(payload, dict) and key in payload:
            found = _rows(payload[key])
            if found is not None:
                return found
    return []


def _with_rows(payload: Any, rows: list) -> Any:
    payload = copy.deepcopy(payload)
    target = _rows(payload)
    target[:] = rows
    return payload if not isinstance(payload, list) else rows


def _shifted(row: Any, delta_ms: int, scale: float) -> Any:
    """A copy of a candle ``delta_ms`` later with its prices multiplied by ``scale`` (still a valid bar)."""
    row = copy.deepcopy(row)
    if isinstance(row, dict):  # coinbase: start in seconds, named fields
        row["start"] = str(int(row["start"]) + delta_ms // 1000)
        for key in ("open", "high", "low", "close"):
            row[key] = str(float(row[key]) * scale)
        return row
    stamp = int(row[0]) + delta_ms
    row[0] = str(stamp) if isinstance(row[0], str) else stamp
    for index in (1, 2, 3, 4):
        row[index] = str(float(row[index]) * scale)
    return row


def empty(payload: Any) -> Any:
    return _with_rows(payload, [])


def shuffled(payload: Any) -> Any:
    rows = _rows(payload)
    middle = len(rows) // 2
    return _with_rows(payload, rows[middle:][::-1] + rows[:middle])


def duplicated(payload: Any) -> Any:
    rows = _rows(payload)
    return _with_rows(payload, rows + copy.deepcopy(rows))


def overlapping(payload: Any) -> Any:
    """Bars of the neighbouring windows (with other prices) around the real ones, as a page that ignores its bounds."""
    rows = _rows(payload)
    bar = levels.HOUR_MS
    before = [_shifted(r, -len(rows[:10]) * bar, 1.5) for r in rows[:10]]
    after = [_shifted(r, len(rows) * bar, 0.5) for r in rows[-10:]]
    return _with_rows(payload, before + rows + after)


def giant(payload: Any) -> Any:
    """Fifty copies of every row plus ten thousand rows far outside the window."""
    rows = _rows(payload)
    far = [_shifted(rows[i % len(rows)], (10 * 365 + i) * levels.DAY_MS, 1.0) for i in range(10_000)] if rows else []
    return _with_rows(payload, [copy.deepcopy(r) for r in rows for _ in range(50)] + far)


def hostile(payload: Any) -> Any:
    """NaN, a negative high, an overflowing close, text and a negative volume in five rows."""
    rows = copy.deepcopy(_rows(payload))
    spoilers = [("open", 1, "NaN"), ("high", 2, "-5"), ("close", 4, "1e400"), ("low", 3, "abc"), ("volume", 5, "-1")]
    for row, (key, index, value) in zip(rows, spoilers, strict=False):
        if isinstance(row, dict):
            row[key] = value
        else:
            row[index] = value
    return _with_rows(payload, rows)


def truncated_json(payload: Any) -> bytes:
    import json

    text = json.dumps(payload).encode()
    return text[: len(text) // 2]


# -- the catalogue ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestFault:
    """One way a REST answer goes wrong, and what a run meeting it ``once`` or ``always`` must end in."""

    name: str
    status: int = 200
    body: Any = None
    headers: dict[str, str] | None = None
    action: str | None = None
    delay: float = 0.0
    transform: Callable[[Any], Any] | None = None
    once: str = "ok"
    always: str | None = "repaired"
    exchanges: tuple[str, ...] = EXCHANGES
    #: how many answers ``once`` breaks: fewer than the retry attempts, so the next attempt gets through
    once_times: int = 2

    def inject(self, simulator, exchange: str, variant: str) -> None:
        if variant == "once":
            needle, skip, times = CANDLE_PATHS[exchange], 2, self.once_times
        else:
            needle, skip, times = window_needle(exchange, FAULTY_WINDOW_MS), 0, None
        simulator.inject(
            exchange,
            needle,
            self.status,
            _resolve(self.body),
            times,
            self.headers,
            skip=skip,
            action=self.action,
            delay=self.delay,
            transform=self.transform,
        )


def _resolve(body: Any) -> Any:
    return body() if callable(body) else body


def window_needle(exchange: str, since_ms: int) -> str:
    """A query fragment found only in the requests for the window starting at ``since_ms``."""
    return {
        "binance": f"startTime={since_ms}",
        "bybit": f"start={since_ms}",
        "okx": f"before={since_ms - 1}",
        "coinbase": f"start={since_ms // 1000}",
    }[exchange]


def _ban_until(seconds: float) -> Callable[[], dict]:
    def body() -> dict:
        until = SIM_NOW_MS + int(seconds * 1000)
        return {"code": -1003, "msg": f"Way too much request weight used; IP banned until {until}. Please use WS."}

    return body


MAINTENANCE_HTML = "<html><head><title>503 Service Unavailable</title></head><body>System maintenance</body></html>"
CHALLENGE_HTML = "<!DOCTYPE html><html><body>Just a moment... checking your browser</body></html>"

REST_FAULTS: tuple[RestFault, ...] = (
    RestFault("429 with Retry-After", 429, {"code": -1003, "msg": "Too many requests."}, {"Retry-After": "0"}),
    RestFault(
        "429 with Retry-After beyond the longest wait",
        429,
        {"code": -1003, "msg": "Too many requests."},
        {"Retry-After": "3600"},
        once="repaired",
    ),
    RestFault("418 banned until a moment from now", 418, _ban_until(0.05), exchanges=("binance",)),
    RestFault("418 banned for an hour", 418, _ban_until(3600), once="repaired", exchanges=("binance",)),
    RestFault("500 internal error", 500, {"code": -1001, "msg": "Internal error; unable to process your request."}),
    RestFault("502 bad gateway (HTML)", 502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    RestFault("504 gateway timeout", 504, ""),
    RestFault("503 maintenance page", 503, MAINTENANCE_HTML),
    RestFault(
        "okx maintenance code 50001 with HTTP 200",
        200,
        {"code": "50001", "msg": "Service temporarily unavailable, please try again later.", "data": []},
        exchanges=("okx",),
    ),
    RestFault(
        "bybit system error 10016 with HTTP 200",
        200,
        {"retCode": 10016, "retMsg": "System error. Please try again later.", "result": {}, "time": SIM_NOW_MS},
        exchanges=("bybit",),
    ),
    RestFault("timeout (answer stalled past the client timeout)", action="stall", delay=CLIENT_TIMEOUT_MS / 1000 + 0.5),
    RestFault("connection reset", action="reset"),
    RestFault("body cut off mid-transfer", action="truncate"),
    RestFault("truncated JSON with HTTP 200", transform=truncated_json),
    RestFault("HTML with HTTP 200", 200, CHALLENGE_HTML),
    RestFault("empty page in the middle of history", transform=empty, once_times=1),
    RestFault("overlapping page", transform=overlapping, once_times=1, always="ok"),
    RestFault("out-of-order page", transform=shuffled, once_times=1, always="ok"),
    RestFault("duplicate candles", transform=duplicated, once_times=1, always="ok"),
    RestFault("giant page (50x duplicates, 10k far rows)", transform=giant, once_times=1, always="ok"),
    RestFault("hostile values (NaN, inf, negative, text)", transform=hostile, once_times=1, once="repaired"),
)


# -- running one ----------------------------------------------------------------------------------------------


@dataclass
class FaultOutcome:
    """What one injected fault did to a run, and whether the table came out equal to a clean run's."""

    fault: str
    exchange: str
    variant: str
    expected: str
    injected: int = 0
    runs: int = 0
    survived: int = 0
    rows_compared: int = 0
    rows_lost: int = 0
    rows_differing: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems and self.rows_lost == 0 and self.rows_differing == 0


def record(schema, exchange: str, symbols: list[str] | None = None, **kwargs):
    """``schema.record_data`` for ``symbols`` (default: the exchange's spot pair in ``SPOT``)."""
    return schema.record_data(provider="ccxt", exchange=exchange, symbols=symbols or [SPOT[exchange]], **kwargs)


def clean_reference(schema, exchange: str) -> list[tuple]:
    """The table a run without faults leaves (the store is emptied before and after)."""
    clear_tables()
    summary = record(schema, exchange, start_timestamp=START_MS)
    if not summary.ok:
        raise AssertionError(f"the clean run failed: {summary}")
    rows = table_rows(schema)
    clear_tables()
    return rows


def run_rest_fault(simulator, fault: RestFault, exchange: str, variant: str, reference: list[tuple]) -> FaultOutcome:
    """Inject ``fault``, record, check the run and its failed window, repair if due, compare with ``reference``."""
    from zvt_ccxt.domain import kdata_schema

    schema = kdata_schema("cryptopair", LEVEL)
    expected = fault.once if variant == "once" else fault.always
    outcome = FaultOutcome(fault.name, exchange, variant, str(expected))
    started = time.perf_counter()
    clear_tables()
    simulator.clear_faults()
    seen = len(simulator.requests)
    fault.inject(simulator, exchange, variant)

    first = _run(outcome, lambda: record(schema, exchange, start_timestamp=START_MS))
    outcome.injected = sum(1 for r in simulator.requests[seen:] if r.get("fault"))
    simulator.clear_faults()
    if outcome.injected == 0:
        outcome.problems.append("the fault was never served")
    if first is not None:
        entity_id = first.results[0].entity_id
        failed = coverage.failed_ranges(store.coverage.windows(schema.__tablename__, entity_id))
        # change_pct may still refer to a bar before a rejected one until the repair: compare the rest
        columns = row_columns(schema, leave_out=("change_pct",))
        kept = [row_columns(schema).index(c) for c in columns]
        expected_rows = [tuple(row[i] for i in kept) for row in reference]
        lost, differing, extra = compare_rows(expected_rows, table_rows(schema, columns))
        if differing or extra:
            outcome.problems.append(f"the faulty run stored {differing} wrong and {extra} unexpected rows")
        if expected == "ok" and not (first.ok and not failed and lost == 0):
            outcome.problems.append(f"expected to be absorbed in the run: {first.results[0].error or failed}")
        if expected == "repaired":
            if first.ok or not failed:
                outcome.problems.append("expected a failed window, the run reported none")
            elif variant == "always" and failed[0][0] > FAULTY_WINDOW_MS:
                outcome.problems.append(f"the failed range {failed} starts after the faulty window")
            second = _run(outcome, lambda: record(schema, exchange))
            if second is not None and not second.ok:
                outcome.problems.append(f"the repair run failed: {second.results[0].error}")
    final = table_rows(schema)
    outcome.rows_compared = len(reference)
    outcome.rows_lost, outcome.rows_differing, extra = compare_rows(reference, final)
    if extra:
        outcome.problems.append(f"{extra} rows not in the clean run")
    outcome.seconds = time.perf_counter() - started
    return outcome


def _run(outcome: FaultOutcome, action: Callable[[], Any]):
    outcome.runs += 1
    try:
        summary = action()
    except Exception as error:  # a run that raises did not survive the fault
        outcome.problems.append(f"the run raised {type(error).__name__}: {error}")
        return None
    outcome.survived += 1
    return summary


#: a second spot pair per exchange, the one that disappears in ``run_delisted_mid_run``
SECOND = {"binance": "ETH/USDT", "okx": "ETH/USDT", "bybit": "ETH/USDT", "coinbase": "ETH/USD"}


def run_delisted_mid_run(simulator, exchange: str) -> FaultOutcome:
    """Record two pairs; the second vanishes from the exchange after its second page. The first must equal a
    clean run's, the second must keep its first pages, fail by name with its window failed, and a later run
    must fail it again the same way without changing anything stored; the market turns inactive."""
    from zvt_ccxt.domain import CryptoPair, kdata_schema

    schema = kdata_schema("cryptopair", LEVEL)
    first, second = SPOT[exchange], SECOND[exchange]
    outcome = FaultOutcome("symbol delisted mid-run", exchange, "once", "failed by name")
    started = time.perf_counter()
    clear_tables()
    simulator.clear_faults()
    clean = schema.record_data(provider="ccxt", exchange=exchange, symbols=[first, second], start_timestamp=START_MS)
    reference = table_rows(schema)
    clear_tables()
    if not clean.ok:
        outcome.problems.append(f"the clean run failed: {clean}")
        return outcome

    def delist_now(payload: Any) -> Any:
        simulator.delist(exchange, second, hidden=True)
        return payload

    simulator.inject(exchange, simulator.market(exchange, second).id, 200, skip=1, transform=delist_now)
    summary = _run(
        outcome,
        lambda: schema.record_data(
            provider="ccxt", exchange=exchange, symbols=[first, second], start_timestamp=START_MS
        ),
    )
    outcome.injected = 1 if simulator.market(exchange, second).hidden else 0
    if summary is not None:
        by_symbol = {r.symbol: r for r in summary.results}
        gone = by_symbol[second]
        if not by_symbol[first].ok:
            outcome.problems.append(f"{first} failed too: {by_symbol[first].error}")
        if gone.ok or second not in (gone.error or "") or exchange not in (gone.error or ""):
            outcome.problems.append(f"{second} did not fail by name: {gone.error}")
        windows = store.coverage.windows(schema.__tablename__, gone.entity_id)
        if not coverage.failed_ranges(windows):
            outcome.problems.append(f"{second}: no failed window")
        # the answer that delists it is its second request's, which is for its second page or, the pager asking
        # for the next window ahead, its third: the pages before the first one refused are kept
        if gone.rows not in (PAGE_CAP, 2 * PAGE_CAP):
            outcome.problems.append(f"{second}: {gone.rows} rows kept, expected its first page or two")
        before = table_rows(schema)
        again = _run(outcome, lambda: schema.record_data(provider="ccxt", exchange=exchange, symbols=[second]))
        if again is not None and (again.ok or second not in (again.results[0].error or "")):
            outcome.problems.append(f"the later run did not fail {second} by name: {again}")
        if table_rows(schema) != before:
            outcome.problems.append("the later run changed what was stored")
        CryptoPair.record_data(provider="ccxt", exchange=exchange)
        active = CryptoPair.query_data(provider="ccxt", filters=[CryptoPair.symbol == second], return_type="df")
        if active.empty or bool(active.active.iloc[0]):
            outcome.problems.append(f"{second} is not marked inactive after the markets were reloaded")
    # expected: all of the first pair, and the second pair's bars before it vanished (ids sort by time)
    gone_id = next(r.entity_id for r in clean.results if r.symbol == second)
    kept_rows = 2 * PAGE_CAP if summary is None else next(r.rows for r in summary.results if r.symbol == second)
    kept = [r for r in reference if r[row_columns(schema).index("entity_id")] == gone_id][:kept_rows]
    expected = [r for r in reference if r[row_columns(schema).index("entity_id")] != gone_id] + kept
    outcome.rows_compared = len(expected)
    outcome.rows_lost, outcome.rows_differing, extra = compare_rows(expected, table_rows(schema))
    if extra:
        outcome.problems.append(f"{extra} rows not in the clean run")
    outcome.seconds = time.perf_counter() - started
    return outcome
