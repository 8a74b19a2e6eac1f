"""Turning ccxt markets into zvt codes, and user input (codes or ccxt symbols) back into markets.

Rule, applied per (entity type, exchange) over the whole market list so it is deterministic:

1. The code is ``base + quote`` lowercased with every non-alphanumeric character removed
   (``BTC/USDT`` -> ``btcusdt``, ``BTC/USDT:USDT`` -> ``btcusdt``, ``BTC/USD:BTC`` -> ``btcusd``).
2. When several markets share a code, the one that sorts first by (inactive last, ccxt symbol)
   keeps it; each other takes its exchange market id, lowercased alphanumerics only.
3. If that still collides (or is empty), a six hex digit hash of the ccxt symbol is appended.

zvt splits entity ids on ``_`` and drops the separators of the code part, so codes never hold one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

_NOT_ALNUM = re.compile(r"[^0-9a-z]")

#: the entity types: spot pairs and perpetual swaps
SPOT, PERP = "cryptopair", "cryptoperp"


def _clean(text: str) -> str:
    return _NOT_ALNUM.sub("", str(text).lower())


def base_code(market: Mapping) -> str:
    """Rule 1: the preferred code of one market."""
    return _clean(f"{market.get('base') or ''}{market.get('quote') or ''}")


def _symbol_hash(symbol: str) -> str:
    return hashlib.sha1(symbol.encode("utf-8")).hexdigest()[:6]


def assign_codes(markets: Iterable[Mapping]) -> dict[str, str]:
    """Map each market's ccxt symbol to a unique code (rules 1-3)."""
    ordered = sorted(markets, key=lambda m: (m.get("active") is False, str(m["symbol"])))
    codes: dict[str, str] = {}
    taken: set[str] = set()
    for market in ordered:
        candidates = [base_code(market), _clean(market.get("id") or "")]
        code = next((c for c in candidates if c and c not in taken), "")
        if not code:
            code = f"{candidates[0] or 'm'}{_symbol_hash(str(market['symbol']))}"
        taken.add(code)
        codes[str(market["symbol"])] = code
    return codes


def looks_like_symbol(text: str) -> bool:
    """ccxt symbols carry a slash (``BTC/USDT``, ``BTC/USDT:USDT``); zvt codes never do."""
    return "/" in text


def named_entity_type(text: str) -> str | None:
    """The entity type a ccxt symbol names: a perpetual with a settle currency (``BTC/USDT:USDT``), else a spot
    pair (``BTC/USDT``); None for a code, which names no type of its own."""
    if not looks_like_symbol(text):
        return None
    return PERP if ":" in text else SPOT


def normalise_code(text: str) -> str:
    """A code as a user may type it (``BTCUSDT``, ``btc-usdt``) in its stored form."""
    return _clean(text)


def match_codes(wanted: Iterable[str], known: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """``(codes, unmatched)``: each code or ccxt symbol of ``wanted`` as a stored code, given ``known`` (symbol ->
    code of one entity type on one exchange); codes once each, in the order first asked for."""
    by_code = set(known.values())
    matched: list[str] = []
    unmatched: list[str] = []
    for item in wanted:
        text = str(item)
        if looks_like_symbol(text):
            code = known.get(text) or known.get(text.upper())
        else:
            code = normalise_code(text)
            code = code if code in by_code else None
        if code is None:
            unmatched.append(text)
        elif code not in matched:
            matched.append(code)
    return matched, unmatched
