"""Failure messages on the command line: one line, the cause named, cut only where a clause ends."""

from __future__ import annotations

import pytest
import requests
import vcr.errors

from zvt_ccxt.cli.messages import LIMIT, one_line, shorten
from zvt_ccxt.replay import replay
from zvt_ccxt.replay.cassettes import describe_miss

LONG = (
    "okx BTC/USDT: request failed: ExchangeNotAvailable: okx GET https://www.okx.com/api/v5/market/candles 503 "
    "Service Unavailable; the exchange is under maintenance until 2025-06-01 14:00 UTC, retry later. "
    "Orders placed during the window are kept, but market data endpoints answer with an error page "
    "whose body is not JSON, which ccxt reports as a network failure rather than an exchange error."
)


def test_a_message_that_fits_is_kept_whole():
    assert shorten("cassette okx-backfill has no answer", 80) == "cassette okx-backfill has no answer"
    assert shorten(LONG, len(LONG)) == LONG


def test_a_long_message_is_cut_where_a_clause_ends():
    head = "okx BTC/USDT: request failed: ExchangeNotAvailable: okx GET https://www.okx.com/api/v5/market/candles 503"
    clauses = f"{head} Service Unavailable; the exchange is under maintenance until 2025-06-01 14:00 UTC"
    assert shorten(LONG, LIMIT) == f"{clauses}, retry later …"
    assert shorten(LONG, 200) == f"{clauses} …"
    # no clause ends in the second half of the limit: a word boundary, never inside a word
    assert shorten(LONG, 120) == f"{head} Service …"
    for limit in range(40, len(LONG), 7):
        short = shorten(LONG, limit)
        assert len(short) <= limit and LONG.startswith(short.removesuffix(" …"))
        assert LONG[len(short) - 2] in " .;:,("


def test_one_line_takes_the_first_line_only():
    assert one_line("first line\n\n  second line\nthird") == "first line"
    assert one_line(ValueError("")) == "ValueError"
    assert one_line(None) == ""


def _a_cassette_miss() -> vcr.errors.CannotOverwriteExistingCassetteException:
    """vcrpy's own exception, as a replay raises it for a request its cassette does not hold (no network)."""
    with replay("okx-backfill"), pytest.raises(vcr.errors.CannotOverwriteExistingCassetteException) as caught:
        requests.get("https://www.okx.com/api/v5/market/tickers?instType=SPOT", timeout=5)
    return caught.value


def test_a_cassette_miss_becomes_one_line_naming_cassette_and_request():
    miss = _a_cassette_miss()
    assert len(str(miss).splitlines()) > 10  # what vcrpy says
    expected = "cassette okx-backfill has no answer for GET https://www.okx.com/api/v5/market/tickers?instType=SPOT"
    assert describe_miss(miss) == expected
    # a recorder keeps only the text ("Type: message"): the same line comes back from it
    assert describe_miss(f"{type(miss).__name__}: {miss}") == expected
    assert one_line(f"{type(miss).__name__}: {miss}") == expected
    assert one_line(f"BTC/USDT: {miss}") == f"BTC/USDT: {expected}"
    assert describe_miss("okx BTC/USDT: request failed: 503") is None
