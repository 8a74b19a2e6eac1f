"""With no exchange to talk to, a live command fails in seconds with one line naming the cause: a closed local port
(connection refused) and a name under ``.invalid`` (which never resolves) stand in for a network that is not there.
Nothing here talks to a real host."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from zvt_ccxt.domain import CryptoPair1hKdata
from zvt_ccxt.errors import DNS, REFUSED, ExchangeRequestError, network_cause
from zvt_ccxt.exchange.client import client_hook, reset_clients
from zvt_ccxt.exchange.retry import RetryPolicy, is_transient, set_default_policy
from zvt_ccxt_testkit.serve import cli_environment
from zvt_ccxt_testkit.simulated_exchanges import pointing_hook

DEAD_NAME = "http://exchange-that-does-not-exist.invalid"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def patient_retries(store):
    """The retry policy a user gets (six attempts, backoff up to 30 s): a transient verdict would take a minute."""
    previous = set_default_policy(RetryPolicy())
    reset_clients()
    try:
        yield
    finally:
        set_default_policy(previous)
        reset_clients()


@pytest.mark.parametrize(
    ("base_url", "kind", "text"),
    [
        (None, REFUSED, "connection refused by 127.0.0.1:"),
        (DEAD_NAME, DNS, "DNS failure: cannot resolve exchange-that-does-not-exist.invalid ("),
    ],
    ids=["connection refused", "DNS"],
)
def test_a_cause_that_waiting_cannot_fix_fails_at_once_naming_it(patient_retries, base_url, kind, text):
    base_url = base_url or f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with client_hook(pointing_hook(base_url)), pytest.raises(ExchangeRequestError) as caught:
        CryptoPair1hKdata.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"])
    elapsed = time.monotonic() - started
    error = caught.value
    assert network_cause(error.cause)[0] == kind and not is_transient(error.cause)
    assert not error.transient and "request failed: " in str(error) and "gave up" not in str(error)
    assert text.split(" by ")[0] in str(error) and len(str(error).splitlines()) == 1
    assert elapsed < 10, f"took {elapsed:.1f} s"


def test_the_command_fails_within_seconds_with_one_line(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ZVT_CCXT_", "CRYPTO_API_"))}
    environment["ZVT_HOME"] = str(tmp_path / "home")
    pointed = cli_environment(f"http://127.0.0.1:{_closed_port()}", exchanges=("okx",))
    pointed.pop("ZVT_CCXT_SOURCE")  # a live command whose exchange cannot be reached
    environment.update(pointed)

    def timed(*argv: str) -> tuple[subprocess.CompletedProcess, float]:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "zvt_ccxt.cli", *argv], env=environment, capture_output=True, text=True, timeout=300
        )
        return done, time.monotonic() - started

    # what starting the command costs on this machine now (zvt's import, the store): a command with no request
    baseline = timed("coverage", "-e", "okx")[1]
    result, elapsed = timed("record", "-e", "okx", "-s", "BTC/USDT", "--since", "2d")
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and "connection refused by 127.0.0.1:" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    # retrying would add a minute (six attempts, backoff up to 30 s); failing at once adds a request or two
    assert elapsed < baseline + 10, f"took {elapsed:.1f} s, a command without requests {baseline:.1f} s"
    # what an alarm runs next sees the failed run, though no market could be loaded
    check = timed("coverage", "--check")[0]
    assert check.returncode == 1, check.stdout + check.stderr
    assert "cryptopair_okx_btcusdt 1h: failed" in check.stdout, check.stdout


def test_a_run_that_could_not_load_the_markets_leaves_its_range_failed(patient_retries):
    from zvt_ccxt import store as ledger
    from zvt_ccxt.domain import CryptoTrade
    from zvt_ccxt.domain.coverage import FAILED

    with client_hook(pointing_hook(f"http://127.0.0.1:{_closed_port()}")), pytest.raises(ExchangeRequestError):
        CryptoTrade.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT:USDT", "ethusdt"],
                                start_timestamp="2024-01-01")
    for entity_id in ("cryptoperp_binance_btcusdt", "cryptopair_binance_ethusdt"):
        [window] = ledger.coverage.windows("crypto_trade", entity_id)
        assert window.status == FAILED and window.start_ms == 1_704_067_200_000
        assert "connection refused" in window.error
