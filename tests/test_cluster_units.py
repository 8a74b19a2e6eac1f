"""The parts of a cluster run that need no cluster: the stall watch's judgement, which jobs report their pages,
and the page reports of the recorders other than klines."""

from __future__ import annotations

import types

import pandas as pd
import pytest

pytest.importorskip("distributed")

from zvt_ccxt.cluster import stalls  # noqa: E402
from zvt_ccxt.cluster.jobs import Job, reports_pages  # noqa: E402

from conftest import SIM_NOW  # noqa: E402

KEY = "record-cryptopair_1m_kdata-binance-BTC/USDT-20250501T0000-20250515T0000"


class _Scheduler:
    """What the watch asks of a Dask client: the events of a topic, and restarting workers."""

    def __init__(self, events: list) -> None:
        self.events = events
        self.restarted: list[str] = []

    def get_events(self, topic: str) -> tuple:
        return tuple(self.events)

    def restart_workers(self, workers: list[str], raise_for_error: bool = True) -> None:
        self.restarted.extend(workers)


class _Running:
    def done(self) -> bool:
        return False


def test_the_stall_watch_judges_a_job_by_its_own_runs_progress_not_an_earlier_runs(monkeypatch):
    now = [1_000.0]
    monkeypatch.setattr(stalls, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    # the same key, progress of an earlier run (keys are deterministic): the scheduler still holds its events
    scheduler = _Scheduler([(100.0, {"key": KEY, "run": "earlier", "worker": "tcp://127.0.0.1:1"})])
    watch = stalls.StallWatch(scheduler, {KEY: _Running()}, stall_seconds=5, run_id="this")
    watch.check()
    now[0] += 60
    watch.check()
    assert scheduler.restarted == [] and watch.given_up == []

    scheduler.events.append((200.0, {"key": KEY, "run": "this", "worker": "tcp://127.0.0.1:2"}))
    watch.check()
    now[0] += 4
    watch.check()
    assert scheduler.restarted == []
    now[0] += 2
    watch.check()
    assert scheduler.restarted == ["tcp://127.0.0.1:2"] and watch.given_up == [KEY]


@pytest.mark.parametrize(
    "table, reports",
    [("cryptopair_1m_kdata", True), ("crypto_trade", True), ("crypto_funding", True),
     ("crypto_open_interest", True), ("crypto_orderbook", False)],
)
def test_klines_trades_funding_and_open_interest_jobs_report_their_pages(table, reports):
    from zvt_ccxt.cluster.jobs import schema_of

    schema_of(table)  # the table is one of the package's
    job = Job("k", table, "cryptoperp_binance_btcusdt", "binance", "BTC/USDT:USDT", 0, 1)
    assert reports_pages(job) is reports


def test_a_trades_recorder_reports_every_batch_it_stores(sim):
    from zvt_ccxt.domain import CryptoTrade

    start = pd.Timestamp(SIM_NOW, unit="ms").floor("h") - pd.Timedelta(hours=2)
    heard = []
    summary = CryptoTrade.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"],
                                      start_timestamp=start, progress=lambda *report: heard.append(report))
    assert summary.ok
    windows = sum(summary.results[0].windows.values())
    assert windows >= 2 and len(heard) == windows
    done = [report[1] for report in heard]
    assert done == sorted(done) and done[-1] == heard[-1][2] > 0
    assert all(report[0] is summary.results[0] for report in heard)
