"""``zvt-ccxt stream``: the live service (``zvt_ccxt.stream.CcxtStream``) with a compact status view."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from zvt_ccxt import levels
from zvt_ccxt.cli.common import (
    EXIT_INTERRUPTED,
    CommandUnavailable,
    UsageError,
    add_exchange_option,
    add_replay_option,
    exchange_traffic,
    split_list,
    synthetic_note,
    synthetic_source,
)
from zvt_ccxt.cli.status import StatusView, prometheus_text, start_metrics_server, subscription_rows

CHANNELS = ("trades", "ohlcv", "orderbook", "funding")
EVENT_LOOPS = ("auto", "asyncio", "uvloop")
T = TypeVar("T")

EXAMPLES = """\
examples:
  zvt-ccxt stream --exchange binance --symbols BTC/USDT,ETH/USDT --channels trades,ohlcv,orderbook
  zvt-ccxt stream --exchange okx --symbols BTC/USDT:USDT --channels trades,funding --metrics-port 9108
  zvt-ccxt stream --exchange bybit --symbols BTC/USDT --channels ohlcv --level 1m --duration 600
  zvt-ccxt stream --exchange binance --symbols BTC/USDT,ETH/USDT,LUNA/USDT --shard 1/2   # and 2/2 elsewhere

Rows go to the same tables the recorders write (query them with zvt while it runs). Ctrl-C or SIGTERM
flushes what is buffered and exits with status 130 (a second Ctrl-C stops without waiting); the final
per-subscription metrics are printed. --duration ends the run with status 0. --replay serves the REST part
(markets, repairs) from a cassette; websocket frames always come from the exchange.

--shard i/n streams the i-th of n parts of --symbols (the same split in every process given the same list),
so n processes or machines share one list and write into the same store; each publishes its metrics and
`zvt-ccxt stream-status` shows all shards together."""


def register(subparsers, parents) -> None:
    parser = subparsers.add_parser(
        "stream",
        parents=parents,
        help="run the live websocket service into zvt's tables, with a status view",
        description="Stream trades, candles, order books and funding into zvt's store until stopped.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_exchange_option(parser)
    parser.add_argument("--symbols", "-s", action="append", required=True, metavar="LIST", help="comma-separated")
    parser.add_argument(
        "--channels", "-c", action="append", metavar="LIST", help=f"comma-separated, of {', '.join(CHANNELS)}"
    )
    parser.add_argument("--level", "-l", default="1m", choices=levels.BAR_LEVELS, help="candle level (default 1m)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: never)")
    parser.add_argument(
        "--status",
        choices=("auto", "live", "plain", "none"),
        default="auto",
        help="auto: a table redrawn in place on a terminal, plain lines elsewhere",
    )
    parser.add_argument(
        "--status-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="status refresh (default: 1 s live, 10 s plain)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (0: any free port)",
    )
    parser.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST", help="default 127.0.0.1")
    parser.add_argument(
        "--shard", metavar="I/N", help="stream only the I-th of N parts of --symbols (1 <= I <= N), e.g. 1/2"
    )
    parser.add_argument(
        "--shard-weights",
        metavar="SYMBOL=W,...",
        help="each symbol's share of the messages (e.g. trades a minute; 1 when not given): --shard balances these, "
        "heaviest first, so the shards carry similar rates; give every shard the same weights",
    )
    parser.add_argument(
        "--shard-status-dir",
        metavar="DIR",
        help="where a shard publishes its metrics for stream-status (default $ZVT_HOME/stream-shards)",
    )
    parser.add_argument(
        "--event-loop",
        choices=EVENT_LOOPS,
        default="auto",
        help="auto (default): uvloop where it is installed (ccxt's own dependency on Linux and macOS), else asyncio's",
    )
    add_replay_option(parser)
    parser.set_defaults(run=run)


def event_loop_runner(name: str = "auto") -> Callable[[Coroutine[Any, Any, T]], T]:
    """What runs the stream's coroutine to its end: ``asyncio.run``, or uvloop's (the same stream takes less CPU
    a frame on it); ``auto`` picks uvloop where it is installed. A missing uvloop asked for by name is a usage
    error."""
    if name == "asyncio":
        return asyncio.run
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise UsageError("--event-loop uvloop: uvloop is not installed (pip install uvloop)") from None
        return asyncio.run
    return uvloop.run


def _stream_class():
    try:
        from zvt_ccxt.stream import CcxtStream
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("zvt_ccxt.stream"):
            raise CommandUnavailable(
                "live streaming is not available: this installation has no zvt_ccxt.stream"
            ) from None
        raise CommandUnavailable(f"live streaming needs {error.name}, which is not installed") from None
    except ImportError as error:
        raise CommandUnavailable(f"live streaming is not available: {error}") from None
    return CcxtStream


INTERRUPTED = "interrupted"
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _serve(stream, args: argparse.Namespace, view: StatusView | None) -> str:
    """Run the stream, showing its status, until it ends, is interrupted or ``--duration`` passes; says which."""
    loop = asyncio.get_running_loop()
    runner = None
    if args.metrics_port is not None:
        runner, port = await start_metrics_server(lambda: prometheus_text(stream), args.metrics_host, args.metrics_port)
        print(f"metrics: http://{args.metrics_host}:{port}/metrics", file=sys.stderr, flush=True)
    task = asyncio.ensure_future(stream.run())
    signals: list[int] = []

    def on_signal(number: int) -> None:
        if signals:  # a second Ctrl-C: stop without waiting for the flush
            task.cancel()
            return
        signals.append(number)
        stop = getattr(stream, "stop", None)
        if callable(stop):
            stop()
        else:
            task.cancel()

    # CcxtStream installs its own SIGINT/SIGTERM handlers (they stop it) in its first step; taking them over
    # once it has taken that step lets this command tell an interrupt from an ordinary end
    await asyncio.sleep(0)
    installed = []
    for number in _SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(number, on_signal, number)
            installed.append(number)
    every = args.status_every or (1.0 if view is not None and view.live else 10.0)
    deadline = None if args.duration is None else loop.time() + args.duration
    ending = "stopped"
    try:
        while not task.done():
            wait = every if deadline is None else max(0.0, min(every, deadline - loop.time()))
            await asyncio.wait({task}, timeout=wait)
            if view is not None and not task.done():
                view.show(subscription_rows(stream))
            if deadline is not None and loop.time() >= deadline and not task.done():
                ending = f"stopped after {args.duration:g} s"
                break
    finally:
        await _stop(stream, task)
        if runner is not None:
            await runner.cleanup()
        for number in installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(number)
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()
    return INTERRUPTED if signals else ending


async def _stop(stream, task: asyncio.Future, grace: float = 30.0) -> None:
    """Ask the stream to flush and exit (``stop()``), cancelling it only if it does not within ``grace`` seconds."""
    if task.done():
        return
    stop = getattr(stream, "stop", None)
    if callable(stop):
        stop()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), grace)
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run(args: argparse.Namespace) -> int:
    symbols = split_list(args.symbols)
    channels = split_list(args.channels) or ["trades", "ohlcv"]
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise UsageError(f"unknown channel {', '.join(unknown)}: use {', '.join(CHANNELS)}")
    if not symbols:
        raise UsageError("say which markets: --symbols BTC/USDT,ETH/USDT")
    stream_class = _stream_class()
    run_loop = event_loop_runner(args.event_loop)
    live = args.status == "live" or (args.status == "auto" and sys.stderr.isatty())
    view = None
    if args.status != "none":
        view = StatusView(sys.stderr, live, plain_every=args.status_every or 10.0)
    with exchange_traffic(args.replay):
        sharding = {}
        if args.shard is not None:
            from zvt_ccxt.errors import ZvtCcxtError
            from zvt_ccxt.stream.shards import parse_shard, shard_symbols

            try:
                shard_symbols(symbols, parse_shard(args.shard), args.shard_weights)
            except ZvtCcxtError as error:
                raise UsageError(str(error)) from None
            sharding = {"shard": args.shard, "shard_status_dir": args.shard_status_dir}
            if args.shard_weights:
                sharding["shard_weights"] = args.shard_weights
        stream = stream_class(exchange=args.exchange, symbols=symbols, channels=channels, level=args.level, **sharding)
        try:
            ending = run_loop(_serve(stream, args, view))
        except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C before the handlers above were in place
            ending = INTERRUPTED
    part = "" if args.shard is None else f" shard {args.shard}"
    print(f"{ending}: {args.exchange}{part} {', '.join(getattr(stream, 'symbols', symbols))} ({', '.join(channels)})")
    print(StatusView(sys.stdout, live=False, plain_every=0).table(subscription_rows(stream)))
    source = synthetic_source(args)
    note = synthetic_note(source, getattr(args, "synthetic_home", None)) if source else None
    if note:
        print(note)
    return EXIT_INTERRUPTED if ending == INTERRUPTED else 0
