"""The one instrument type and its resolver: codes, ccxt symbols or entity ids as stored entities.

Recorders, streams, ``coverage_report`` / ``repair`` and the CLI all resolve what a user names here, by the code
rule of ``zvt_ccxt.codes``. One table per data type holds both spot pairs and perpetuals, so a request says which
it means: a ccxt symbol with a settle currency (``BTC/USDT:USDT``) is a perpetual, one without (``BTC/USDT``) a
spot pair, and a bare code (``btcusdt``) follows ``market=`` ("spot" or "perp"), else the data type's default.
Tables of one entity type (the kdata tables) resolve everything against that type.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from zvt_ccxt import store
from zvt_ccxt.backfill.entities import refresh_entities
from zvt_ccxt.codes import PERP, SPOT, match_codes, named_entity_type
from zvt_ccxt.domain.meta import ENTITY_SCHEMAS
from zvt_ccxt.errors import UnknownSymbolError, ZvtCcxtError
from zvt_ccxt.exchange.markets import resolve_codes

_MARKET_WORDS = {"spot": SPOT, "pair": SPOT, "cryptopair": SPOT, "perp": PERP, "swap": PERP, "cryptoperp": PERP}


@dataclass(frozen=True)
class Instrument:
    """A stored entity (spot pair or perpetual), as much of it as recorders and streams need."""

    entity_id: str
    entity_type: str
    exchange: str
    code: str
    #: the ccxt symbol (``BTC/USDT``, ``BTC/USDT:USDT``); also the entity's zvt ``name``
    symbol: str

    @property
    def perpetual(self) -> bool:
        return self.entity_type == PERP


def entity_id_of(entity_type: str, exchange: str, code: str) -> str:
    return f"{entity_type}_{exchange}_{code}"


def split_entity_id(entity_id: str) -> tuple[str, str, str]:
    """``(entity type, exchange, code)`` of an entity id."""
    entity_type, exchange, code = entity_id.split("_", 2)
    return entity_type, exchange, code


def entity_type_for(market: str | None, default: str) -> str:
    """``market="spot"`` / ``"perp"`` (or None for ``default``) as an entity type."""
    if market is None:
        return default
    try:
        return _MARKET_WORDS[str(market).lower()]
    except KeyError:
        raise ZvtCcxtError(f"market={market!r} is neither 'spot' nor 'perp'") from None


def _by_type(wanted: Iterable[str], code_type: str) -> dict[str, list[str]]:
    """Codes and symbols grouped by the entity type they name: ``:`` perpetual, ``/`` spot, else ``code_type``."""
    groups: dict[str, list[str]] = {SPOT: [], PERP: []}
    for item in wanted:
        text = str(item)
        groups[named_entity_type(text) or code_type].append(text)
    return groups


def _codes(entity_type: str, exchange_id: str, wanted: Sequence[str] | None) -> list[str]:
    """Stored codes of ``wanted`` (all when None) on one exchange, loading its markets when something is missing."""
    schema = ENTITY_SCHEMAS[entity_type]
    known = store.entities.symbols(schema, exchange_id)
    if known:
        if not wanted:
            return sorted(set(known.values()))
        matched, unmatched = match_codes(wanted, known)
        if not unmatched:
            return matched
    refresh_entities(schema, exchange_id)
    known = store.entities.symbols(schema, exchange_id)
    return resolve_codes(exchange_id, entity_type, wanted, known) if wanted else sorted(set(known.values()))


def load(entity_ids: Sequence[str], *, strict: bool = True) -> list[Instrument]:
    """The stored entities of ``entity_ids``, in that order; raises naming any that is not stored (leaves it out
    unless ``strict``)."""
    by_id: dict[str, Instrument] = {}
    for entity_type, schema in ENTITY_SCHEMAS.items():
        wanted = [e for e in entity_ids if e.startswith(entity_type + "_")]
        if not wanted:
            continue
        for stored in store.entities.by_id(schema, wanted):
            by_id[stored.id] = Instrument(stored.id, entity_type, stored.exchange, stored.code, stored.symbol)
    missing = [e for e in entity_ids if e not in by_id]
    if missing and strict:
        raise UnknownSymbolError(f"no stored entity {', '.join(missing)}: record the markets first or check the ids")
    return [by_id[e] for e in entity_ids if e in by_id]


def resolve(
    exchanges: Sequence[str],
    wanted: Sequence[str] | None,
    entity_ids: Sequence[str] | None = None,
    *,
    market: str | None = None,
    default_type: str = SPOT,
    entity_type: str | None = None,
    perpetuals_only: str | None = None,
    strict_ids: bool = True,
) -> list[Instrument]:
    """The instruments of a request, in the order asked for, loading markets over REST for what is not
    stored yet. Entity ids that name no stored entity are refused, or left out unless ``strict_ids``.

    ``entity_type`` resolves everything against that one type (a table of one type); else symbols say their
    type and codes take ``market`` or ``default_type``. ``perpetuals_only`` names the data when spot pairs
    have none of it (a spot request is then refused).
    """
    if entity_ids:
        return load(list(dict.fromkeys(entity_ids)), strict=strict_ids)
    if not exchanges:
        raise ZvtCcxtError("say which exchange to record: exchange='okx' (or exchanges=[...], or entity_ids=[...])")
    if entity_type is not None:
        groups = {entity_type: list(wanted or [])}
        code_type = entity_type
    else:
        code_type = entity_type_for(market, default_type)
        groups = _by_type(wanted or [], code_type)
    if perpetuals_only and (groups.get(SPOT) or (not wanted and code_type == SPOT)):
        spot = ", ".join(groups.get(SPOT) or []) or "spot pairs"
        raise UnknownSymbolError(f"{spot}: {perpetuals_only} exist for perpetual swaps only (e.g. BTC/USDT:USDT)")
    if not wanted:
        groups = {code_type: []}
    ids: list[str] = []
    for group_type, items in groups.items():
        if items or not wanted:
            for exchange_id in exchanges:
                ids += [entity_id_of(group_type, exchange_id, c) for c in _codes(group_type, exchange_id, items)]
    return load(list(dict.fromkeys(ids)))


def resolve_symbols(exchange: str, symbols: Sequence[str]) -> dict[str, Instrument]:
    """ccxt symbol -> instrument on one exchange (spot pairs and perpetuals), loading markets when needed."""
    by_symbol = {i.symbol: i for i in resolve([exchange], list(symbols))}
    result: dict[str, Instrument] = {}
    for symbol in symbols:
        instrument = by_symbol.get(symbol)
        if instrument is None:
            raise UnknownSymbolError(f"{exchange} has no {named_entity_type(symbol) or SPOT} market {symbol!r}")
        result[symbol] = instrument
    return result


def stored_codes(entity_type: str, exchange: str, wanted: Sequence[str]) -> list[str]:
    """Codes of the stored entities of ``entity_type`` on ``exchange`` that ``wanted`` names (nothing is loaded;
    items naming nothing, a symbol of the other type among them, are left out)."""
    return match_codes(wanted, store.entities.symbols(ENTITY_SCHEMAS[entity_type], exchange))[0]


def stored_ids(entity_type: str, candidates: Sequence[str], wanted: Sequence[str] | None) -> list[str]:
    """The ids among ``candidates`` (entity ids of ``entity_type``) that ``wanted`` names, by the stored
    entities only (see ``stored_codes``); all of them when ``wanted`` is empty. A report on a code never
    recorded is empty rather than an error."""
    if not wanted:
        return list(candidates)
    chosen: set[str] = set()
    for exchange_id in sorted({split_entity_id(e)[1] for e in candidates}):
        codes = stored_codes(entity_type, exchange_id, wanted)
        chosen |= {entity_id_of(entity_type, exchange_id, code) for code in codes}
    return [e for e in candidates if e in chosen]
