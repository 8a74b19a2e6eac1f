"""``zvt-ccxt stream-status``: the metrics of every shard of a sharded stream (``stream --shard i/n``) together."""

from __future__ import annotations

import argparse
import sys
import time

from zvt_ccxt.cli.common import add_exchange_option

EXAMPLES = """\
examples:
  zvt-ccxt stream-status
  zvt-ccxt stream-status --exchange binance

--watch SECONDS redraws the table until Ctrl-C.

Each `zvt-ccxt stream --shard i/n` process publishes its metrics every 2 s to a status directory
($ZVT_HOME/stream-shards, or --shard-status-dir / $ZVT_CCXT_SHARD_STATUS: a directory all shards reach when
they run on several machines). This command reads them all: one line per shard (msgs/s since it started,
messages, rows, gaps, drops, worst p99 latency, when it last published) and the sum over all shards."""

HEADERS = ("exchange", "shard", "host", "pid", "state", "symbols", "msgs/s", "messages", "rows", "reconnects",
           "gaps", "drops", "p99 ms", "updated")


def register(subparsers, parents) -> None:
    parser = subparsers.add_parser(
        "stream-status",
        parents=parents,
        help="show the metrics of all shards of a sharded stream together",
        description="Read what every `stream --shard i/n` process published and show it as one table with totals.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_exchange_option(parser, required=False, help_text="only the shards of this exchange")
    parser.add_argument("--shard-status-dir", metavar="DIR", help="where the shards publish (default: see below)")
    parser.add_argument("--watch", type=float, metavar="SECONDS", help="redraw every SECONDS until Ctrl-C")
    parser.set_defaults(run=run)


def _table(view: dict) -> str:
    from zvt_ccxt.cli.tables import render

    def rounded(value, digits=1):
        return None if value is None else round(value, digits)

    lines = [
        [r["exchange"], r["shard"], r["host"], r["pid"], r["state"], r["symbols"], rounded(r["msgs_per_s"]),
         r["messages"], r["rows"], r["reconnects"], r["gaps"], r["drops"], rounded(r["latency_p99_ms"]),
         None if r["updated_s_ago"] is None else f"{r['updated_s_ago']:.0f}s ago"]
        for r in view["shards"]
    ]
    total = view["total"]
    lines.append(["all", f"{total['shards']} shards", None, None, None, total["symbols"],
                  rounded(total["msgs_per_s"]), total["messages"], total["rows"], total["reconnects"],
                  total["gaps"], total["drops"], rounded(total["latency_p99_ms"]), None])
    return render(lines, HEADERS)


def run(args: argparse.Namespace) -> int:
    from zvt_ccxt.stream.shards import combined, read_shards, status_dir

    where = status_dir(args.shard_status_dir)
    while True:
        shards = read_shards(args.exchange, args.shard_status_dir)
        if shards:
            text = _table(combined(shards))
        else:
            text = f"no sharded stream has published to {where} yet (start one with `zvt-ccxt stream --shard 1/2 ...`)"
        print(text, flush=True)
        if not args.watch:
            return 0
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0
        print(file=sys.stdout)
