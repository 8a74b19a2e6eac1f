"""Streaming measurements (benchmarks 4 to 6): a zvt-ccxt ``CcxtStream`` reading the replay server into SQLite.

Each runs in its own process (``benchmarks.harness.run_child``). Completion is the moment every replayed
trade is committed to the database, so the rates are end to end.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import time

from benchmarks.backfill import _profile_lines

#: what each exchange's replay holds, as ccxt symbols (zvt-ccxt) and cryptofeed symbols
SYMBOLS = {
    "binance": ["SUSHI/USDT:USDT", "AKRO/USDT:USDT", "KEEP/USDT:USDT", "CTK/USDT:USDT"],
    "okx": ["BTC/USDT", "UNI/USD:UNI"],
}
CRYPTOFEED_SYMBOLS = {
    "binance": ["SUSHI-USDT-PERP", "AKRO-USDT-PERP", "KEEP-USDT-PERP", "CTK-USDT-PERP"],
    "okx": ["BTC-USDT", "UNI-USD-PERP"],
}


def _hook(base_url: str, ws_url: str):
    from zvt_ccxt_testkit.simulator import repoint

    def hook(exchange) -> None:
        api = exchange.urls.get("api")
        if isinstance(api, dict) and "ws" in api:  # a ccxt.pro client: its websockets too
            if exchange.id == "binance":
                # ccxt before 4.5.86 names the USD-M socket "future", later releases "linear"
                api["ws"].update({key: f"{ws_url}/binance/ws" for key in ("future", "linear", "spot")})
            elif exchange.id == "okx":
                api["ws"] = f"{ws_url}/okx/ws/v5"
        repoint(exchange, base_url)
        exchange.enableRateLimit = False

    return hook


def _is_data_frame(exchange: str, message: object) -> bool:
    """A replayed trade or candle frame (not a subscription answer or a heartbeat)."""
    if not isinstance(message, dict):
        return False
    if exchange == "binance":
        return (message.get("data") or message).get("e") in ("aggTrade", "kline")
    return "data" in message and "arg" in message


def ccxt_pro_alone(
    base_url: str, ws_url: str, exchange: str, frames: int, parse: bool, timeout_s: float = 120,
    options: dict | None = None, event_loop: str = "asyncio",
) -> dict:
    """ccxt.pro by itself on the replayed frames, nothing stored: the ceilings under the stream.

    ``parse=False`` counts each frame as ccxt's connection hands it over and drops it (the transport: aiohttp,
    ccxt's receive loop, JSON decoding); ``parse=True`` also runs ccxt's own handler (parsing every trade and
    candle into its caches and resolving the watches), which is all the stream gets from ccxt. ``options``:
    ccxt options over the stream's (``{"options": {"ws": {"compress": 15}}}``: ccxt's own default). ``event_loop``:
    as ``zvt-ccxt stream --event-loop`` takes it, so a ceiling runs on the loop of the stream it is compared with."""
    seen = {"frames": 0, "last": 0.0}

    async def scenario() -> None:
        client = ProClient(exchange, options).exchange  # configured as the stream's (options, hooks, frame tap)
        original = client.handle_message

        def handle_message(connection, message):
            if _is_data_frame(exchange, message):
                seen["frames"] += 1
                seen["last"] = time.time()
                if not parse:
                    return None
            return original(connection, message)

        client.handle_message = handle_message
        symbols = SYMBOLS[exchange]
        watches = [lambda: client.watch_trades_for_symbols(symbols)]
        if exchange == "binance":
            watches.append(lambda: client.watch_ohlcv_for_symbols([[s, "1m"] for s in symbols]))

        async def keep_watching(watch) -> None:
            while True:
                await watch()

        tasks = [asyncio.ensure_future(keep_watching(w)) for w in watches]
        deadline = time.time() + timeout_s
        try:
            while seen["frames"] < frames and time.time() < deadline and not any(t.done() for t in tasks):
                await asyncio.sleep(0.005)
        finally:
            failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
            if failed:
                seen["error"] = repr(failed[0].exception())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()

    from zvt_ccxt.cli.commands.stream import event_loop_runner
    from zvt_ccxt.exchange.client import client_hook
    from zvt_ccxt.stream.client import ProClient

    with client_hook(_hook(base_url, ws_url)):
        event_loop_runner(event_loop)(scenario())
    return {"frames": seen["frames"], "last_frame": seen["last"], "error": seen.get("error")}


def _shares(profiler: cProfile.Profile) -> dict[str, float]:
    """Own time of the event-loop thread by package: ccxt, zvt_ccxt, aiohttp + asyncio, the rest."""
    totals: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in pstats.Stats(profiler).stats.items():
        group = next((g for g in ("ccxt", "zvt_ccxt", "aiohttp", "asyncio") if f"/{g}/" in filename), "other")
        group = "aiohttp + asyncio" if group in ("aiohttp", "asyncio") else group
        totals[group] = totals.get(group, 0.0) + own
    whole = sum(totals.values()) or 1.0
    return {group: value / whole for group, value in sorted(totals.items(), key=lambda item: -item[1])}


def _slow_writes(milliseconds: float) -> None:
    """Every batch the stream writes waits ``milliseconds`` first: a database that has fallen behind."""
    from zvt_ccxt.store import writer

    original = writer.upsert_many

    def slow(*args, **kwargs):
        time.sleep(milliseconds / 1000)
        return original(*args, **kwargs)

    writer.upsert_many = slow  # before the stream starts: its write process, forked, looks the write up by name


def stream(
    base_url: str,
    ws_url: str,
    exchange: str,
    expect_trades: int,
    flush_interval: float | None = None,
    slow_write_ms: float = 0.0,
    timeout_s: float = 300.0,
    idle_s: float = 20.0,
    profile: bool = False,
    db_url: str | None = None,
) -> dict:
    """Stream trades and 1m candles of the replayed symbols until ``expect_trades`` trade rows are committed
    (into ``db_url``'s database when given: PostgreSQL, else the SQLite files)."""
    import os

    if db_url:
        os.environ["ZVT_CCXT_DB_URL"] = db_url
    from benchmarks.harness import peak_rss_mb
    from zvt_ccxt.exchange.client import client_hook
    from zvt_ccxt.stream import CcxtStream

    rss_before = peak_rss_mb()
    if slow_write_ms:
        _slow_writes(slow_write_ms)
    channels = ["trades", "ohlcv"] if exchange == "binance" else ["trades"]
    tuning = {} if flush_interval is None else {"flush_interval": flush_interval}  # None: the stream's default
    stream = CcxtStream(exchange, SYMBOLS[exchange], channels, "1m", stall_after=60, stall_factor=1e6, **tuning)

    async def scenario() -> dict:
        task = asyncio.ensure_future(stream.run())
        await stream.wait_ready(timeout=60)
        deadline = time.time() + timeout_s
        last_rows, last_progress = -1, time.time()
        while not task.done() and time.time() < deadline:
            rows = stream.metrics.total("rows", "trades")
            if rows >= expect_trades:
                break
            if rows != last_rows:
                last_rows, last_progress = rows, time.time()
            elif rows and time.time() - last_progress > idle_s:  # nothing committed for a while: the rest is lost
                break
            await asyncio.sleep(0.005)
        finished = time.time()
        stream.stop()
        await task
        return {"finished": finished, "last_commit": last_progress if last_rows < expect_trades else finished}

    profiler = cProfile.Profile() if profile else None
    with client_hook(_hook(base_url, ws_url)):
        if profiler:
            profiler.enable()
        outcome = asyncio.run(scenario())
        if profiler:
            profiler.disable()
    if profiler:
        outcome["profile"] = _profile_lines(profiler, top=14)
        outcome["profile_shares"] = _shares(profiler)
    report = stream.report()
    trades = [s for s in report["subscriptions"] if s["channel"] == "trades"]
    return {
        **outcome,
        "rss_before_mb": rss_before,
        "trade_rows": stream.metrics.total("rows", "trades"),
        "rows": report["rows"],
        "frames": report["frames"],
        "gaps": stream.metrics.total("gaps"),
        "gaps_repaired": stream.metrics.total("gaps_repaired"),
        "repaired_rows": stream.metrics.total("repaired_rows"),
        "drops": stream.metrics.total("drops"),
        "reconnects": stream.metrics.total("reconnects"),
        "latency_p50_ms": max((s["latency_p50_ms"] or 0) for s in trades) if trades else None,
        "latency_p99_ms": max((s["latency_p99_ms"] or 0) for s in trades) if trades else None,
        "latencies_ms": [x for sub in stream.metrics.subscriptions.values() if sub.channel == "trades"
                         for x in sub.latencies_ms],
    }
