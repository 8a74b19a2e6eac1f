"""Where stored data came from: every coverage window keeps its source (live, replay, simulator), replayed or
simulated windows never pass for exchange history in a live run, and an older ledger gains the column in place."""

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

import zvt_ccxt
from zvt_ccxt import provenance, store
from zvt_ccxt.domain import CryptoPair1hKdata, CryptoTrade
from zvt_ccxt.domain.coverage import CcxtCoverage
from zvt_ccxt.replay import replay
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt_testkit import simulated
from zvt_ccxt_testkit.scenarios import SCENARIOS, backfill_start, run_backfill

from conftest import SIM_NOW

CASSETTES = Path(__file__).resolve().parents[1] / "zvt_ccxt" / "cassettes"
TABLE = CryptoPair1hKdata.__tablename__
ENTITY = "cryptopair_okx_btcusdt"
HOUR_AGO = pd.Timestamp(SIM_NOW, unit="ms").floor("h") - pd.Timedelta("1h")


def _sources(table: str, entity_id: str) -> set:
    return {w.source for w in store.coverage.windows(table, entity_id)}


def _bars() -> pd.DataFrame:
    return CryptoPair1hKdata.query_data(provider="ccxt", entity_id=ENTITY, order=CryptoPair1hKdata.timestamp.asc())


def test_the_source_follows_the_block():
    assert provenance.current() == provenance.LIVE
    with replay("okx-backfill"):
        assert provenance.current() == provenance.REPLAY
    with simulated(SIM_NOW):
        assert provenance.current() == provenance.SIMULATOR
        with provenance.sourced(provenance.LIVE):
            assert provenance.current() == provenance.LIVE
    assert provenance.current() == provenance.LIVE
    with pytest.raises(ValueError, match="unknown data source"):
        with provenance.sourced("exchange"):
            pass


def test_replayed_windows_are_marked_and_shown(store):
    with replay(CASSETTES / "okx-backfill.json"):
        assert all(s.ok for s in run_backfill(SCENARIOS["okx"]))
    assert _sources(TABLE, ENTITY) == {"replay"}
    report = zvt_ccxt.coverage_report(CryptoPair1hKdata, exchange="okx")
    assert set(report["source"]) == {"replay"}


def test_a_live_run_replaces_replayed_bars_and_windows(store):
    with replay(CASSETTES / "okx-backfill.json"):
        assert all(s.ok for s in run_backfill(SCENARIOS["okx"]))
        start = backfill_start()
    replayed = _bars()
    # a bar only the synthetic data has (at half past), and a synthetic price the exchange never had
    with engine_for(CryptoPair1hKdata).begin() as connection:
        connection.execute(
            text(f'INSERT INTO "{TABLE}" ("id", "entity_id", "timestamp", "close") VALUES (:id, :e, :ts, 1.0)'),
            {"id": f"{ENTITY}_odd", "e": ENTITY, "ts": str(replayed.timestamp.iloc[3] + pd.Timedelta(minutes=30))},
        )
        connection.execute(text(f'UPDATE "{TABLE}" SET "close" = 123.0 WHERE "id" = :id'), {"id": replayed.id.iloc[5]})

    # the simulator again, but taken for the live exchange: it must fetch the replayed range again
    with simulated(SIM_NOW) as sim, provenance.sourced(provenance.LIVE):
        summary = CryptoPair1hKdata.record_data(provider="ccxt", exchange="okx", symbols=["BTC/USDT"],
                                                start_timestamp=start)
        truth = sim.ohlcv("okx", "BTC/USDT", "1h", int(pd.Timestamp(start).value // 10**6), SIM_NOW - 3_600_000)
    assert summary.ok and summary.results[0].windows["fetched"] > 0 and summary.rows == len(replayed)
    assert _sources(TABLE, ENTITY) == {"live"}
    live = _bars()
    assert len(live) == len(replayed) and f"{ENTITY}_odd" not in set(live.id)
    closes = {int(r[0]): r[4] for r in truth}
    assert [closes[int(t.value // 10**6)] for t in live.timestamp] == pytest.approx(list(live.close))

    # a synthetic run over live data leaves it be: nothing is fetched again
    with simulated(SIM_NOW):
        again = CryptoPair1hKdata.record_data(provider="ccxt", exchange="okx", symbols=["BTC/USDT"],
                                              start_timestamp=start)
    assert again.results[0].requests == 0 and _sources(TABLE, ENTITY) == {"live"}


def test_simulated_trades_are_deleted_before_live_ones_are_stored(store):
    with simulated(SIM_NOW):
        first = CryptoTrade.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"],
                                        start_timestamp=HOUR_AGO)
    entity = first.results[0].entity_id
    assert first.ok and first.rows > 0 and _sources("crypto_trade", entity) == {"simulator"}
    with engine_for(CryptoTrade).begin() as connection:
        connection.execute(text('UPDATE "crypto_trade" SET "id" = "id" || :tag WHERE "entity_id" = :e'),
                           {"e": entity, "tag": ":synthetic"})
    with simulated(SIM_NOW), provenance.sourced(provenance.LIVE):
        second = CryptoTrade.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"],
                                         start_timestamp=HOUR_AGO)
    stored = CryptoTrade.query_data(provider="ccxt", entity_id=entity)
    assert second.ok and second.rows == first.rows == len(stored)
    assert not stored.id.str.endswith(":synthetic").any()
    assert _sources("crypto_trade", entity) == {"live"}


def test_an_older_ledger_gains_the_source_column(store):
    from zvt_ccxt.store import coverage as ledger

    engine = engine_for(CcxtCoverage)
    with engine.begin() as connection:
        connection.execute(text('ALTER TABLE "ccxt_coverage" DROP COLUMN "source"'))
        connection.execute(text(
            'INSERT INTO "ccxt_coverage" ("id", "entity_id", "data_table", "start_ms", "end_ms", "status", "rows") '
            "VALUES ('old', :e, :t, 0, 3600000, 'fetched', 1)"), {"e": ENTITY, "t": TABLE})
    ledger._upgraded.clear()
    try:
        assert [w.source for w in ledger.windows(TABLE, ENTITY)] == [None]  # kept, its source unknown
        ledger.save(TABLE, ENTITY, [ledger.Window(3_600_000, 7_200_000, "fetched", 1)])
        assert [w.source for w in ledger.windows(TABLE, ENTITY)] == [None, "live"]
    finally:
        ledger._upgraded.clear()
        with engine.connect() as connection:
            columns = [r[1] for r in connection.execute(text('PRAGMA table_info("ccxt_coverage")'))]
        assert "source" in columns
