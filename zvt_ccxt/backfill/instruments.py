"""The instruments a market-data run works on: codes, ccxt symbols or entity ids resolved to stored entities.

One table per data type holds both spot pairs and perpetuals, so a request says which it means: a ccxt
symbol with a settle currency (``BTC/USDT:USDT``) is a perpetual, one without (``BTC/USDT``) a spot pair, and a
bare code (``btcusdt``) follows ``market=`` ("spot" or "perp"), else the data type's default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zvt_ccxt import store
from zvt_ccxt.backfill.entities import select_entity_ids
from zvt_ccxt.domain.meta import ENTITY_SCHEMAS
from zvt_ccxt.errors import UnknownSymbolError, ZvtCcxtError

SPOT, PERP = "cryptopair", "cryptoperp"
_MARKET_WORDS = {"spot": SPOT, "pair": SPOT, "cryptopair": SPOT, "perp": PERP, "swap": PERP, "cryptoperp": PERP}


@dataclass(frozen=True)
class Instrument:
    """A stored entity, as much of it as a recorder needs."""

    entity_id: str
    entity_type: str
    exchange: str
    code: str
    symbol: str

    @property
    def perpetual(self) -> bool:
        return self.entity_type == PERP


def entity_type_for(market: str | None, default: str) -> str:
    """``market="spot"`` / ``"perp"`` (or None for ``default``) as an entity type."""
    if market is None:
        return default
    try:
        return _MARKET_WORDS[str(market).lower()]
    except KeyError:
        raise ZvtCcxtError(f"market={market!r} is neither 'spot' nor 'perp'") from None


def resolve_ids(
    default_type: str,
    market: str | None,
    exchanges: Sequence[str],
    wanted: Sequence[str] | None,
    entity_ids: Sequence[str] | None,
    *,
    perpetuals_only: str | None = None,
) -> list[str]:
    """Entity ids for the request; ``perpetuals_only`` names the data when spot pairs have none of it."""
    if entity_ids:
        return list(dict.fromkeys(entity_ids))
    if not exchanges:
        raise ZvtCcxtError("say which exchange to record: exchange='okx' (or exchanges=[...], or entity_ids=[...])")
    code_type = entity_type_for(market, default_type)
    groups: dict[str, list[str]] = {SPOT: [], PERP: []}
    for item in wanted or []:
        text = str(item)
        if "/" in text:
            groups[PERP if ":" in text else SPOT].append(text)
        else:
            groups[code_type].append(text)
    if perpetuals_only and (groups[SPOT] or (not wanted and code_type == SPOT)):
        spot = ", ".join(groups[SPOT]) or "spot pairs"
        raise UnknownSymbolError(f"{spot}: {perpetuals_only} exist for perpetual swaps only (e.g. BTC/USDT:USDT)")
    if not wanted:
        return select_entity_ids(ENTITY_SCHEMAS[code_type], exchanges, None, None)
    ids: list[str] = []
    for entity_type, items in groups.items():
        if items:
            ids += select_entity_ids(ENTITY_SCHEMAS[entity_type], exchanges, items, None)
    return list(dict.fromkeys(ids))


def load(entity_ids: Sequence[str]) -> list[Instrument]:
    """The stored entities of ``entity_ids``, in that order; raises naming any that is not stored."""
    by_id: dict[str, Instrument] = {}
    for entity_type, schema in ENTITY_SCHEMAS.items():
        wanted = [e for e in entity_ids if e.startswith(entity_type + "_")]
        if not wanted:
            continue
        for stored in store.entities.by_id(schema, wanted):
            by_id[stored.id] = Instrument(stored.id, entity_type, stored.exchange, stored.code, stored.symbol)
    missing = [e for e in entity_ids if e not in by_id]
    if missing:
        raise UnknownSymbolError(f"no stored entity {', '.join(missing)}: record the markets first or check the ids")
    return [by_id[e] for e in entity_ids]
