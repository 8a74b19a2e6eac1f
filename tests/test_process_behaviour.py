"""What a process sees: time zone independence, a quiet import, no network at import, no secret in a cassette."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ZVT_CCXT_")}
    # this checkout first; what PYTHONPATH already holds (the test kit, say) stays reachable
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    environment.update({"ZVT_HOME": str(tmp_path / "home"), "PYTHONPATH": path, **env})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environment, timeout=300
    )


DIGEST = """
    import hashlib, json
    import zvt_ccxt
    from zvt_ccxt.domain import CryptoPair1hKdata
    from zvt_ccxt.replay import replay
    from zvt_ccxt_testkit.scenarios import SCENARIOS, run_backfill, run_resume
    with replay("{root}/zvt_ccxt/cassettes/okx-backfill.json"):
        run_backfill(SCENARIOS["okx"])
    with replay("{root}/zvt_ccxt/cassettes/okx-resume.json"):
        run_resume(SCENARIOS["okx"])
    df = CryptoPair1hKdata.query_data(provider="ccxt", order=CryptoPair1hKdata.id.asc())
    rows = df[["id", "timestamp", "open", "close", "volume"]].astype(str).values.tolist()
    print(len(rows), hashlib.sha256(json.dumps(rows).encode()).hexdigest())
"""


def test_results_are_identical_in_every_process_time_zone(tmp_path):
    digests = {}
    for tz in ["UTC", "America/New_York", "Asia/Shanghai"]:
        result = run_python(DIGEST.format(root=ROOT), tmp_path / tz.replace("/", "_"), TZ=tz)
        assert result.returncode == 0, result.stderr[-2000:]
        digests[tz] = result.stdout.strip().splitlines()[-1]
    assert len(set(digests.values())) == 1, digests
    assert digests["UTC"].startswith(str(60 * 24 + 12 + 24))


def test_import_is_quiet_keeps_logging_and_pandas_and_opens_no_connection(tmp_path):
    code = """
        import logging, socket, sys, time
        import pandas as pd
        handler = logging.StreamHandler(sys.stderr)
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
        before = (pd.get_option("mode.chained_assignment"), pd.get_option("display.max_rows"))
        def refuse(*args, **kwargs):
            raise AssertionError("network used at import")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        started = time.perf_counter()
        import zvt_ccxt
        elapsed = time.perf_counter() - started
        root = logging.getLogger()
        assert root.handlers == [handler], root.handlers
        assert root.level == logging.WARNING
        assert (pd.get_option("mode.chained_assignment"), pd.get_option("display.max_rows")) == before
        from zvt_ccxt.exchange import client
        assert client._clients == {}
        sys.stderr.write(f"import took {elapsed:.2f}s\\n")
    """
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == ""
    assert result.stderr.startswith("import took") and result.stderr.count("\n") == 1, result.stderr
    assert (tmp_path / "home" / "data" / "ccxt").is_dir()  # zvt wrote under ZVT_HOME, nowhere else


CANARY_KEY = "canaryKEY0123456789abcdef"
CANARY_SECRET = "canarySECRET0123456789abcdef"
CANARY_PASSWORD = "canaryPASS0123456789"


@pytest.mark.parametrize("exchange", ["binance", "okx", "bybit", "coinbase"])
def test_a_canary_secret_never_reaches_a_cassette_a_log_or_a_repr(store, exchange, tmp_path, monkeypatch, caplog):
    import logging

    from zvt_ccxt.exchange.client import get_client
    from zvt_ccxt.replay.cassettes import recording
    from zvt_ccxt_testkit.simulator import ExchangeSimulator, real_url, repoint

    from conftest import SIM_NOW

    upper = exchange.upper()
    monkeypatch.setenv(f"ZVT_CCXT_{upper}_API_KEY", CANARY_KEY)
    monkeypatch.setenv(f"ZVT_CCXT_{upper}_SECRET", CANARY_SECRET)
    monkeypatch.setenv(f"ZVT_CCXT_{upper}_PASSWORD", CANARY_PASSWORD)
    if exchange == "coinbase":  # coinbase signs with an EC key given as its secret
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        pem = (
            ec.generate_private_key(ec.SECP256R1())
            .private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
            .decode()
        )
        monkeypatch.setenv(f"ZVT_CCXT_{upper}_API_KEY", "organizations/" + CANARY_KEY + "/apiKeys/k")
        monkeypatch.setenv(f"ZVT_CCXT_{upper}_SECRET", pem)
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "canary.json"
    with ExchangeSimulator(now_ms=SIM_NOW) as sim:
        with recording(
            path,
            source="simulator",
            command="test",
            recorded_at_ms=SIM_NOW,
            rewrite_url=real_url,
            hook=lambda c: repoint(c, sim.base_url),
        ):
            client = get_client(exchange, private=True)
            client.ccxt.verbose = False
            client.ccxt.logger.setLevel(logging.DEBUG)
            with pytest.raises(Exception) as failure:
                client.call("fetch_balance")
            client.call("fetch_time") if client.ccxt.has.get("fetchTime") else None
            assert CANARY_KEY not in repr(client) and CANARY_SECRET not in repr(client.config)
    text = path.read_text()
    assert json.loads(text)["interactions"], "the private request was not recorded"
    for canary in (CANARY_KEY, CANARY_SECRET, CANARY_PASSWORD):
        assert canary not in text
        assert canary not in caplog.text
        assert canary not in str(failure.value)
