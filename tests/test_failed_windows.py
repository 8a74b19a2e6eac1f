"""An error of any kind, not only a classified exchange error, leaves what it kept from being fetched ``failed`` in the
coverage ledger, so that ``coverage --check`` (what an alarm runs) exits 1 after a failed run and 0 once complete."""

from __future__ import annotations

import pandas as pd
import pytest

import zvt_ccxt
from zvt_ccxt import levels, store
from zvt_ccxt.cli import main
from zvt_ccxt.domain import CryptoPair1hKdata, CryptoTrade
from zvt_ccxt.exchange.client import ExchangeClient

from conftest import SIM_NOW


@pytest.fixture
def sim(store):
    """The simulator with 50-bar candle pages, so ten days of hours take several."""
    from zvt_ccxt_testkit import simulated

    with simulated(SIM_NOW, page_cap=50) as simulator:
        yield simulator

START = pd.Timestamp(SIM_NOW, unit="ms").floor("D") - pd.Timedelta(days=10)
ENTITY = "cryptopair_okx_btcusdt"


def _record_klines():
    return CryptoPair1hKdata.record_data(provider="ccxt", exchange="okx", symbols=["BTC/USDT"], start_timestamp=START)


def _check(capsys, *argv: str) -> tuple[int, str]:
    code = main(["coverage", "--check", *argv])
    return code, capsys.readouterr().out


def _report_row() -> dict:
    return zvt_ccxt.coverage_report(CryptoPair1hKdata, exchange="okx").set_index("entity_id").loc[ENTITY].to_dict()


def test_an_unexpected_error_mid_backfill_fails_the_rest_of_the_range(sim, capsys, monkeypatch):
    from zvt_ccxt.recorders import kdata

    real, calls = kdata.normalise, []

    def breaks_on_the_third_page(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("a bug in the bar mapping")
        return real(*args, **kwargs)

    monkeypatch.setattr(kdata, "normalise", breaks_on_the_third_page)
    summary = _record_klines()
    result = summary.results[0]
    assert not summary.ok and "RuntimeError" in result.error and result.rows > 0

    row = _report_row()
    assert row["failed_bars"] > 0 and row["unknown_bars"] == 0
    assert row["bars"] + row["failed_bars"] == row["expected_bars"]  # every bar stored or failed: none unknown
    failed = [w for w in store.coverage.windows(CryptoPair1hKdata.__tablename__, ENTITY) if w.status == "failed"]
    assert failed and all("RuntimeError: a bug in the bar mapping" in w.error for w in failed)
    assert _check(capsys, "-e", "okx")[0] == 1

    monkeypatch.setattr(kdata, "normalise", real)
    assert zvt_ccxt.repair(CryptoPair1hKdata, exchange="okx").ok
    code, out = _check(capsys, "-e", "okx")
    assert code == 0 and "0 with failed or unknown bars" in out


def test_an_error_before_any_page_fails_the_whole_requested_range(sim, capsys, monkeypatch):
    assert _record_klines().ok  # entities and a first range stored
    earlier = START - pd.Timedelta(days=5)

    def no_market(self, symbol):
        raise OSError("connection reset while loading markets")

    monkeypatch.setattr(ExchangeClient, "market", no_market)
    summary = CryptoPair1hKdata.record_data(
        provider="ccxt", exchange="okx", symbols=["BTC/USDT"], start_timestamp=earlier
    )
    assert not summary.ok and "OSError" in summary.results[0].error
    failed = [w for w in store.coverage.windows(CryptoPair1hKdata.__tablename__, ENTITY) if w.status == "failed"]
    assert [(w.start_ms, w.end_ms) for w in failed] == [(levels.to_utc_ms(earlier), levels.to_utc_ms(START))]
    assert _report_row()["failed_bars"] == 5 * 24
    assert _check(capsys, "-e", "okx")[0] == 1


def test_a_failed_trades_write_leaves_its_range_failed_and_check_sees_it(sim, capsys, monkeypatch):
    from zvt_ccxt.recorders import trades

    start = pd.Timestamp(SIM_NOW, unit="ms").floor("h") - pd.Timedelta(hours=2)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trades, "upsert", full_disk)
    summary = CryptoTrade.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"], start_timestamp=start)
    assert not summary.ok and summary.results[0].windows["failed"] >= 1
    code, out = _check(capsys, "-e", "binance")
    assert code == 1 and "cryptopair_binance_btcusdt crypto_trade: failed" in out

    monkeypatch.undo()
    with pytest.MonkeyPatch.context():
        again = CryptoTrade.record_data(
            provider="ccxt", exchange="binance", symbols=["BTC/USDT"], start_timestamp=start
        )
    assert again.ok and again.rows > 0
    assert _check(capsys, "-e", "binance")[0] == 0
