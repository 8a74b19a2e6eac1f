"""``zvt-ccxt capabilities``: which exchange offers which data, historical (REST) and live (websocket)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from zvt_ccxt.cli.common import split_list
from zvt_ccxt.cli.tables import csv_text, markdown, render_frame
from zvt_ccxt.exchange.profiles import PROFILES

if TYPE_CHECKING:
    import pandas as pd

#: the exchanges with a profile of their own
DEFAULT_EXCHANGES = tuple(PROFILES)

#: data type -> (ccxt REST method for history, ccxt.pro method for live)
DATA_METHODS = {
    "klines": ("fetchOHLCV", "watchOHLCV"),
    "trades": ("fetchTrades", "watchTrades"),
    "orderbook": ("fetchOrderBook", "watchOrderBook"),
    "funding": ("fetchFundingRateHistory", "watchFundingRate"),
    "oi": ("fetchOpenInterestHistory", "watchOpenInterest"),
}

EXAMPLES = """\
examples:
  zvt-ccxt capabilities                               # binance, okx, bybit, coinbase
  zvt-ccxt capabilities --exchanges kraken,gate --format markdown
  zvt-ccxt capabilities --exchange coinbase --detail       # why: the notes behind each answer

historical: history over REST; recent: only the latest data over REST; live: a websocket stream.
Read from ccxt's own metadata plus zvt-ccxt's corrections where ccxt's is wrong; no network."""


def register(subparsers, parents) -> None:
    parser = subparsers.add_parser(
        "capabilities",
        parents=parents,
        help="the exchange x data-type table (historical / live)",
        description="Which data each exchange offers: historical over REST, live over websockets.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--exchanges", "--exchange", "-e", action="append", metavar="LIST", help="comma-separated exchange ids"
    )
    parser.add_argument("--format", "-f", choices=("table", "markdown", "csv"), default="table")
    parser.add_argument("--detail", action="store_true", help="one row per (exchange, data type), with the reasons")
    parser.set_defaults(run=run)


def from_ccxt(exchanges: list[str]) -> pd.DataFrame:
    """One row per exchange, one column per data type: ``historical+live``, ``historical``, ``live`` or ``-``."""
    import ccxt
    import ccxt.pro
    import pandas as pd

    from zvt_ccxt.exchange.client import check_exchange_id

    rows = []
    for exchange_id in exchanges:
        check_exchange_id(exchange_id)
        rest = getattr(ccxt, exchange_id)().has
        live_class = getattr(ccxt.pro, exchange_id, None)
        live = live_class().has if live_class is not None else {}
        row = {"exchange": exchange_id}
        for data, (rest_method, live_method) in DATA_METHODS.items():
            kinds = [
                name for name, ok in (("historical", rest.get(rest_method)), ("live", live.get(live_method))) if ok
            ]
            row[data] = "+".join(kinds) or "-"
        rows.append(row)
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """The library's long table (exchange, data_type, historical, recent, live) as one row per exchange."""
    import pandas as pd

    rows: dict[str, dict[str, str]] = {}
    for record in table.to_dict("records"):
        kinds = []
        if record.get("historical"):
            kinds.append("historical")
        elif record.get("recent"):
            kinds.append("recent")
        if record.get("live"):
            kinds.append("live")
        rows.setdefault(record["exchange"], {"exchange": record["exchange"]})[record["data_type"]] = (
            "+".join(kinds) or "-"
        )
    return pd.DataFrame(list(rows.values()))


def capability_frame(exchanges: list[str] | None, detail: bool = False) -> pd.DataFrame:
    """The library's table (``zvt_ccxt.capabilities``) when it has one, else one read from ccxt's metadata."""
    import zvt_ccxt

    library_table = getattr(zvt_ccxt, "capabilities", None)
    if not callable(library_table):
        return from_ccxt(exchanges or list(DEFAULT_EXCHANGES))
    table = library_table(exchanges) if exchanges else library_table()
    return table if detail else summarise(table)


def run(args: argparse.Namespace) -> int:
    frame = capability_frame(split_list(args.exchanges) or None, detail=args.detail)
    if args.format == "markdown":
        print(markdown(frame))
    elif args.format == "csv":
        print(csv_text(frame), end="")
    else:
        print(render_frame(frame))
    return 0
