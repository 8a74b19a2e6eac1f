"""The traffic the bundled cassettes hold: what the quickstart, notebooks and tests replay.

Per exchange, two cassettes: ``<exchange>-backfill.json`` (markets for pairs and perpetuals, then
60 days of hourly BTC bars for the spot pair and the perpetual, several pages each, plus the levels
the exchange lacks natively) and ``<exchange>-resume.json``, recorded one day later, holding what a
second run fetches. Start times are relative to the frozen clock, so a replay asks the same questions.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from zvt_ccxt import clock
from zvt_ccxt.domain import CryptoPair, CryptoPerp, kdata_schema

#: The instant simulator cassettes are recorded at (2025-06-01 12:34:56.789 UTC: inside a forming bar).
SIMULATED_NOW_MS = 1_748_781_296_789
RESUME_AFTER_MS = 24 * 3_600_000
BACKFILL_DAYS = 60


@dataclass(frozen=True)
class ExchangeScenario:
    exchange: str
    spot: str
    perp: str | None
    #: levels recorded for the spot pair besides 1h (those the exchange must derive)
    extra_levels: tuple[str, ...] = ()


SCENARIOS: dict[str, ExchangeScenario] = {
    "binance": ExchangeScenario("binance", "BTC/USDT", "BTC/USDT:USDT"),
    "okx": ExchangeScenario("okx", "BTC/USDT", "BTC/USDT:USDT"),
    "bybit": ExchangeScenario("bybit", "BTC/USDT", "BTC/USDT:USDT"),
    "coinbase": ExchangeScenario("coinbase", "BTC/USD", None, extra_levels=("4h", "1wk")),
}


def backfill_start() -> pd.Timestamp:
    return pd.Timestamp(clock.now_ms(), unit="ms").floor("D") - pd.Timedelta(days=BACKFILL_DAYS)


def run_backfill(scenario: ExchangeScenario) -> list:
    """Markets, then the first backfill; returns the summaries."""
    exchange = scenario.exchange
    start = backfill_start()
    summaries = [CryptoPair.record_data(provider="ccxt", exchange=exchange)]
    if scenario.perp:
        summaries.append(CryptoPerp.record_data(provider="ccxt", exchange=exchange))
    for entity_type, symbol, level in _series(scenario):
        summaries.append(
            kdata_schema(entity_type, level).record_data(
                provider="ccxt", exchange=exchange, symbols=[symbol], start_timestamp=start
            )
        )
    return summaries


def run_resume(scenario: ExchangeScenario) -> list:
    """The same series again with no start: only what is new is fetched."""
    return [
        kdata_schema(entity_type, level).record_data(provider="ccxt", exchange=scenario.exchange, symbols=[symbol])
        for entity_type, symbol, level in _series(scenario)
    ]


def _series(scenario: ExchangeScenario) -> list[tuple[str, str, str]]:
    series = [("cryptopair", scenario.spot, "1h")]
    if scenario.perp:
        series.append(("cryptoperp", scenario.perp, "1h"))
    series += [("cryptopair", scenario.spot, level) for level in scenario.extra_levels]
    return series
