"""The traffic the bundled cassettes hold: what the quickstart, notebooks and tests replay.

Per exchange, three cassettes: ``<exchange>-backfill.json`` (markets for pairs and perpetuals, then
60 days of hourly BTC bars for the spot pair and the perpetual, several pages each, plus the levels
the exchange lacks natively), ``<exchange>-resume.json``, recorded one day later, holding what a
second run fetches, and ``<exchange>-market-data.json`` (``run_market_data``: trades over several pages,
candles from them checked against the exchange's, funding history, open interest, order book
snapshots). Start times are relative to the frozen clock, so a replay asks the same questions.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from zvt_ccxt import clock
from zvt_ccxt.domain import CryptoPair, CryptoPerp, kdata_schema

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


#: hours of spot trades the market-data scenario backfills (the last one is also asked for on its own)
TRADE_HOURS = 4
OPEN_INTEREST_DAYS = 10
ORDERBOOK_SNAPSHOTS = 2


def market_data_times() -> dict[str, pd.Timestamp]:
    """The instants the market-data scenario asks from, relative to the frozen clock."""
    hour = pd.Timestamp(clock.now_ms(), unit="ms").floor("h")
    return {
        "hour_start": hour - pd.Timedelta(hours=1),
        "hour_end": hour,
        "trades_start": hour - pd.Timedelta(hours=TRADE_HOURS),
        "funding_start": backfill_start(),
        "open_interest_start": hour - pd.Timedelta(days=OPEN_INTEREST_DAYS),
    }


def run_market_data(scenario: ExchangeScenario) -> list:
    """Markets; spot trades of the last complete hour then of the hours before (several pages), with the
    exchange's 1m candles of that hour and the check of candles from trades; perpetual trades; funding
    history (okx from the listing, the others from the backfill start); open interest; order book snapshots.
    Exchanges that serve recent trades only (bybit) record their latest page instead. Returns the summaries
    and candle checks."""
    from zvt_ccxt.backfill.trade_candles import check_candles_from_trades
    from zvt_ccxt.domain import CryptoFunding, CryptoOpenInterest, CryptoOrderbook, CryptoTrade
    from zvt_ccxt.exchange import capabilities

    exchange = scenario.exchange
    times = market_data_times()
    history = capabilities.supports(exchange, "trades", "historical")
    results: list = [CryptoPair.record_data(provider="ccxt", exchange=exchange)]
    if scenario.perp:
        results.append(CryptoPerp.record_data(provider="ccxt", exchange=exchange))

    def trades(symbol: str, **kwargs):
        return CryptoTrade.record_data(provider="ccxt", exchange=exchange, symbols=[symbol], **kwargs)

    if history:
        results.append(trades(scenario.spot, start_timestamp=times["hour_start"], end_timestamp=times["hour_end"]))
        results.append(
            kdata_schema("cryptopair", "1m").record_data(
                provider="ccxt",
                exchange=exchange,
                symbols=[scenario.spot],
                start_timestamp=times["hour_start"],
                end_timestamp=times["hour_end"],
            )
        )
        results.append(trades(scenario.spot, start_timestamp=times["trades_start"]))
    else:
        results.append(trades(scenario.spot))
    spot_id = results[-1].results[0].entity_id
    results += [check_candles_from_trades(spot_id, "1m"), check_candles_from_trades(spot_id, "1h")]
    if scenario.perp:
        results.append(trades(scenario.perp, start_timestamp=times["hour_start"]) if history else trades(scenario.perp))
        funding_start = None if exchange == "okx" else times["funding_start"]
        results.append(
            CryptoFunding.record_data(
                provider="ccxt", exchange=exchange, symbols=[scenario.perp], start_timestamp=funding_start
            )
        )
        results.append(
            CryptoOpenInterest.record_data(
                provider="ccxt",
                exchange=exchange,
                symbols=[scenario.perp],
                start_timestamp=times["open_interest_start"],
                period="1h",
            )
        )
    symbols = [scenario.spot] + ([scenario.perp] if scenario.perp else [])
    results.append(
        CryptoOrderbook.record_data(
            provider="ccxt", exchange=exchange, symbols=symbols, depth=20, snapshots=ORDERBOOK_SNAPSHOTS
        )
    )
    return results
