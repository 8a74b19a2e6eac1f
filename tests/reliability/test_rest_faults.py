"""Every REST fault injected into the simulator's candle answers, once and persistently: the run retries or
fails the window, a later run repairs it, and the table ends equal to a clean run's
(``zvt_ccxt_testkit.reliability.faults``).
The full matrix (every fault on every exchange) runs in ``tools/reliability.py``."""

import pytest

from zvt_ccxt.domain import kdata_schema
from zvt_ccxt_testkit import simulated
from zvt_ccxt_testkit.reliability.faults import (
    CLIENT_TIMEOUT_MS,
    EXCHANGES,
    LEVEL,
    PAGE_CAP,
    REST_FAULTS,
    clean_reference,
    run_delisted_mid_run,
    run_rest_fault,
)
from zvt_ccxt_testkit.reliability.harness import retry_policy

SCHEMA = kdata_schema("cryptopair", LEVEL)
_references: dict[str, list[tuple]] = {}


@pytest.fixture(scope="module")
def faulty_exchange():
    with retry_policy(), simulated(page_cap=PAGE_CAP, timeout_ms=CLIENT_TIMEOUT_MS) as simulator:
        yield simulator


def reference(exchange: str) -> list[tuple]:
    if exchange not in _references:
        _references[exchange] = clean_reference(SCHEMA, exchange)
    return _references[exchange]


def _cases():
    """Each fault on one exchange (rotating, so all four are covered), in both variants."""
    for number, fault in enumerate(REST_FAULTS):
        exchange = next(e for e in EXCHANGES[(number + 1) % 4 :] + EXCHANGES if e in fault.exchanges)
        for variant in ("once", "always"):
            if variant == "once" or fault.always:
                yield pytest.param(fault, exchange, variant, id=f"{fault.name}-{exchange}-{variant}")


@pytest.mark.parametrize("fault, exchange, variant", list(_cases()))
def test_a_rest_fault_is_survived_and_the_table_equals_a_clean_run(faulty_exchange, fault, exchange, variant):
    outcome = run_rest_fault(faulty_exchange, fault, exchange, variant, reference(exchange))
    assert outcome.injected >= 1, "the fault never reached the recorder"
    assert outcome.survived == outcome.runs >= 1
    assert outcome.rows_compared == len(reference(exchange)) > 2 * PAGE_CAP
    assert outcome.passed, (outcome.problems, outcome.rows_lost, outcome.rows_differing)


def test_a_retried_fault_costs_retries_not_rows(faulty_exchange):
    """A fault served twice on one page: the recorder asks that page three times and stores it once."""
    fault = next(f for f in REST_FAULTS if f.name == "connection reset")
    before = len(faulty_exchange.requests)
    outcome = run_rest_fault(faulty_exchange, fault, "binance", "once", reference("binance"))
    candles = [r for r in faulty_exchange.requests[before:] if "klines" in r["path"]]
    assert outcome.passed and outcome.injected == 2
    assert len(candles) == len({r["query"]["startTime"] for r in candles}) + 2


@pytest.mark.parametrize("exchange", ["binance", "coinbase"])
def test_a_symbol_delisted_mid_run_fails_by_name_and_keeps_what_came_before(faulty_exchange, exchange):
    outcome = run_delisted_mid_run(faulty_exchange, exchange)
    assert outcome.injected == 1 and outcome.runs == 2
    assert outcome.passed, outcome.problems
