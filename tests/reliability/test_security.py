"""Canary credentials through every path, private endpoints only on request, credentials only from safe places,
every SQL statement bound, and no secret in a log line however it is logged."""

import io
import json
import logging
from pathlib import Path

import pytest

import zvt_ccxt
from zvt_ccxt.config import load_exchange_config
from zvt_ccxt.domain import CryptoPair, kdata_schema
from zvt_ccxt.errors import ConfigError
from zvt_ccxt.exchange import redaction
from zvt_ccxt.exchange.client import get_client
from zvt_ccxt_testkit import simulated
from zvt_ccxt_testkit.reliability.canary import CANARY_KEY, CANARY_SECRET, canary_environment, environment, run_canary
from zvt_ccxt_testkit.reliability.faults import PAGE_CAP, START_MS, record
from zvt_ccxt_testkit.reliability.harness import ccxt_schemas, clear_tables, retry_policy
from zvt_ccxt_testkit.reliability.sql_audit import Statement, audit, recording_statements, scan_source, schema_names


@pytest.fixture(scope="module")
def exchange():
    with retry_policy(), simulated(page_cap=PAGE_CAP) as simulator:
        yield simulator


def test_canary_credentials_never_leave_through_any_path(exchange, tmp_path):
    clear_tables()
    outcome = run_canary(exchange, tmp_path)
    assert outcome.public_requests > 20 and outcome.signed_public_requests == 0, "public recording signed requests"
    assert outcome.signed_private_requests >= 4, "the canaries never reached a private request"
    assert outcome.files_scanned > 10 and outcome.texts_scanned > 10
    assert "a recorded cassette" in outcome.paths
    assert outcome.passed, (outcome.leaks, outcome.problems)


def test_credentials_reach_ccxt_only_for_a_client_asked_for_private_use(exchange):
    with environment(canary_environment(["okx"])):
        public, private = get_client("okx"), get_client("okx", private=True)
    assert public is not private
    assert not public.ccxt.apiKey and not public.ccxt.secret and not public.ccxt.password
    assert private.ccxt.apiKey == CANARY_KEY and private.ccxt.secret == CANARY_SECRET
    assert CANARY_KEY not in repr(private) and CANARY_KEY not in repr(private.config)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o666])
def test_a_credentials_file_readable_by_anyone_but_its_owner_is_refused(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("ZVT_HOME", str(tmp_path))
    path = tmp_path / "zvt_ccxt.json"
    path.write_text(json.dumps({"okx": {"apiKey": CANARY_KEY, "secret": CANARY_SECRET}}))
    path.chmod(mode)
    with pytest.raises(ConfigError, match="chmod 600") as failure:
        load_exchange_config("okx")
    assert CANARY_KEY not in str(failure.value)


def test_an_options_only_file_may_be_world_readable(tmp_path, monkeypatch):
    monkeypatch.setenv("ZVT_HOME", str(tmp_path))
    path = tmp_path / "zvt_ccxt.json"
    path.write_text(json.dumps({"okx": {"timeout": 5000}}))
    path.chmod(0o644)
    assert load_exchange_config("okx").options == {"timeout": 5000}


def test_secrets_are_masked_in_records_of_any_logger_and_in_tracebacks():
    redaction.register_secret(CANARY_SECRET)
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("zvt_ccxt.recorders.base").error("failed: %s", CANARY_SECRET)
        logging.getLogger("urllib3.connectionpool").warning("GET /x?key=%s", CANARY_SECRET)
        logging.getLogger("some.library").warning(f"formatted in: {CANARY_SECRET}")
        try:
            raise ValueError(f"boom {CANARY_SECRET}")
        except ValueError:
            logging.getLogger("zvt_ccxt.stream").exception("unexpected")
    finally:
        root.removeHandler(handler)
    text = sink.getvalue()
    assert text.count(redaction.MASK) >= 4 and "ValueError" in text
    assert CANARY_SECRET not in text


def test_every_statement_of_a_full_run_binds_its_values(exchange):
    from zvt.contract import zvt_context

    clear_tables()
    hourly = kdata_schema("cryptopair", "1h")
    with recording_statements() as statements:
        CryptoPair.record_data(provider="ccxt", exchange="binance")
        record(hourly, "binance", symbols=["BTC/USDT", "ETH/USDT"], start_timestamp=START_MS)
        record(kdata_schema("cryptopair", "4h"), "coinbase", start_timestamp=START_MS)  # derived bars
        zvt_ccxt.coverage_report(hourly, exchange="binance")
        zvt_ccxt.repair(hourly, exchange="binance")
        hourly.query_data(provider="ccxt", codes=["btcusdt"])
    writes = [s for s in statements if s.sql.lstrip().upper().startswith("INSERT")]
    assert len(writes) >= 10 and all(s.parameters for s in writes)
    known = schema_names(ccxt_schemas()) | schema_names(zvt_context.schemas)
    values = ["cryptopair_binance_btcusdt", "BTC/USDT", "ETH/USDT", "btcusdt"]
    assert audit(statements, known, values) == []


def test_the_statement_audit_catches_values_in_sql():
    known = {"cryptopair", "id", "code", "timestamp"}
    good = [
        Statement('SELECT id FROM "cryptopair" WHERE code = ? AND timestamp > ?', ("btcusdt", 1748781296789)),
        Statement("SELECT strftime('%Y-%m-%d', ? / 1000.0, 'unixepoch')", (1748781296789,)),
    ]
    assert audit(good, known) == []
    varying = "SELECT id FROM \"cryptopair\" WHERE code = '{}'"
    bad = {
        "a bound value written in": ["SELECT id FROM \"cryptopair\" WHERE id = 'btcusdt'"],
        "a bound timestamp written in": ['SELECT id FROM "cryptopair" WHERE timestamp > 1748781296789'],
        "a value varying between calls": [varying.format("eth"), varying.format("sol")],
        "a value the caller names": ['SELECT id FROM "cryptopair" WHERE code = solusdt'],
        "a name no schema has": ['SELECT "password" FROM "users"'],
    }
    for what, texts in bad.items():
        assert audit([*good, *(Statement(t, ()) for t in texts)], known, ["solusdt"]), what


def test_the_package_builds_sql_only_from_schema_names_and_placeholders():
    assert scan_source(Path(zvt_ccxt.__file__).parent) == []


def test_the_source_scan_catches_a_value_interpolated_into_sql(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "bad.py").write_text(
        "def f(c, code, entity_id):\n"
        "    c.execute(f\"SELECT * FROM t WHERE code = '{code}'\")\n"
        "    c.execute('DELETE FROM t WHERE id = %s' % entity_id)\n"
        "    c.execute('SELECT * FROM t WHERE id = {}'.format(entity_id))\n"
        "    c.execute(f'SELECT * FROM \"{SCHEMA.__tablename__}\" WHERE id = ?', (entity_id,))\n"
    )
    problems = scan_source(package)
    assert len(problems) == 3 and "'code'" in problems[0]

