"""One recording run in a process of its own, against a simulator another process serves.

The subject of the kill and concurrency checks: ``ZVT_HOME`` comes from the environment (set it before
starting), the clock is frozen at ``--now-ms``, every client talks to ``--base-url``. Prints one JSON line
(ok, rows, errors) and exits 0 when every symbol was recorded without a failed window.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zvt_ccxt_testkit.reliability.child", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--now-ms", type=int, required=True)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--symbols", required=True, help="comma-separated ccxt symbols")
    parser.add_argument("--level", default="1m")
    parser.add_argument("--start-ms", type=int, required=True)
    parser.add_argument("--page-cap", type=int, default=None)
    parser.add_argument("--start-after", type=Path, help="once imported, write FILE.<pid>.ready and wait for FILE")
    args = parser.parse_args(argv)

    import zvt_ccxt  # noqa: F401  (ZVT_HOME is already in the environment)
    from zvt_ccxt import clock
    from zvt_ccxt.domain import kdata_schema
    from zvt_ccxt.exchange.client import client_hook
    from zvt_ccxt_testkit.reliability.harness import retry_policy
    from zvt_ccxt_testkit.simulated_exchanges import pointing_hook

    schema = kdata_schema("cryptopair", args.level)
    if args.start_after:  # every writer starts recording at the same moment, after its slow import
        Path(f"{args.start_after}.{os.getpid()}.ready").touch()
        deadline = time.monotonic() + 120
        while not args.start_after.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    with retry_policy(), clock.frozen(args.now_ms), client_hook(pointing_hook(args.base_url, page_cap=args.page_cap)):
        summary = schema.record_data(
            provider="ccxt", exchange=args.exchange, symbols=args.symbols.split(","), start_timestamp=args.start_ms
        )
    errors = [r.error for r in summary.results if r.error]
    print(json.dumps({"ok": summary.ok, "rows": summary.rows, "errors": errors}), flush=True)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
