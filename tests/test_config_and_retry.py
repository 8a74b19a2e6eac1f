import json
import os

import ccxt
import pytest

from zvt_ccxt.config import load_exchange_config
from zvt_ccxt.errors import ConfigError, ExchangeRequestError, UnknownExchangeError
from zvt_ccxt.exchange.client import check_exchange_id
from zvt_ccxt.exchange.retry import RetryPolicy, call_with_retry, is_transient, server_wait


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZVT_HOME", str(tmp_path))
    return tmp_path


def test_options_merge_file_then_environment_then_keywords(home, monkeypatch):
    (home / "zvt_ccxt.json").write_text(json.dumps({"okx": {"timeout": 5000, "options": {"a": 1, "b": 1}}}))
    monkeypatch.setenv("ZVT_CCXT_OKX_OPTIONS", json.dumps({"options": {"b": 2}, "hostname": "aws.okx.com"}))
    config = load_exchange_config("okx", {"options": {"c": 3}})
    assert config.options == {"timeout": 5000, "options": {"a": 1, "b": 2, "c": 3}, "hostname": "aws.okx.com"}
    assert not config.has_credentials


def test_credentials_come_from_the_environment_and_never_show_in_repr(home, monkeypatch):
    monkeypatch.setenv("ZVT_CCXT_BINANCE_API_KEY", "canary-key-123456")
    monkeypatch.setenv("CRYPTO_API_SECRET", "canary-secret-654321")
    config = load_exchange_config("binance")
    assert config.credentials == {"apiKey": "canary-key-123456", "secret": "canary-secret-654321"}
    assert "canary" not in repr(config) and "canary" not in str(config)


def test_a_world_readable_file_with_credentials_is_refused(home):
    path = home / "zvt_ccxt.json"
    path.write_text(json.dumps({"bybit": {"apiKey": "k" * 20, "secret": "s" * 20}}))
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_exchange_config("bybit")
    os.chmod(path, 0o600)
    assert load_exchange_config("bybit").has_credentials


def test_bad_option_json_is_named(home, monkeypatch):
    monkeypatch.setenv("ZVT_CCXT_OKX_OPTIONS", "{not json")
    with pytest.raises(ConfigError, match="ZVT_CCXT_OKX_OPTIONS"):
        load_exchange_config("okx")


def test_unknown_exchange_suggests_close_ids():
    with pytest.raises(UnknownExchangeError, match="binance"):
        check_exchange_id("binanse")


@pytest.mark.parametrize(
    "error, status, transient",
    [
        (ccxt.RequestTimeout("t"), None, True),
        (ccxt.RateLimitExceeded("429"), 429, True),
        (ccxt.DDoSProtection("418"), 418, True),
        (ccxt.OnMaintenance("m"), 503, True),
        (ccxt.ExchangeNotAvailable("404 unknown body"), 404, False),
        (ccxt.ExchangeNotAvailable("400 unknown body"), 400, False),
        (ccxt.ExchangeNotAvailable("502"), 502, True),
        (ccxt.BadSymbol("x"), 400, False),
        (ccxt.AuthenticationError("x"), 401, False),
        (ccxt.NotSupported("x"), None, False),
        (ccxt.ExchangeError("x"), 200, False),
    ],
)
def test_classification_follows_the_http_status_not_only_ccxt_types(error, status, transient):
    assert is_transient(error, status) is transient


def test_server_requested_waits_are_read():
    assert server_wait(ccxt.RateLimitExceeded("x"), "7", 0) == 7.0
    banned = ccxt.DDoSProtection("IP banned until 1700000010000. Please use websocket")
    assert server_wait(banned, None, 1_700_000_000_000) == pytest.approx(10.0)


def _run(outcomes, status, policy=RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.02), retry_after=None):
    calls, sleeps = [], []

    def func():
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = call_with_retry(
        func,
        exchange="binance",
        symbol="BTC/USDT",
        status_of=lambda: status,
        retry_after_of=lambda: retry_after,
        now_ms=lambda: 0,
        policy=policy,
        sleep=sleeps.append,
    )
    return result, calls, sleeps


def test_transient_errors_are_retried_then_succeed_honouring_retry_after():
    result, calls, sleeps = _run(
        [ccxt.RateLimitExceeded("429"), ccxt.RateLimitExceeded("429"), "ok"], 429, retry_after="3"
    )
    assert result == "ok" and len(calls) == 3 and sleeps == [3.0, 3.0]


def test_permanent_errors_fail_at_once_naming_exchange_and_symbol():
    with pytest.raises(ExchangeRequestError) as info:
        _run([ccxt.ExchangeNotAvailable("binance GET /x 404 Not Found"), "never"], 404)
    assert not info.value.transient
    assert "binance BTC/USDT" in str(info.value) and "ExchangeNotAvailable" in str(info.value)


def test_retries_are_capped():
    with pytest.raises(ExchangeRequestError) as info:
        _run([ccxt.RequestTimeout("t")] * 10, None)
    assert info.value.transient and "gave up" in str(info.value)


def test_a_ban_longer_than_allowed_fails_instead_of_sleeping():
    policy = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.02, max_server_wait=5)
    with pytest.raises(ExchangeRequestError):
        _run([ccxt.DDoSProtection("x")] * 4, 418, policy=policy, retry_after="3600")


def test_keyword_options_reach_the_ccxt_client(home):
    from zvt_ccxt import configure_exchange
    from zvt_ccxt.config import _keyword_options
    from zvt_ccxt.exchange.client import get_client

    try:
        configure_exchange("okx", hostname="aws.okx.com", timeout=1234)
        client = get_client("okx")
        assert client.ccxt.hostname == "aws.okx.com" and client.ccxt.timeout == 1234
        assert client.ccxt.enableRateLimit  # the limiter stays on
        assert get_client("okx") is client  # one client, one rate limiter, per exchange
    finally:
        _keyword_options.clear()
