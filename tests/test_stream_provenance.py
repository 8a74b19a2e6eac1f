"""What a stream stores is accounted in the coverage ledger with its source (live, replay, simulator), in windows
from its first stored row to its last, one ledger write per flush; a live run, REST or stream, discards replayed or
simulated streamed windows with their rows; a gap the stream could not repair stays failed."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from sqlalchemy import text
from test_stream import make_stream, query, started, until

import zvt_ccxt
from zvt_ccxt import levels, provenance, store
from zvt_ccxt.cli import main
from zvt_ccxt.domain import CryptoFunding, CryptoOrderbook, CryptoTrade, kdata_schema
from zvt_ccxt.domain.coverage import FETCHED
from zvt_ccxt.store.engines import engine_for
from zvt_ccxt.stream.ledger import StreamLedger
from zvt_ccxt.stream.rows import PREDICTED_FUNDING_KEY
from zvt_ccxt_testkit import simulated, simulated_streams
from zvt_ccxt_testkit.simulator.ws import TRADES

from conftest import SIM_NOW

ENTITY = "cryptopair_binance_btcusdt"
KLINES = kdata_schema("cryptopair", "1m").__tablename__


def _windows(table: str, entity_id: str = ENTITY) -> list:
    return store.coverage.windows(table, entity_id)


def _trade_times(entity_id: str = ENTITY) -> list[int]:
    rows = query(CryptoTrade, "SELECT ts_ms FROM crypto_trade WHERE entity_id = ?", entity_id)
    return sorted(int(r[0]) for r in rows)


def _stream(channels, count: int, source_block=None, symbol="BTC/USDT", exchange="binance"):
    """Stream ``channels`` while ``count`` trades are played; returns the stream once stopped."""
    stream = make_stream(exchange, [symbol], channels)

    async def scenario(ws):
        task = await started(stream, ws, exchange, TRADES)
        before = stream.metrics.total("messages", "trades")
        ws.play(exchange, symbol, count, rate=4_000)
        await until(lambda: stream.metrics.total("messages", "trades") >= before + count, what="the trades")
        await asyncio.sleep(0.3)  # a few book snapshots and flushes
        stream.stop()
        await task

    with simulated_streams(SIM_NOW) as ws:
        if source_block is None:
            asyncio.run(scenario(ws))
        else:
            with source_block():
                asyncio.run(scenario(ws))
    return stream


@pytest.mark.usefixtures("database")
def test_streamed_trades_bars_and_books_are_windows_with_their_source(store):
    stream = _stream(["trades", "ohlcv", "orderbook"], 3_000)

    times = _trade_times()
    trades = _windows("crypto_trade")
    assert [(w.start_ms, w.end_ms, w.status, w.source) for w in trades] == [
        (times[0], times[-1] + 1, FETCHED, "simulator")
    ]
    assert trades[0].rows == len(times) == stream.metrics.total("rows", "trades")

    # closed bars only: the forming one is stored but not accounted
    bars = query(
        kdata_schema("cryptopair", "1m"), f'SELECT timestamp, closed FROM "{KLINES}" WHERE entity_id = ?', ENTITY
    )
    closed = sorted(levels.to_utc_ms(t) for t, c in bars if c)
    forming = [levels.to_utc_ms(t) for t, c in bars if not c]
    [window] = _windows(KLINES)
    assert (window.start_ms, window.end_ms, window.source) == (closed[0], closed[-1] + 60_000, "simulator")
    assert forming and all(f >= window.end_ms for f in forming)

    books = _windows("crypto_orderbook")
    stamps = sorted(int(r[0]) for r in query(CryptoOrderbook, "SELECT ts_ms FROM crypto_orderbook"))
    assert len(books) == 1 and books[0].source == "simulator" and books[0].start_ms <= stamps[-1] < books[0].end_ms

    # one ledger write per flush that stored rows, whatever their number
    assert 0 < stream.writer.ledger_saves <= stream.writer.batches < len(times) / 10

    shown = zvt_ccxt.api.market_data_coverage("binance").set_index("data_table")
    assert shown.loc["crypto_trade", "source"] == "simulator" and shown.loc["crypto_orderbook", "source"] == "simulator"
    assert shown.loc["crypto_trade", "unknown_ranges"] == [] and shown.loc["crypto_trade", "failed_ranges"] == []
    report = zvt_ccxt.coverage_report(kdata_schema("cryptopair", "1m"), exchange="binance")
    assert list(report["source"]) == ["simulator"] and list(report["unknown_bars"]) == [0]


def test_coverage_shows_streamed_series_with_their_source(store, capsys):
    _stream(["trades", "orderbook"], 500)
    assert main(["coverage", "--exchange", "binance", "--check"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[1]: line.split() for line in out.splitlines() if line.startswith(ENTITY)}
    assert lines["crypto_trade"][-1] == "simulator" and lines["crypto_orderbook"][-1] == "simulator", out


def _tag_rows(schema, entity_id: str = ENTITY) -> int:
    """Mark the stored rows of ``entity_id`` so that a test sees whether they were deleted."""
    table = schema.__tablename__
    with engine_for(schema).begin() as connection:
        return connection.execute(
            text(f'UPDATE "{table}" SET "id" = "id" || :tag WHERE "entity_id" = :e'), {"e": entity_id, "tag": ":synth"}
        ).rowcount


def _tagged(schema) -> int:
    return len(query(schema, f"SELECT id FROM \"{schema.__tablename__}\" WHERE id LIKE '%:synth'"))


def test_a_live_stream_discards_simulated_streamed_rows_and_windows(store):
    _stream(["trades", "ohlcv", "orderbook"], 1_500)
    assert _tag_rows(CryptoTrade) > 0 and _tag_rows(kdata_schema("cryptopair", "1m")) > 0
    assert {w.source for t in ("crypto_trade", KLINES, "crypto_orderbook") for w in _windows(t)} == {"simulator"}

    # the simulator again, taken for the live exchange: its data must not sit beside what was simulated
    _stream(["trades", "ohlcv", "orderbook"], 1_500, lambda: provenance.sourced(provenance.LIVE))
    assert _tagged(CryptoTrade) == 0
    klines = kdata_schema("cryptopair", "1m")
    tagged = query(klines, f"SELECT timestamp FROM \"{KLINES}\" WHERE id LIKE '%:synth'")
    left = [levels.to_utc_ms(t) for (t,) in tagged]
    assert all(not w.start_ms <= t < w.end_ms for t in left for w in _windows(KLINES))  # only unaccounted bars left
    for table in ("crypto_trade", KLINES, "crypto_orderbook"):
        assert {w.source for w in _windows(table)} == {"live"}, table
    times = _trade_times()
    [window] = _windows("crypto_trade")
    assert (window.start_ms, window.end_ms - 1) == (times[0], times[-1])


def test_a_live_rest_run_discards_simulated_streamed_trades(store):
    _stream(["trades"], 800)
    assert _tag_rows(CryptoTrade) == 800
    hour_ago = pd.Timestamp(SIM_NOW, unit="ms").floor("h") - pd.Timedelta("1h")
    with simulated(SIM_NOW), provenance.sourced(provenance.LIVE):
        summary = CryptoTrade.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"],
                                          start_timestamp=hour_ago)
    assert summary.ok and summary.rows > 0
    assert _tagged(CryptoTrade) == 0 and {w.source for w in _windows("crypto_trade")} == {"live"}


def test_live_data_is_never_discarded_by_a_simulated_stream(store):
    _stream(["trades"], 600, lambda: provenance.sourced(provenance.LIVE))
    assert _tag_rows(CryptoTrade) == 600
    _stream(["trades"], 600)
    assert _tagged(CryptoTrade) == 600 and len(_trade_times()) == 1_200


@pytest.mark.parametrize("exchange", ["okx"])
def test_streamed_predicted_funding_is_accounted_apart_and_replaced_without_settled_rows(store, exchange):
    perp = "BTC/USDT:USDT"
    entity = f"cryptoperp_{exchange}_btcusdt"

    def funding_stream(block=None):
        stream = make_stream(exchange, [perp], ["funding"])

        async def scenario(ws):
            task = asyncio.ensure_future(stream.run())
            await stream.wait_ready(30)
            await until(lambda: stream.metrics.total("rows", "funding") >= 1, what="a predicted rate")
            stream.stop()
            await task

        with simulated_streams(SIM_NOW) as ws:
            if block is None:
                asyncio.run(scenario(ws))
            else:
                with block():
                    asyncio.run(scenario(ws))

    funding_stream()
    [window] = _windows(PREDICTED_FUNDING_KEY, entity)
    assert window.source == "simulator" and not _windows(CryptoFunding.__tablename__, entity)
    # a settled row inside the synthetic window's range (as a live REST run would have written) must survive
    settled_at = window.start_ms
    with engine_for(CryptoFunding).begin() as connection:
        connection.execute(
            text('INSERT INTO "crypto_funding" ("id", "entity_id", "timestamp", "ts_ms", "funding_rate", "settled") '
                 'VALUES (:id, :e, :ts, :ms, 0.0001, :settled)'),
            {"id": f"{entity}_settled", "e": entity, "ts": str(pd.Timestamp(settled_at, unit="ms")), "ms": settled_at,
             "settled": True},
        )
    assert _tag_rows(CryptoFunding, entity) == 2
    funding_stream(lambda: provenance.sourced(provenance.LIVE))
    ids = [r[0] for r in query(CryptoFunding, "SELECT id FROM crypto_funding WHERE entity_id = ?", entity)]
    assert f"{entity}_settled:synth" in ids and sum(i.endswith(":synth") for i in ids) == 1
    assert {w.source for w in _windows(PREDICTED_FUNDING_KEY, entity)} == {"live"}


# -- the ledger's windows around a gap that could not be repaired ---------------------------------------------

COLUMNS = ("id", "entity_id", "timestamp", "ts_ms")


def _rows(*stamps: int) -> list[list[tuple]]:
    """One chunk of rows of entity ``e`` at ``stamps``."""
    return [[(f"t{ms}", "e", None, ms) for ms in stamps]]


def _saved(ledger: StreamLedger) -> list[tuple]:
    return sorted((w.start_ms, w.end_ms, w.status) for _, _, w in ledger.take())


def test_a_window_grows_with_each_flush_under_one_key():
    ledger = StreamLedger("live")
    ledger.note("t", COLUMNS, None, _rows(100, 105))
    assert _saved(ledger) == [(100, 106, FETCHED)]
    ledger.note("t", COLUMNS, None, _rows(110, 120))
    assert _saved(ledger) == [(100, 121, FETCHED)]
    assert _saved(ledger) == []  # nothing new, nothing to write


@pytest.mark.parametrize("order", ["rows first", "gap first"])
def test_a_lost_range_is_failed_and_no_fetched_window_covers_it(order):
    ledger = StreamLedger("live")
    ledger.note("t", COLUMNS, None, _rows(100, 150))
    saved = _saved(ledger)
    if order == "rows first":
        ledger.note("t", COLUMNS, None, _rows(260, 300))
        saved += _saved(ledger)
        ledger.failed("t", "e", 200, 250, "not repaired")
    else:
        ledger.failed("t", "e", 200, 250, "not repaired")
        saved += _saved(ledger)
        ledger.note("t", COLUMNS, None, _rows(210, 260, 300))
    saved += _saved(ledger)
    # the ledger keeps the last version saved under each start
    final = {start: (end, status) for start, end, status in saved}
    windows = [store.coverage.Window(s, e, st) for s, (e, st) in final.items()]
    from zvt_ccxt.backfill import coverage

    assert coverage.failed_ranges(windows) == [(200, 250)]
    assert coverage.covered_ranges(windows) == [(100, 200), (250, 301)]


def test_a_failed_ledger_save_is_kept_for_the_next_flush():
    ledger = StreamLedger("simulator")
    ledger.note("t", COLUMNS, None, _rows(1, 2))
    entries = ledger.take()
    ledger.note("t", COLUMNS, None, _rows(3))
    ledger.restore(entries)  # the newer version of the same window wins
    assert [(w.start_ms, w.end_ms, w.rows, w.source) for _, _, w in ledger.take()] == [(1, 4, 3, "simulator")]


def test_a_gap_the_stream_could_not_repair_is_failed_and_check_sees_it(store, capsys, monkeypatch):
    from zvt_ccxt.stream import subscriptions

    def unreachable(client, gap, *args, **kwargs):  # REST down while the gap is repaired (any error will do)
        raise ConnectionRefusedError("connection refused")
        yield

    stream = make_stream("binance", ["BTC/USDT"], ["trades"])

    async def scenario(ws):
        task = await started(stream, ws, "binance", TRADES)
        ws.play("binance", "BTC/USDT", 100, rate=2_000)
        await until(lambda: len(_trade_times()) == 100, what="the first 100 trades")
        monkeypatch.setattr(subscriptions, "trade_pages", unreachable)
        ws.drop("binance", 7)
        ws.play("binance", "BTC/USDT", 300, rate=2_000)
        await until(lambda: stream.metrics.total("gaps_unrepaired") >= 1, what="a failed repair")
        await until(lambda: len(_trade_times()) == 393, what="the trades after the gap")
        stream.stop()
        await task

    with simulated_streams(SIM_NOW) as ws:
        asyncio.run(scenario(ws))
    times = _trade_times()
    before = [t for t in times if t <= times[99]]
    after = [t for t in times if t > times[99]]
    windows = _windows("crypto_trade")
    from zvt_ccxt.backfill import coverage

    [(low, high)] = coverage.failed_ranges(windows)
    assert before[-1] <= low < after[0] and high > after[0] - 1  # the missing trades lie inside the failed range
    covered = coverage.covered_ranges(windows)
    assert covered[0][0] == times[0] and covered[-1][1] == times[-1] + 1
    assert all(not (s < high and low < e) for s, e in covered)
    assert main(["coverage", "--exchange", "binance", "--check"]) == 1
    assert "crypto_trade: failed" in capsys.readouterr().out


# -- order-book snapshots over REST ---------------------------------------------------------------------------


def _books(**kwargs):
    return CryptoOrderbook.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"], **kwargs)


def test_book_snapshots_are_windows_failures_count_until_the_next_snapshot(sim, capsys):
    assert _books(snapshots=2).ok
    windows = _windows("crypto_orderbook")
    stamps = sorted(int(r[0]) for r in query(CryptoOrderbook, "SELECT ts_ms FROM crypto_orderbook"))
    assert [(w.start_ms, w.status, w.source) for w in windows] == [(t, FETCHED, "simulator") for t in stamps]
    assert main(["coverage", "--exchange", "binance", "--check"]) == 0
    out = capsys.readouterr().out
    assert next(line for line in out.splitlines() if "crypto_orderbook" in line).split()[-1] == "simulator"

    sim.inject("binance", "depth", 500, "<html>down</html>", times=None)
    failed = _books()
    assert not failed.ok and failed.results[0].windows["failed"] == 1
    assert main(["coverage", "--exchange", "binance", "--check"]) == 1
    assert "crypto_orderbook: failed" in capsys.readouterr().out

    sim.clear_faults()
    with zvt_ccxt.clock.frozen(SIM_NOW + 1_000):  # a later snapshot: the feed works again
        assert _books().ok
    assert main(["coverage", "--exchange", "binance", "--check"]) == 0


def test_a_live_run_discards_simulated_snapshots(sim):
    assert _books().ok and _tag_rows(CryptoOrderbook) == 1
    with provenance.sourced(provenance.LIVE):
        assert _books().ok
    assert _tagged(CryptoOrderbook) == 0 and {w.source for w in _windows("crypto_orderbook")} == {"live"}


@pytest.mark.usefixtures("store")
def test_forming_bars_keep_their_source_and_a_live_run_discards_simulated_ones(capsys):
    """A stream's forming bar is stored but covers nothing: its window (under the table's partial key) says where it
    came from, coverage shows it without counting it missing, and a live REST run removes a simulated one."""
    from zvt_ccxt.backfill.coverage import partial_key

    klines = kdata_schema("cryptopair", "1m")
    _stream(["trades", "ohlcv"], 1_500)
    forming = query(klines, f'SELECT timestamp FROM "{KLINES}" WHERE entity_id = ? AND closed = 0', ENTITY)
    partial = _windows(partial_key(KLINES))
    assert forming and partial and {w.source for w in partial} == {"simulator"}
    assert all(any(w.start_ms <= levels.to_utc_ms(t) < w.end_ms for w in partial) for (t,) in forming)
    assert main(["coverage", "--exchange", "binance", "--check"]) == 0
    out = capsys.readouterr().out
    line = next(line.split() for line in out.splitlines() if f" {partial_key(KLINES)} " in f" {line} ")
    assert line[0] == ENTITY and line[-1] == "simulator", out

    hour_ago = pd.Timestamp(SIM_NOW, unit="ms").floor("h") - pd.Timedelta("1h")
    with simulated(SIM_NOW), provenance.sourced(provenance.LIVE):
        assert klines.record_data(provider="ccxt", exchange="binance", symbols=["BTC/USDT"],
                                  start_timestamp=hour_ago).ok
    assert query(klines, f'SELECT id FROM "{KLINES}" WHERE entity_id = ? AND closed = 0', ENTITY) == []
    assert _windows(partial_key(KLINES)) == []


@pytest.mark.usefixtures("store")
def test_markets_keep_the_source_of_their_listing_and_a_live_listing_replaces_synthetic_ones(capsys):
    from zvt_ccxt.domain import CryptoPair

    with simulated(SIM_NOW):
        CryptoPair.record_data(provider="ccxt", exchange="okx")
    stored_ids = store.entities.ids(CryptoPair, "okx")
    assert stored_ids and {w.source for w in store.coverage.latest_by_entity("cryptopair", "okx").values()} == {
        "simulator"}
    assert main(["coverage", "--exchange", "okx"]) == 0
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.startswith("cryptopair ") and " okx " in line)
    assert row[2] == str(len(stored_ids)) and row[3] == "simulator", out

    # a market only the synthetic listing had goes when the exchange lists its markets; the rest become live
    invented = "cryptopair_okx_zzzusdt"
    store.entities.save(CryptoPair, pd.DataFrame({"id": [invented], "entity_id": [invented], "exchange": ["okx"],
                                                  "code": ["zzzusdt"], "symbol": ["ZZZ/USDT"]}))
    store.coverage.save("cryptopair", invented, [store.coverage.Window(0, SIM_NOW, FETCHED, 1, source="simulator")])
    live_only = "cryptopair_okx_oldusdt"  # a market a live listing had and no longer has: kept, inactive
    store.entities.save(CryptoPair, pd.DataFrame({"id": [live_only], "entity_id": [live_only], "exchange": ["okx"],
                                                  "code": ["oldusdt"], "symbol": ["OLD/USDT"], "active": [True]}))
    store.coverage.save("cryptopair", live_only, [store.coverage.Window(0, SIM_NOW, FETCHED, 1, source="live")])
    with simulated(SIM_NOW):  # a synthetic listing says nothing of the exchange: the live market stays active
        CryptoPair.record_data(provider="ccxt", exchange="okx")
    assert query(CryptoPair, "SELECT active FROM cryptopair WHERE id = ?", live_only) == [(1,)]
    with simulated(SIM_NOW), provenance.sourced(provenance.LIVE):
        CryptoPair.record_data(provider="ccxt", exchange="okx")
    assert invented not in store.entities.ids(CryptoPair, "okx")
    assert query(CryptoPair, "SELECT active FROM cryptopair WHERE id = ?", live_only) == [(0,)]
    sources = {e: w.source for e, w in store.coverage.latest_by_entity("cryptopair", "okx").items()}
    assert invented not in sources and set(sources.values()) == {"live"}
