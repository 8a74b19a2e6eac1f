"""Exchange profiles: every exchange fact in one place, each one used, and no exchange branching elsewhere."""

from __future__ import annotations

import ast
import dataclasses
import textwrap
from pathlib import Path
from types import SimpleNamespace

import ccxt
import pytest

from zvt_ccxt.backfill import funding_pager, open_interest_pager, trade_pager
from zvt_ccxt.exchange import capabilities, retry
from zvt_ccxt.exchange.profiles import DEFAULT_PROFILE, PROFILES, ExchangeProfile, by_market_type, profile_for
from zvt_ccxt.recorders.open_interest import PERIODS
from zvt_ccxt.recorders.orderbook import request_depth
from zvt_ccxt.stream import books
from zvt_ccxt.stream.client import _is_heartbeat

PACKAGE = Path(__file__).resolve().parents[1] / "zvt_ccxt"
PROFILES_MODULE = PACKAGE / "exchange" / "profiles.py"
#: test rigs and recorded scenarios speak exchange wire formats by design
EXEMPT_DIRS = ("simulator", "reliability", "replay")
EXCHANGE_NAMES = frozenset({"binance", "okx", "bybit", "coinbase", *PROFILES})
FIELDS = [f.name for f in dataclasses.fields(ExchangeProfile)]
MARKET_TYPES = {"spot", "margin", "swap", "future", "option", "default"}


def package_modules() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PROFILES_MODULE and path.relative_to(PACKAGE).parts[0] not in EXEMPT_DIRS
    ]


def _name(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in EXCHANGE_NAMES:
        return node.value
    return None


def _names_in(node: ast.AST | None) -> list[str]:
    """The exchange names ``node`` is, or holds as a tuple/list/set literal."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [n for element in node.elts if (n := _name(element))]
    name = _name(node)
    return [name] if name else []


def exchange_branches(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` wherever code compares with, indexes by, tabulates or matches a literal exchange name."""
    found: list[tuple[int, str]] = []

    def flag(node: ast.AST, what: str, names: list[str]) -> None:
        if names:
            found.append((node.lineno, f"{what} {', '.join(repr(n) for n in names)}"))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            flag(node, "compares with", [n for side in (node.left, *node.comparators) for n in _names_in(side)])
        elif isinstance(node, ast.Dict):
            flag(node, "a dict keyed by", [n for key in node.keys for n in _names_in(key)])
        elif isinstance(node, ast.Subscript):
            flag(node, "indexes by", _names_in(node.slice))
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop", "setdefault", "__contains__"):
                flag(node, f"looks up ({node.func.attr}) by", _names_in(node.args[0] if node.args else None))
            flag(node, "a keyword named", [k.arg for k in node.keywords if k.arg in EXCHANGE_NAMES])
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            flag(node, "a table of", _names_in(node))
        elif isinstance(node, ast.MatchValue):
            flag(node, "a match case on", _names_in(node.value))
        elif isinstance(node, ast.MatchMapping):
            flag(node, "a match case keyed by", [n for key in node.keys for n in _names_in(key)])
    return sorted(set(found))


def test_the_branch_finder_sees_every_way_of_branching_on_an_exchange():
    source = textwrap.dedent(
        """\
        '''A docstring naming binance is prose.'''
        def f(exchange_id, table, kind):
            '''okx'''
            if exchange_id == "okx":                      # 4
                pass
            if exchange_id in ("binance", "kraken"):      # 6
                pass
            table["bybit"]                                # 8
            caps = {"coinbase": 1}                        # 9
            table.get("okx")                              # 10
            names = ["binance"]                           # 11
            match exchange_id:
                case "bybit":                             # 13
                    pass
            match kind:
                case {"okx": 1}:                          # 16
                    pass
            dict(binance=1)                               # 18
            print("record okx candles", exchange_id == kind, table.get(kind))
        """
    )
    assert sorted({line for line, _ in exchange_branches(source)}) == [4, 6, 8, 9, 10, 11, 13, 16, 18]


def test_no_module_outside_the_profiles_branches_on_an_exchange_name():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
        for path in package_modules()
        for line, what in exchange_branches(path.read_text(encoding="utf-8"))
    ]
    assert not found, "exchange facts belong in zvt_ccxt/exchange/profiles.py:\n" + "\n".join(found)


def test_every_fact_of_a_profile_is_read_outside_the_profiles_module():
    read = {
        node.attr
        for path in package_modules()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
    }
    assert [name for name in FIELDS if name not in read] == []


@pytest.mark.parametrize("exchange_id", sorted(PROFILES))
def test_a_profile_sets_only_what_differs_from_the_defaults(exchange_id):
    profile = PROFILES[exchange_id]
    restated = [name for name in _set_fields(exchange_id) if getattr(profile, name) == getattr(DEFAULT_PROFILE, name)]
    assert restated == [], f"{exchange_id} restates defaults"
    assert profile != DEFAULT_PROFILE


def _set_fields(exchange_id: str) -> set[str]:
    """The keywords the exchange's profile is built with, read from the profiles module."""
    for node in ast.walk(ast.parse(PROFILES_MODULE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == exchange_id and isinstance(value, ast.Call):
                    return {k.arg for k in value.keywords if k.arg}
    raise AssertionError(f"no profile for {exchange_id} in {PROFILES_MODULE.name}")


@pytest.mark.parametrize("exchange_id", sorted(PROFILES))
def test_every_named_way_and_key_of_a_profile_exists(exchange_id):
    profile = PROFILES[exchange_id]
    client = SimpleNamespace(exchange_id=exchange_id)
    for market in ({"symbol": "BTC/USDT", "type": "spot"}, {"symbol": "BTC/USDT:USDT", "type": "swap"}):
        # building each pager reads the facts its way of paging needs, and fails on a missing one
        assert isinstance(trade_pager.trade_pager(client, market), trade_pager._PAGERS[profile.trade_paging])
        funding_pager.funding_pager(client, market)
        for period in PERIODS:
            pager = open_interest_pager.open_interest_pager(client, market, period)
            assert isinstance(pager, open_interest_pager._PAGERS[profile.open_interest_paging])
    assert profile.book_check is None or profile.book_check in books._CHECKS
    for table in (profile.trade_limits, profile.orderbook_depths, profile.orderbook_max):
        assert set(table) <= MARKET_TYPES
    assert set(profile.open_interest_days) <= {*PERIODS, "default"}
    assert set(profile.open_interest_periods) <= set(PERIODS)
    assert set(profile.open_interest_first_day) <= set(PERIODS)
    assert set(profile.open_interest_period_params) <= set(PERIODS)
    assert set(profile.open_interest_params) <= {"linear", "inverse"}
    for data_type, mode in profile.capability_facts:
        assert data_type in capabilities.DATA_TYPES and mode in capabilities.MODES
    assert exchange_id in ccxt.exchanges


def test_an_exchange_without_a_profile_gets_the_shared_defaults():
    exchange_id = next(e for e in ("kraken", "gateio", "bitget") if e in ccxt.exchanges and e not in PROFILES)
    profile = profile_for(exchange_id)
    assert profile == ExchangeProfile() and profile is DEFAULT_PROFILE
    assert profile_for(None) is DEFAULT_PROFILE

    client = SimpleNamespace(exchange_id=exchange_id)
    market = {"symbol": "BTC/USDT:USDT", "type": "swap"}
    trades = trade_pager.trade_pager(client, market)
    assert type(trades) is trade_pager.SinceTradePager
    assert (
        trades.limit
        == by_market_type(ExchangeProfile().trade_limits, "swap")
        == ExchangeProfile().trade_limits["default"]
    )
    funding = funding_pager.funding_pager(client, market)
    assert type(funding) is funding_pager.ForwardFundingPager and funding.limit == ExchangeProfile().funding_limit
    interest = open_interest_pager.open_interest_pager(client, market, "1h")
    assert type(interest) is open_interest_pager.OpenInterestPager
    assert (interest.limit, interest.params, interest.served_ms) == (ExchangeProfile().open_interest_limit, {}, None)
    assert request_depth(exchange_id, "spot", 37) == 37  # no depth table, no maximum
    assert books.book_check_for(profile.book_check) is None

    # facts of profiled exchanges do not leak into the defaults
    bybit_busy = ccxt.ExchangeError('bybit {"retCode":10016,"retMsg":"service restarting"}')
    assert retry.is_transient(bybit_busy, exchange="bybit")
    assert not retry.is_transient(bybit_busy, exchange=exchange_id)
    has = getattr(ccxt, exchange_id)().has
    assert capabilities.supports(exchange_id, "trades", "historical") == bool(has.get("fetchTrades"))


def test_the_rest_client_asks_only_for_the_profiled_market_types():
    from zvt_ccxt.config import ExchangeConfig
    from zvt_ccxt.exchange.client import ExchangeClient

    unprofiled = next(e for e in ("kraken", "gateio", "bitget") if e in ccxt.exchanges and e not in PROFILES)
    for exchange_id in (*PROFILES, unprofiled):
        client = ExchangeClient(ExchangeConfig(exchange_id))
        types = profile_for(exchange_id).market_types
        asked = client.ccxt.options.get("fetchMarkets")
        if types is None:
            assert asked == getattr(ccxt, exchange_id)().options.get("fetchMarkets"), exchange_id
        else:  # ccxt merges what it is given into its own option
            assert asked["types"] == list(types), exchange_id


def test_keep_alive_answers_do_not_count_as_data():
    profile = DEFAULT_PROFILE
    for heartbeat in ("pong", {"success": True, "ret_msg": "pong", "op": "ping"}, {"op": "pong"}, {"pong": 1}):
        assert _is_heartbeat(profile, heartbeat), heartbeat
    for data in ({"arg": {"channel": "trades"}, "data": []}, {"op": "subscribe"}, [1, 2]):
        assert not _is_heartbeat(profile, data), data
    quiet = dataclasses.replace(profile, heartbeat_text_frames=False, heartbeat_fields=(), heartbeat_keys=())
    assert not _is_heartbeat(quiet, "pong") and not _is_heartbeat(quiet, {"op": "pong"})
