"""Quickstart: OKX spot and perpetual markets, then 60 days of hourly BTC/USDT candles, into zvt's store.

    python examples/quickstart.py            # live when okx.com is reachable, else the bundled cassette
    python examples/quickstart.py --replay   # always offline, from the bundled cassette okx-backfill

Data goes to zvt's store under $ZVT_HOME (default ~/zvt-home); run it twice and the second run fetches
only what is new. Charts of the last week go to examples/output/ (HTML, and PNG when matplotlib is installed).
The notebook examples/01-quickstart.ipynb walks through the same steps.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from pathlib import Path

import pandas as pd

import zvt_ccxt
from zvt_ccxt import clock
from zvt_ccxt.domain import CryptoPair, CryptoPair1hKdata, CryptoPerp
from zvt_ccxt.replay import replay

#: bundled with zvt-ccxt (zvt_ccxt/cassettes), so the script runs offline from an installed wheel too
CASSETTE = "okx-backfill"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # charts.py beside this file


def okx_reachable(timeout: float = 3.0) -> bool:
    try:
        socket.create_connection(("www.okx.com", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay", action="store_true", help="serve OKX from the bundled cassette")
    args = parser.parse_args(argv)
    offline = args.replay or not okx_reachable()
    mode = replay(CASSETTE) if offline else contextlib.nullcontext()
    print(f"okx: {'replaying ' + CASSETTE if offline else 'live'}")

    with mode:
        # "now" is the recording instant when replaying, the real clock otherwise
        start = pd.Timestamp(clock.now_ms(), unit="ms").floor("D") - pd.Timedelta(days=60)
        print(CryptoPair.record_data(provider="ccxt", exchange="okx"))
        print(CryptoPerp.record_data(provider="ccxt", exchange="okx"))
        summary = CryptoPair1hKdata.record_data(
            provider="ccxt", exchange="okx", codes=["btcusdt"], start_timestamp=start
        )
        print(summary)

    df = CryptoPair1hKdata.query_data(provider="ccxt", codes=["btcusdt"], index="timestamp")
    print(f"\n{len(df)} hourly bars of BTC/USDT on okx, {df.index.min()} .. {df.index.max()} UTC")
    print(df[["open", "high", "low", "close", "volume", "turnover", "change_pct"]].tail(5).to_string())
    report = zvt_ccxt.coverage_report(CryptoPair1hKdata, exchange="okx", codes=["btcusdt"])
    columns = ["entity_id", "bars", "expected_bars", "no_trading_bars", "failed_bars"]
    print("\ncoverage:\n" + report[columns].to_string())
    write_charts(df)
    return 0 if summary.ok else 1


def write_charts(df: pd.DataFrame) -> None:
    """The last 7 days as candlesticks with volume: HTML (plotly, a zvt dependency) and PNG (needs matplotlib)."""
    from charts import output_dir, save_candles_html, save_candles_png

    week = df[df.index >= df.index.max() - pd.Timedelta(days=7)]
    title = "BTC/USDT 1h on okx (UTC)"
    print(f"\nchart: {save_candles_html(week, output_dir() / 'quickstart-btcusdt-1h.html', title)}")
    try:
        print(f"chart: {save_candles_png(week, output_dir() / 'quickstart-btcusdt-1h.png', title)}")
    except ImportError:
        print("chart: no PNG (pip install matplotlib for one)")


if __name__ == "__main__":
    sys.exit(main())
