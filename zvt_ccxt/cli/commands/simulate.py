"""``zvt-ccxt simulate``: the test kit's local exchanges (REST and websockets), to try record and stream offline."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from zvt_ccxt.cli.common import EXIT_OK, SYNTHETIC_HOME, CommandUnavailable

EXAMPLES = """\
examples:
  zvt-ccxt simulate                                   # until Ctrl-C; prints how to point zvt-ccxt at it
  zvt-ccxt simulate --env-file sim.env --trades-per-second 50

then, in another shell:
  . sim.env                                           # the file it names (ZVT_CCXT_<EXCHANGE>_OPTIONS and
                                                      #   ZVT_CCXT_SOURCE=simulator)
  zvt-ccxt record --exchange binance --symbols BTC/USDT --level 1h --since 2d
  zvt-ccxt stream --exchange binance --symbols BTC/USDT --channels trades,ohlcv

binance, okx, bybit and coinbase on 127.0.0.1, speaking their real REST and websocket formats with synthetic
prices. What a pointed process records is marked `simulator` in coverage and goes to $ZVT_HOME/synthetic, apart
from live data. Needs the test kit: pip install zvt-ccxt-testkit (from a checkout: pip install -e ./testkit).
exit status: 130 when stopped by Ctrl-C or SIGTERM, 0 after --duration, 2 without the test kit."""

TESTKIT_MISSING = (
    "the local exchange simulator is part of the test kit: pip install zvt-ccxt-testkit "
    "(from a checkout: pip install -e ./testkit)"
)


def register(subparsers, parents) -> None:
    parser = subparsers.add_parser(
        "simulate",
        parents=parents,
        help="run local exchanges (REST and websockets, synthetic data) to try record and stream offline",
        description="Start the test kit's local exchange simulator and print the environment pointing zvt-ccxt at it.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        help=f"where to write the environment (default: $ZVT_HOME/{SYNTHETIC_HOME}/simulator.env)",
    )
    parser.add_argument(
        "--trades-per-second", type=float, default=20.0, metavar="N", help="trades each played market makes (20)"
    )
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: Ctrl-C)")
    parser.set_defaults(run=run, load_package=False)  # the simulator needs neither zvt nor the store


def run(args: argparse.Namespace) -> int:
    try:
        from zvt_ccxt_testkit.serve import EXCHANGES, serving, shell_lines
    except ImportError:
        raise CommandUnavailable(TESTKIT_MISSING) from None
    from zvt_ccxt import interrupts
    from zvt_ccxt.config import zvt_home

    env_file = args.env_file or zvt_home() / SYNTHETIC_HOME / "simulator.env"
    with interrupts.handled(), serving(trades_per_second=args.trades_per_second) as served:
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.write_text("\n".join(shell_lines(served.environment)) + "\n", encoding="utf-8")
        print(f"local exchanges: {', '.join(EXCHANGES)}; REST on {served.base_url}, websockets on {served.ws.ws_url}")
        print("synthetic prices, not exchange history; the simulator's clock follows the real one")
        print(f"point zvt-ccxt at them (in another shell): . {env_file}")
        print("  zvt-ccxt record --exchange binance --symbols BTC/USDT --level 1h --since 2d")
        print("  zvt-ccxt stream --exchange binance --symbols BTC/USDT --channels trades,ohlcv")
        print(f"what it records is marked 'simulator' and goes to $ZVT_HOME/{SYNTHETIC_HOME}; Ctrl-C stops", flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while deadline is None or time.monotonic() < deadline:
            interrupts.sleep(0.2)  # raises KeyboardInterrupt on Ctrl-C or SIGTERM
    return EXIT_OK
