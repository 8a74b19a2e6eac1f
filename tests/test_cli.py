"""The ``zvt-ccxt`` command line through its real entry point, on replayed cassettes and the local simulator.

Each test checks the exit status, what was printed, and what landed in zvt's store.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import aiohttp
import pandas as pd
import pytest

from zvt_ccxt import levels
from zvt_ccxt.cli import main
from zvt_ccxt.cli.commands.capabilities import from_ccxt
from zvt_ccxt.cli.status import prometheus_text, start_metrics_server
from zvt_ccxt.domain import CryptoPair, CryptoPair1hKdata, CryptoPerp, CryptoPerp1hKdata
from zvt_ccxt.stream.metrics import StreamMetrics

from conftest import SIM_NOW

ROOT = Path(__file__).resolve().parents[1]
OKX_BARS = 1452  # closed hours from 2025-04-02 00:00 to the cassette's "now", 2025-06-01 12:34 UTC
COMMANDS = ["markets", "record", "stream", "coverage", "repair", "capabilities", "export"]
H = levels.HOUR_MS
SIM_START = "2025-05-20"
SIM_BARS = (levels.bar_start(SIM_NOW, "1h") - levels.to_utc_ms(SIM_START)) // H


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def bars(schema, entity_id: str) -> pd.DataFrame:
    return schema.query_data(provider="ccxt", entity_id=entity_id, order=schema.timestamp.asc())


def record_okx(capsys, *extra: str) -> tuple[int, str, str]:
    return run(
        capsys, "record", "-e", "okx", "-s", "BTC/USDT,BTC/USDT:USDT", "-l", "1h", "--since", "60d",
        "--replay", "okx-backfill", *extra,
    )  # fmt: skip


# -- help ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"usage: zvt-ccxt {command}") and "examples:" in out and f"zvt-ccxt {command}" in out


def test_top_level_help_lists_every_command(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(command in out for command in COMMANDS)
    assert run(capsys)[0] == 2  # no command: help, and a usage status


# -- record ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("database")
def test_record_from_a_cassette_stores_every_closed_bar_and_prints_the_summary(store, capsys):
    code, out, err = record_okx(capsys)
    assert code == 0, err
    spot = bars(CryptoPair1hKdata, "cryptopair_okx_btcusdt")
    perp = bars(CryptoPerp1hKdata, "cryptoperp_okx_btcusdt")
    assert len(spot) == len(perp) == OKX_BARS and spot.id.is_unique
    assert spot.timestamp.iloc[0] == pd.Timestamp("2025-04-02") and spot.timestamp.iloc[-1] == pd.Timestamp(
        "2025-06-01 11:00"
    )
    table = {line.split()[0]: line for line in out.splitlines() if line.startswith("BTC/")}
    assert set(table) == {"BTC/USDT", "BTC/USDT:USDT"}
    for line in table.values():
        assert f"{OKX_BARS:,}" in line and "2025-04-02" in line and "2025-06-01 11:00" in line and line.endswith("ok")
    assert f"{2 * OKX_BARS:,} rows written for 2 symbols" in out and "0 failed" in out
    # progress (plain lines when stderr is not a terminal): one finished line per symbol
    finished = [line for line in err.splitlines() if line.startswith("okx 1h")]
    assert len(finished) == 2 and all(line.endswith(" ok") for line in finished)
    assert "2025-04-02 00:00 → 2025-06-01 11:00" in finished[0]


@pytest.mark.usefixtures("database")
def test_a_second_run_fetches_only_what_is_new(store, capsys):
    assert record_okx(capsys)[0] == 0
    code, out, _ = run(capsys, "record", "-e", "okx", "-s", "BTC/USDT", "--replay", "okx-resume")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("BTC/USDT "))
    assert " 24 " in line and line.endswith("ok")
    assert len(bars(CryptoPair1hKdata, "cryptopair_okx_btcusdt")) == OKX_BARS + 24


def test_progress_bar_mode_draws_a_bar_per_symbol(store, capsys):
    code, _, err = record_okx(capsys, "--progress", "bar")
    assert code == 0
    lines = [re.sub(r"\x1b\[\d*[A-Za-z]", "", line) for line in err.splitlines()]
    drawn = [line for line in lines if line.startswith("okx 1h") and "[" in line and "%" in line]
    assert any("ETA" in line for line in drawn)  # the block of symbols in progress, redrawn in place
    assert sum("100%" in line and line.endswith(" ok") for line in drawn) == 2  # frozen when each finished
    assert "\x1b[1F\x1b[J" in err or "\x1b[2F\x1b[J" in err


@pytest.mark.usefixtures("database")
def test_record_trades_funding_and_order_books_from_cassettes(store, capsys):
    from zvt_ccxt.domain import CryptoFunding, CryptoOrderbook, CryptoTrade

    def stored(schema, entity_id):
        return schema.query_data(provider="ccxt", entity_id=entity_id)

    def summary_rows(out: str, symbol: str) -> int:
        line = next(line for line in out.splitlines() if line.startswith(symbol + " "))
        assert line.endswith("ok"), line
        return int(line.split()[2].replace(",", ""))

    argv = ["record", "-e", "binance", "-s", "BTC/USDT", "--data", "trades", "--since", "1h", "--until", "0h"]
    code, out, err = run(capsys, *argv, "--replay", "binance-market-data")
    assert code == 0, err
    trades = stored(CryptoTrade, "cryptopair_binance_btcusdt")
    assert len(trades) == summary_rows(out, "BTC/USDT") > 0 and trades.id.is_unique
    hour = pd.Timestamp(SIM_NOW, unit="ms").floor("h")
    assert trades.timestamp.min() >= hour - pd.Timedelta(hours=1) and trades.timestamp.max() < hour

    argv = ["record", "-e", "okx", "-s", "BTC/USDT:USDT", "--data", "funding", "--replay", "okx-market-data"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    funding = stored(CryptoFunding, "cryptoperp_okx_btcusdt")
    assert len(funding) == summary_rows(out, "BTC/USDT:USDT") > 0 and funding.funding_rate.notna().all()

    argv = ["record", "-e", "bybit", "-s", "BTC/USDT,BTC/USDT:USDT", "--data", "orderbook", "--depth", "20"]
    code, out, err = run(capsys, *argv, "--replay", "bybit-market-data")
    assert code == 0, err
    books = stored(CryptoOrderbook, "cryptoperp_bybit_btcusdt")
    assert len(books) == summary_rows(out, "BTC/USDT:USDT") and (books.best_bid < books.best_ask).all()


@pytest.mark.usefixtures("database")
def test_a_failing_symbol_gives_exit_1_and_repair_fixes_it(sim, capsys):
    sim.inject("binance", "symbol=ETHUSDT", 502, "bad gateway", times=None)
    code, out, err = run(
        capsys, "record", "-e", "binance", "-s", "BTC/USDT,ETH/USDT", "--since", SIM_START, "--progress", "none"
    )
    assert code == 1
    rows = {line.split()[0]: line for line in out.splitlines() if "/USDT" in line}
    assert rows["BTC/USDT"].endswith("ok") and "FAILED" in rows["ETH/USDT"]
    assert "1 failed" in out and "Traceback" not in err
    assert len(bars(CryptoPair1hKdata, "cryptopair_binance_btcusdt")) == SIM_BARS
    assert bars(CryptoPair1hKdata, "cryptopair_binance_ethusdt").empty

    code, out, _ = run(capsys, "coverage", "-e", "binance", "--check")
    assert code == 1 and "1 with failed or unknown bars" in out and "cryptopair_binance_ethusdt 1h: failed" in out

    sim.clear_faults()
    code, out, _ = run(capsys, "repair", "-e", "binance")
    assert code == 0
    assert "ETH/USDT" in out and "BTC/USDT" not in out  # only what needed repair was fetched
    assert len(bars(CryptoPair1hKdata, "cryptopair_binance_ethusdt")) == SIM_BARS
    code, out, _ = run(capsys, "coverage", "-e", "binance", "--check")
    assert code == 0 and "0 with failed or unknown bars" in out
    assert run(capsys, "repair", "-e", "binance")[1] == "nothing to repair on binance\n"


def test_repair_without_an_exchange_repairs_every_exchange(sim, capsys):
    for exchange in ("binance", "okx"):
        sim.inject(exchange, "ETH", 502, "bad gateway", times=None)
        code, _, _ = run(capsys, "record", "-e", exchange, "-s", "ETH/USDT", "--since", SIM_START, "--progress", "none")
        assert code == 1
    sim.clear_faults()
    code, out, _ = run(capsys, "repair")
    assert code == 0, out
    for exchange in ("binance", "okx"):
        assert len(bars(CryptoPair1hKdata, f"cryptopair_{exchange}_ethusdt")) == SIM_BARS
    assert run(capsys, "coverage", "--check")[0] == 0
    assert run(capsys, "repair")[1] == "nothing to repair\n"


def test_coverage_of_something_not_recorded_says_what_is(store, capsys):
    assert record_okx(capsys)[0] == 0
    recorded = "recorded on okx: 1h spot (1 series), 1h perp (1 series)"
    code, out, _ = run(capsys, "coverage", "-e", "okx", "--level", "5m")
    assert code == 0 and out == f"nothing recorded at 5m on okx; {recorded}\n"
    code, out, _ = run(capsys, "coverage", "-e", "okx", "-s", "ETH/USDT", "--type", "spot")
    assert code == 0 and out == f"nothing recorded for ETH/USDT as spot pairs on okx; {recorded}\n"
    assert run(capsys, "coverage", "-e", "bybit", "--level", "5m")[1].startswith("nothing recorded on bybit yet")


@pytest.mark.usefixtures("database")
def test_coverage_filters_by_symbol_and_type(store, capsys):
    assert record_okx(capsys)[0] == 0
    code, out, _ = run(capsys, "coverage", "-e", "okx", "-s", "BTC/USDT:USDT")
    assert code == 0 and "cryptoperp_okx_btcusdt" in out and "cryptopair_okx_btcusdt" not in out
    code, out, _ = run(capsys, "coverage", "--type", "spot")
    assert code == 0 and "cryptopair_okx_btcusdt" in out and "cryptoperp" not in out
    line = next(line for line in out.splitlines() if line.startswith("cryptopair_okx_btcusdt"))
    assert line.split()[5:11] == [f"{OKX_BARS:,}", f"{OKX_BARS:,}", "0", "0", "0", "0"]


# -- markets ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("database")
def test_markets_records_and_lists_entities(store, capsys):
    code, out, _ = run(capsys, "markets", "-e", "okx", "--replay", "okx-backfill", "--search", "btc")
    assert code == 0
    pairs = CryptoPair.query_data(provider="ccxt", filters=[CryptoPair.exchange == "okx"])
    perps = CryptoPerp.query_data(provider="ccxt", filters=[CryptoPerp.exchange == "okx"])
    assert len(pairs) and len(perps)
    assert f"okx: {len(pairs)} spot pairs" in out and f"okx: {len(perps)} perpetuals" in out
    assert "cryptopair_okx_btcusdt" in out and "BTC/USDT:USDT" in out and "ETH/USDT" not in out


def test_a_search_without_a_match_is_one_line(store, capsys):
    code, out, _ = run(capsys, "markets", "-e", "okx", "--replay", "okx-backfill", "--search", "doge")
    assert code == 0
    pairs = CryptoPair.query_data(provider="ccxt", filters=[CryptoPair.exchange == "okx"])
    perps = CryptoPerp.query_data(provider="ccxt", filters=[CryptoPerp.exchange == "okx"])
    assert out == (
        f"no market on okx matches 'doge' (of {len(pairs)} spot pairs, {len(perps)} perpetuals;"
        " --inactive searches delisted markets too)\n"
    )
    code, out, _ = run(capsys, "markets", "-e", "okx", "--replay", "okx-backfill", "--search", "BTC/USDT:")
    assert code == 0 and "BTC/USDT:USDT" in out
    assert out.startswith(f"okx: {len(pairs)} spot pairs") and "none matches 'BTC/USDT:'" in out.splitlines()[0]


# -- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["record", "-e", "okxx", "-s", "BTC/USDT"], "unknown exchange 'okxx'"),
        (["record", "-e", "okx", "-s", "BTC/USDX", "--replay", "okx-backfill"], "no cryptopair market for 'BTC/USDX'"),
        (["record", "-e", "okx", "-s", "BTC/USDT", "--replay", "no-such-cassette"], "no cassette 'no-such-cassette'"),
        (["record", "-e", "okx", "-s", "BTC/USDT", "--since", "someday", "--replay", "okx-backfill"], "someday"),
        (["record", "-e", "okx"], "--symbols"),
        (["record", "-s", "BTC/USDT"], "required: --exchange"),
        (["record", "-e", "okx", "-s", "BTC/USDT", "--level", "2h"], "invalid choice: '2h'"),
        (["export", "-e", "okx", "--level", "1d"], "nothing stored"),
    ],
)
def test_errors_are_one_line_with_status_2(store, capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err
    assert err.startswith("zvt-ccxt ")


def _damaged_cassettes(folder: Path) -> dict[str, Path]:
    import json

    from zvt_ccxt.replay.cassettes import locate

    text = locate("okx-backfill").read_text(encoding="utf-8")
    data = json.loads(text)
    variants = {
        "truncated": text[: len(text) // 3],
        "no provenance": json.dumps({**data, "metadata": {}}),
        "malformed interactions": json.dumps({**data, "interactions": "not a list"}),
    }
    paths = {}
    for name, content in variants.items():
        paths[name] = folder / f"{name.replace(' ', '-')}.json"
        paths[name].write_text(content, encoding="utf-8")
    return paths


@pytest.mark.parametrize("damage", ["truncated", "no provenance", "malformed interactions"])
def test_a_corrupt_cassette_is_one_line_with_status_2_like_a_missing_one(store, capsys, tmp_path, damage):
    cassette = _damaged_cassettes(tmp_path)[damage]
    for argv in (["record", "-e", "okx", "-s", "BTC/USDT"], ["markets", "-e", "okx"]):
        code, out, err = run(capsys, *argv, "--replay", str(cassette))
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and str(cassette) in err and "Traceback" not in err
        assert out == ""
    assert run(capsys, "markets", "-e", "okx", "--replay", str(tmp_path / "missing.json"))[0] == 2


def test_a_cassette_without_the_answer_is_one_line_naming_the_request(store, capsys):
    """vcrpy explains a miss in 30 lines; the summary and the error line name the cassette and the request."""
    argv = ["record", "-e", "okx", "-s", "BTC/USDT", "--since", "2024-01-01", "--replay", "okx-backfill"]
    code, out, err = run(capsys, *argv, "--progress", "none")
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("BTC/USDT"))
    assert re.search(r"FAILED: cassette okx-backfill has no answer for GET https://www\.okx\.com/api/v5/\S+$", row)
    assert len(err.strip().splitlines()) == 1 and "cassette okx-backfill has no answer for GET" in err
    assert "How to fix" not in out + err and "Traceback" not in err

    # a miss that ends the command (bybit's markets are not in okx's cassette): the same line, status 1
    code, out, err = run(capsys, "record", "-e", "bybit", "-s", "BTC/USDT", "--replay", "okx-backfill")
    assert code == 1 and out == ""
    assert re.fullmatch(
        r"zvt-ccxt record: error: cassette okx-backfill has no answer for GET https://api\.bybit\.com/\S+\n", err
    )

    code, _, err = run(capsys, "record", "-e", "bybit", "-s", "BTC/USDT", "--replay", "okx-backfill", "--debug")
    assert code == 1 and "Traceback (most recent call last)" in err and "How to fix" in err  # all of it


def test_an_unsupported_data_type_is_one_line(store, capsys):
    argv = ["record", "-e", "coinbase", "-s", "BTC/USD", "--data", "funding", "--replay", "coinbase-backfill"]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "does not support" in err and len(err.strip().splitlines()) == 1


def test_debug_adds_the_traceback(store, capsys):
    code, _, err = run(capsys, "record", "-e", "okxx", "-s", "BTC/USDT", "--debug")
    assert code == 2 and "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("zvt-ccxt record: error: unknown exchange")


# -- export ----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("database")
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_writes_what_is_stored(store, capsys, tmp_path, fmt):
    assert record_okx(capsys)[0] == 0
    out_file = tmp_path / f"btc.{fmt}"
    code, out, _ = run(
        capsys, "export", "-e", "okx", "-l", "1h", "-s", "BTC/USDT", "--since", "2025-05-01", "-f", fmt, "-o",
        str(out_file),
    )  # fmt: skip
    assert code == 0 and f"to {out_file}" in out
    frame = pd.read_csv(out_file, parse_dates=["timestamp"]) if fmt == "csv" else pd.read_parquet(out_file)
    stored = bars(CryptoPair1hKdata, "cryptopair_okx_btcusdt")
    stored = stored[stored.timestamp >= pd.Timestamp("2025-05-01")]
    assert list(frame.columns[:3]) == ["entity_id", "timestamp", "code"]
    assert (frame.entity_id == "cryptopair_okx_btcusdt").all() and len(frame) == len(stored)
    assert list(frame.timestamp) == list(stored.timestamp.dt.tz_localize("UTC"))
    assert frame.close.tolist() == stored.close.tolist()


# -- capabilities ----------------------------------------------------------------------------------------


def test_capabilities_table(capsys):
    code, out, _ = run(capsys, "capabilities")
    assert code == 0 and all(name in out for name in ("binance", "okx", "bybit", "coinbase"))
    code, out, _ = run(capsys, "capabilities", "--exchanges", "kraken", "--format", "markdown")
    assert code == 0 and out.startswith("| ") and "kraken" in out


def test_capabilities_read_from_ccxt():
    table = from_ccxt(["binance", "coinbase"]).set_index("exchange")
    assert table.loc["binance", "klines"] == "historical+live"
    assert table.loc["coinbase", "funding"] == "-"  # coinbase has no funding history or stream
    assert table.loc["coinbase", "klines"] == "historical"  # and no OHLCV websocket


# -- stream ----------------------------------------------------------------------------------------------


def test_stream_without_the_stream_package_is_one_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "zvt_ccxt.stream", None)
    code, _, err = run(capsys, "stream", "-e", "binance", "-s", "BTC/USDT")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "zvt_ccxt.stream" in err


class _CountingStream:
    """Stands in for CcxtStream: counts messages per subscription until cancelled."""

    instances: list[_CountingStream] = []

    def __init__(self, exchange, symbols, channels, level):
        self.subscriptions = [f"{exchange} {channel} {symbol}" for channel in channels for symbol in symbols]
        self.counts = dict.fromkeys(self.subscriptions, 0)
        self.cancelled = False
        self.level = level
        _CountingStream.instances.append(self)

    @property
    def metrics(self):
        metrics = StreamMetrics()
        for name, count in self.counts.items():
            exchange, channel, _ = name.split(" ", 2)
            subscription = metrics.of(name, exchange, channel)
            subscription.messages = count
            subscription.latencies_ms.append(2.0)
            subscription.last_receive = time.time() - 0.1
        return metrics

    async def run(self):
        try:
            while True:
                for name in self.counts:
                    self.counts[name] += 1
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def test_stream_runs_the_service_and_reports_per_subscription(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "zvt_ccxt.stream", types.SimpleNamespace(CcxtStream=_CountingStream))
    argv = ["stream", "-e", "binance", "-s", "BTC/USDT,ETH/USDT", "-c", "trades,ohlcv", "--duration", "0.3"]
    code, out, err = run(capsys, *argv, "--status", "plain", "--status-every", "0.1")
    assert code == 0
    stream = _CountingStream.instances[-1]
    assert stream.cancelled and stream.level == "1m" and len(stream.subscriptions) == 4
    assert out.startswith("stopped after 0.3 s: binance BTC/USDT, ETH/USDT (trades, ohlcv)")
    for name in stream.subscriptions:
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert f"{stream.counts[name]:,}" in line and "0.1s ago" in line
    assert "binance trades BTC/USDT" in err  # the live status view went to stderr while it ran
    code, _, err = run(capsys, "stream", "-e", "binance", "-s", "BTC/USDT", "-c", "candles")
    assert code == 2 and "unknown channel candles" in err


def test_the_stream_runs_on_uvloop_where_installed_and_asyncio_otherwise(capsys, monkeypatch):
    from zvt_ccxt.cli.commands.stream import event_loop_runner

    uvloop = pytest.importorskip("uvloop")
    assert event_loop_runner("auto") is uvloop.run and event_loop_runner("asyncio") is asyncio.run
    monkeypatch.setitem(sys.modules, "uvloop", None)  # not installed
    assert event_loop_runner("auto") is asyncio.run
    monkeypatch.setitem(sys.modules, "zvt_ccxt.stream", types.SimpleNamespace(CcxtStream=_CountingStream))
    code, _, err = run(capsys, "stream", "-e", "okx", "-s", "BTC/USDT", "--event-loop", "uvloop", "--duration", "1")
    assert code == 2 and err.strip().endswith("--event-loop uvloop: uvloop is not installed (pip install uvloop)")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_stream_reports_and_exits_130(capsys, monkeypatch, sent):
    monkeypatch.setitem(sys.modules, "zvt_ccxt.stream", types.SimpleNamespace(CcxtStream=_CountingStream))
    started = len(_CountingStream.instances)

    def press() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(_CountingStream.instances) > started and any(_CountingStream.instances[-1].counts.values()):
                break
            time.sleep(0.02)
        time.sleep(0.1)
        os.kill(os.getpid(), sent)

    presser = threading.Thread(target=press, daemon=True)
    presser.start()
    argv = ["stream", "-e", "okx", "-s", "BTC/USDT", "-c", "trades", "--duration", "60", "--status", "none"]
    code, out, _ = run(capsys, *argv)
    presser.join(5)
    assert code == 130
    assert out.startswith("interrupted: okx BTC/USDT (trades)") and _CountingStream.instances[-1].cancelled
    assert "okx trades BTC/USDT" in out  # the final metrics are still printed


def test_metrics_endpoint_serves_prometheus_text():
    stream = _CountingStream("okx", ["BTC/USDT"], ["trades"], "1m")
    stream.counts["okx trades BTC/USDT"] = 42

    async def scrape() -> tuple[int, str]:
        runner, port = await start_metrics_server(lambda: prometheus_text(stream), "127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as reply:
                return reply.status, await reply.text()
        finally:
            await runner.cleanup()

    status, text = asyncio.run(scrape())
    assert status == 200
    labels = 'exchange="okx",channel="trades",subscription="okx trades BTC/USDT"'
    assert f"zvt_ccxt_stream_messages_total{{{labels}}} 42" in text
    assert f'zvt_ccxt_stream_commit_latency_seconds{{{labels},quantile="0.5"}} 0.002000' in text


@pytest.mark.usefixtures("database")
@pytest.mark.parametrize("event_loop", ["asyncio", "uvloop"])
def test_stream_command_writes_live_trades_and_stops_cleanly_on_ctrl_c(store, capsys, event_loop):
    """The real CcxtStream against the local websocket exchange, on either event loop; SIGINT (Ctrl-C) flushes and
    exits with 130."""
    if event_loop == "uvloop":
        pytest.importorskip("uvloop")
    from zvt_ccxt.domain import CryptoTrade
    from zvt_ccxt.store.engines import engine_for
    from zvt_ccxt_testkit import simulated_streams
    from zvt_ccxt_testkit.simulator.ws import TRADES

    played = 300

    def stream_trades() -> int:
        from sqlalchemy import text

        with engine_for(CryptoTrade).connect() as connection:
            sql = text("SELECT COUNT(*) FROM crypto_trade WHERE entity_id = :e AND source = 'stream'")
            return connection.execute(sql, {"e": "cryptopair_binance_btcusdt"}).scalar()

    def operator(ws, stop: threading.Event) -> None:
        """Plays trades once the stream has subscribed, then presses Ctrl-C when they are all stored."""
        while not stop.is_set() and ws.subscribed("binance", TRADES) < 1:
            time.sleep(0.02)
        ws.play("binance", "BTC/USDT", played, rate=2_000)
        while not stop.is_set() and stream_trades() < played:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    with simulated_streams(SIM_NOW) as ws:
        stop = threading.Event()
        watcher = threading.Thread(target=operator, args=(ws, stop), daemon=True)
        watcher.start()
        try:  # --duration only bounds a broken run; Ctrl-C ends a working one
            code, out, err = run(
                capsys, "stream", "-e", "binance", "-s", "BTC/USDT", "-c", "trades", "--duration", "120",
                "--status", "plain", "--status-every", "0.2", "--event-loop", event_loop,
            )  # fmt: skip
        finally:
            stop.set()
            watcher.join(10)
    assert code == 130, err
    assert stream_trades() == played
    final = out.splitlines()
    assert final[0] == "interrupted: binance BTC/USDT (trades)"
    assert any(line.startswith("binance trades") and f" {played:,} " in line for line in final[1:]), out
    assert err.count("subscription") >= 1  # the status view ran while it streamed


# -- the installed console script ------------------------------------------------------------------------


def console_script() -> Path:
    script = Path(sys.executable).parent / "zvt-ccxt"
    assert script.exists(), "zvt-ccxt is not installed: pip install -e ."
    return script


def test_console_script_records_offline_from_a_bundled_cassette(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ZVT_CCXT_", "CRYPTO_API_"))}
    environment["ZVT_HOME"] = str(tmp_path / "home")
    argv = [str(console_script()), "record", "--exchange", "okx", "--symbols", "BTC/USDT", "--level", "1h"]
    result = subprocess.run(
        [*argv, "--since", "60d", "--replay", "okx-backfill"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"{OKX_BARS:,} rows written for 1 symbol" in result.stdout
    # replayed data is kept apart from the live store, and the run says so
    synthetic_home = tmp_path / "home" / "synthetic"
    assert (synthetic_home / "data" / "ccxt").is_dir() and not (tmp_path / "home" / "data" / "ccxt").exists()
    assert f"synthetic data (replayed from a cassette), not exchange history: stored apart from the live store, " \
           f"under {synthetic_home}" in result.stdout
    shown = subprocess.run(
        [str(console_script()), "coverage", "--exchange", "okx"],
        capture_output=True,
        text=True,
        env={**environment, "ZVT_HOME": str(synthetic_home)},
        timeout=300,
    )
    row = next(line for line in shown.stdout.splitlines() if line.startswith("cryptopair_okx_btcusdt"))
    assert shown.returncode == 0 and row.split()[-1] == "replay"

    asked = subprocess.run(
        [*argv, "--since", "60d", "--replay", "okx-backfill", "--into-store", "--progress", "none"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert asked.returncode == 0, asked.stderr
    assert (tmp_path / "home" / "data" / "ccxt").is_dir()
    assert "stored with its windows marked 'replay': a live run fetches them again" in asked.stdout

    failed = subprocess.run(
        [str(console_script()), "coverage", "--exchange", "okx", "--level", "7h"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert failed.returncode == 2 and len(failed.stderr.strip().splitlines()) == 1
