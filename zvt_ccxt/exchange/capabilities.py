"""Which exchange offers which data: history over REST, the current state over REST, and live over ccxt.pro.

Read from ccxt's ``has`` tables and corrected by the exchange's profile (``ExchangeProfile.capability_facts``)
where ``has`` is wrong or silent (bybit's trades are recent only; okx keeps 1,440 periods of open interest).
``capabilities()`` returns the table; ``require`` raises ``CapabilityNotSupportedError`` naming exchange and
capability; and ``to_markdown`` renders the tables that ``python -m zvt_ccxt_testkit.write_capabilities`` writes to
``docs/capabilities.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import ccxt
import pandas as pd

from zvt_ccxt.errors import CapabilityNotSupportedError
from zvt_ccxt.exchange.profiles import PROFILES, profile_for

MODES = ("historical", "recent", "live")
#: the exchanges with a profile: studied, and tested against their wire formats
TESTED_EXCHANGES = tuple(PROFILES)

#: data type -> (what it is called in messages, the ccxt method behind each mode)
DATA_TYPES: dict[str, tuple[str, dict[str, str | None]]] = {
    "ohlcv": ("candles", {"historical": "fetchOHLCV", "recent": "fetchOHLCV", "live": "watchOHLCV"}),
    "trades": ("trades", {"historical": "fetchTrades", "recent": "fetchTrades", "live": "watchTrades"}),
    "funding": (
        "funding rates",
        {"historical": "fetchFundingRateHistory", "recent": "fetchFundingRate", "live": "watchFundingRate"},
    ),
    "orderbook": ("order books", {"historical": None, "recent": "fetchOrderBook", "live": "watchOrderBook"}),
    "open_interest": (
        "open interest",
        {"historical": "fetchOpenInterestHistory", "recent": "fetchOpenInterest", "live": "watchOpenInterest"},
    ),
}

@functools.cache
def _has(exchange_id: str, live: bool) -> dict:
    module = _pro() if live else ccxt
    if exchange_id not in module.exchanges:
        return {}
    return dict(getattr(module, exchange_id)().has)


def _pro():
    import ccxt.pro  # imported on first use: it pulls in aiohttp

    return ccxt.pro


def _check(data_type: str, mode: str) -> None:
    if data_type not in DATA_TYPES:
        raise ValueError(f"unknown data type {data_type!r}; one of {', '.join(DATA_TYPES)}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")


def lookup(exchange_id: str, data_type: str, mode: str) -> tuple[bool, str]:
    """``(offered, why)`` for one exchange, data type and mode."""
    _check(data_type, mode)
    fact = profile_for(exchange_id).capability_facts.get((data_type, mode))
    if fact is not None:
        return fact
    method = DATA_TYPES[data_type][1][mode]
    if method is None:
        return False, "no exchange serves past order books over REST: record snapshots or stream them"
    if mode == "live" and exchange_id not in _pro().exchanges:
        return False, "ccxt.pro has no client for it"
    value = _has(exchange_id, mode == "live").get(method)
    if value == "emulated":
        return True, f"{method} emulated by ccxt"
    return bool(value), "" if value else f"ccxt's has[{method!r}] is {value!r}"


def supports(exchange_id: str, data_type: str, mode: str = "historical") -> bool:
    return lookup(exchange_id, data_type, mode)[0]


def require(exchange_id: str, data_type: str, mode: str = "historical") -> None:
    """Raise ``CapabilityNotSupportedError`` (e.g. "coinbase does not support historical funding rates: ...")."""
    offered, why = lookup(exchange_id, data_type, mode)
    if not offered:
        raise CapabilityNotSupportedError(exchange_id, f"{mode} {DATA_TYPES[data_type][0]}", why)


def _exchange_ids(exchanges: Iterable[str] | str | None) -> list[str]:
    if exchanges is None:
        return list(TESTED_EXCHANGES)
    if exchanges == "all":
        return list(TESTED_EXCHANGES) + [e for e in ccxt.exchanges if e not in TESTED_EXCHANGES]
    if isinstance(exchanges, str):
        exchanges = [exchanges]
    unknown = [e for e in exchanges if e not in ccxt.exchanges]
    if unknown:
        from zvt_ccxt.exchange.client import check_exchange_id

        check_exchange_id(unknown[0])
    return list(exchanges)


def capabilities(exchanges: Iterable[str] | str | None = None) -> pd.DataFrame:
    """One row per (exchange, data type): booleans ``historical``, ``recent``, ``live`` and the notes behind them.

    ``exchanges``: an id or ids, ``"all"`` for every ccxt exchange, or None for the four tested ones.
    """
    rows = []
    for exchange_id in _exchange_ids(exchanges):
        for data_type in DATA_TYPES:
            row: dict[str, object] = {"exchange": exchange_id, "data_type": data_type}
            notes = []
            for mode in MODES:
                offered, why = lookup(exchange_id, data_type, mode)
                row[mode] = offered
                if why and (offered or (data_type, mode) in profile_for(exchange_id).capability_facts):
                    notes.append(f"{mode}: {why}")
            row["notes"] = "; ".join(notes)
            rows.append(row)
    return pd.DataFrame(rows, columns=["exchange", "data_type", *MODES, "notes"])


def _mark(value: bool) -> str:
    return "yes" if value else "-"


def to_markdown(exchanges: Iterable[str] | str | None = "all") -> str:
    """The capability tables as Markdown: the tested exchanges in full, then every ccxt exchange at a glance."""
    tested = capabilities(None)
    lines = [
        "# Capabilities",
        "",
        "Generated by `python -m zvt_ccxt_testkit.write_capabilities` from ccxt "
        f"{ccxt.__version__}'s `has` tables, corrected where they are wrong (`zvt_ccxt/exchange/profiles.py`). "
        "In Python: `zvt_ccxt.capabilities()` (or `capabilities('all')`).",
        "",
        "- **historical**: past data can be backfilled over REST (what `record_data` with a `start_timestamp` needs);",
        "- **recent**: the current state or the latest rows over REST (order book snapshots, the latest trades);",
        "- **live**: streamed by ccxt.pro.",
        "",
        "A recorder asked for something an exchange does not offer raises `CapabilityNotSupportedError` naming",
        "the exchange and the capability.",
        "",
        "## Tested exchanges",
        "",
        "| exchange | data | historical | recent | live | notes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in tested.itertuples(index=False):
        lines.append(
            f"| {row.exchange} | {row.data_type} | {_mark(row.historical)} | {_mark(row.recent)} | "
            f"{_mark(row.live)} | {row.notes} |"
        )
    every = capabilities(exchanges)
    lines += [
        "",
        "## Every ccxt exchange",
        "",
        "Each cell lists the modes offered: **H**istorical, **R**ecent, **L**ive (`-` for none). "
        "Only the four exchanges above are tested against their wire formats; for the others these are ccxt's "
        "claims, and historical trades are paged with ccxt's `since`, which some exchanges ignore (serving "
        "only their latest trades).",
        "",
        "| exchange | " + " | ".join(DATA_TYPES) + " |",
        "| --- |" + " --- |" * len(DATA_TYPES),
    ]
    for exchange_id, group in every.groupby("exchange", sort=False):
        cells = []
        for data_type in DATA_TYPES:
            row = group[group.data_type == data_type].iloc[0]
            letters = "".join(letter for letter, mode in zip("HRL", MODES, strict=True) if row[mode])
            cells.append(letters or "-")
        lines.append(f"| {exchange_id} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

