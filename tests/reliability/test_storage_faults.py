"""A database that fills up mid-run and one that is read-only: a clear StorageError, only whole batches stored
(exactly the bars of the windows coverage calls fetched), nothing stored changed, and a later run completes it."""

import pytest

from zvt_ccxt.domain import kdata_schema
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store.writer import upsert
from zvt_ccxt_testkit import simulated
from zvt_ccxt_testkit.reliability.faults import LEVEL, PAGE_CAP, clean_reference
from zvt_ccxt_testkit.reliability.harness import retry_policy
from zvt_ccxt_testkit.reliability.storage import ReadOnlyUnavailable, database_full, run_storage_fault

SCHEMA = kdata_schema("cryptopair", LEVEL)


@pytest.fixture(scope="module")
def stage():
    with retry_policy(), simulated(page_cap=PAGE_CAP) as simulator:
        yield simulator, clean_reference(SCHEMA, "okx")


@pytest.mark.parametrize("kind", ["disk full", "read-only"])
def test_a_storage_fault_is_a_clear_error_and_a_later_run_completes_the_table(stage, kind):
    _, reference = stage
    try:
        outcome = run_storage_fault(kind, SCHEMA, "okx", reference)
    except ReadOnlyUnavailable as reason:
        pytest.skip(str(reason))
    assert outcome.runs == outcome.survived == 3 and outcome.rows_compared == len(reference)
    assert outcome.passed, outcome.problems


def test_a_full_database_refuses_the_whole_batch(stage):
    _, reference = stage
    rows = [(f"storage-test-{i}", "storage-test", "x" * 2_000) for i in range(200)]
    with database_full(SCHEMA, spare_pages=3), pytest.raises(StorageError, match="database or disk is full"):
        upsert(SCHEMA, ("id", "entity_id", "name"), rows)
    assert SCHEMA.query_data(provider="ccxt", entity_id="storage-test").empty
