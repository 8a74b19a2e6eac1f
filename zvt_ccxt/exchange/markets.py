"""Instrument provider: ccxt markets as zvt entity rows, and user input (codes or symbols) as entities.

Spot markets become ``cryptopair`` entities, perpetual swaps ``cryptoperp``; dated futures and options
are left out. Codes follow ``zvt_ccxt.codes``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from zvt_ccxt import codes as code_rules
from zvt_ccxt.errors import UnknownSymbolError


def entity_type_of(market: Mapping) -> str | None:
    """``cryptopair`` for spot, ``cryptoperp`` for perpetual swaps, None for anything else."""
    if market.get("spot") or market.get("type") == "spot":
        return "cryptopair"
    if market.get("swap") or market.get("type") == "swap":
        return "cryptoperp"
    return None


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _listing(market: Mapping) -> pd.Timestamp | None:
    created = market.get("created")
    if isinstance(created, int | float) and created > 0:
        return pd.Timestamp(int(created), unit="ms")
    return None


def entity_rows(exchange_id: str, markets: Iterable[Mapping], entity_type: str) -> list[dict]:
    """One entity dict per market of ``entity_type``, codes assigned over the whole list."""
    selected = [m for m in markets if entity_type_of(m) == entity_type]
    assigned = code_rules.assign_codes(selected)
    rows = []
    for market in selected:
        code = assigned[str(market["symbol"])]
        entity_id = f"{entity_type}_{exchange_id}_{code}"
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        listed = _listing(market)
        rows.append(
            {
                "id": entity_id,
                "entity_id": entity_id,
                "timestamp": listed,
                "entity_type": entity_type,
                "exchange": exchange_id,
                "code": code,
                "name": str(market["symbol"]),
                "list_date": listed,
                "symbol": str(market["symbol"]),
                "market_id": str(market.get("id") or ""),
                "base": market.get("base"),
                "quote": market.get("quote"),
                "settle": market.get("settle"),
                "market_type": market.get("type"),
                "linear": market.get("linear"),
                "inverse": market.get("inverse"),
                "contract_size": _number(market.get("contractSize")),
                "price_precision": _number(precision.get("price")),
                "amount_precision": _number(precision.get("amount")),
                "min_amount": _number((limits.get("amount") or {}).get("min")),
                "min_cost": _number((limits.get("cost") or {}).get("min")),
                "active": market.get("active") is not False,
            }
        )
    return rows


def resolve_codes(exchange_id: str, entity_type: str, wanted: Iterable[str], known: Mapping[str, str]) -> list[str]:
    """Turn codes or ccxt symbols into codes, given ``known`` (symbol -> code) for the exchange.

    Raises ``UnknownSymbolError`` naming every item that matches nothing.
    """
    result, missing = code_rules.match_codes(wanted, known)
    if missing:
        pool = list(known) + list(known.values())
        hints = {m: difflib.get_close_matches(m, pool, n=2) for m in missing}
        detail = "; ".join(f"{m!r}" + (f" (did you mean {', '.join(h)}?)" if h else "") for m, h in hints.items())
        raise UnknownSymbolError(f"{exchange_id} has no {entity_type} market for {detail}")
    return result
