"""Sharded streams: a deterministic split of one symbol list, and the metrics of all shards in one view."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from zvt_ccxt.cli.app import main
from zvt_ccxt.errors import ZvtCcxtError
from zvt_ccxt.stream import CcxtStream
from zvt_ccxt.stream.shards import Shard, combined, parse_shard, read_shards, shard_symbols, split
from zvt_ccxt_testkit import simulated_streams
from zvt_ccxt_testkit.simulator.ws import TRADES

from conftest import SIM_NOW

SYMBOLS = [f"C{i:02d}/USDT" for i in range(23)] + ["BTC/USDT:USDT", "ETH/USDT:USDT"]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 25])
def test_the_shards_of_a_list_are_disjoint_cover_it_and_balance(count):
    parts = [shard_symbols(SYMBOLS, f"{i}/{count}") for i in range(1, count + 1)]
    flat = [s for part in parts for s in part]
    assert sorted(flat) == sorted(SYMBOLS) and len(flat) == len(set(flat))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_every_process_computes_the_same_split_whatever_the_order():
    shuffled = list(SYMBOLS) + SYMBOLS[:3]  # repeated and reordered: the same set
    random.Random(7).shuffle(shuffled)
    for i in (1, 2, 3):
        assert shard_symbols(shuffled, (i, 3)) == shard_symbols(SYMBOLS, f"{i}/3")


@pytest.mark.parametrize(
    ("value", "reason"),
    [("0/2", "between 1 and n"), ("3/2", "between 1 and n"), ("1/0", "between 1 and n"), ("half", "form i/n"),
     ("1-2", "form i/n"), (None, "form i/n")],
)
def test_a_bad_shard_is_refused_with_the_reason(value, reason):
    with pytest.raises(ZvtCcxtError, match=reason):
        parse_shard(value)


def test_more_shards_than_symbols_is_refused():
    with pytest.raises(ZvtCcxtError, match="holds none"):
        shard_symbols(["BTC/USDT", "ETH/USDT"], "3/3")
    assert parse_shard(" 2 / 3 ") == Shard(2, 3)


def test_two_shards_stream_their_own_symbols_and_one_view_sums_them(store, tmp_path):
    symbols = ["BTC/USDT", "ETH/USDT"]
    streams = [
        CcxtStream("bybit", symbols, ["trades"], flush_interval=0.05, shard=f"{i}/2", shard_status_dir=str(tmp_path),
                   shard_publish_interval=0.1)
        for i in (1, 2)
    ]
    assert [s.symbols for s in streams] == [["BTC/USDT"], ["ETH/USDT"]]

    async def scenario(server) -> None:
        tasks = [asyncio.ensure_future(s.run()) for s in streams]
        for stream in streams:
            await stream.wait_ready(30)
        deadline = time.monotonic() + 20
        while server.subscribed("bybit", TRADES) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        server.play("bybit", "BTC/USDT", 300)
        server.play("bybit", "ETH/USDT", 120)
        while sum(s.metrics.total("rows", "trades") for s in streams) < 420 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # a publication while running
        running = read_shards("bybit", tmp_path)
        assert [s["running"] for s in running] == [True, True]
        for stream in streams:
            stream.stop()
        await asyncio.gather(*tasks)

    with simulated_streams(SIM_NOW) as server:
        asyncio.run(scenario(server))
    shards = read_shards("bybit", tmp_path)
    assert [(s["shard"], s["symbols"], s["running"]) for s in shards] == [
        ("1/2", ["BTC/USDT"], False),
        ("2/2", ["ETH/USDT"], False),
    ]
    view = combined(shards)
    assert [r["rows"] for r in view["shards"]] == [300, 120]
    assert view["total"]["rows"] == 420 and view["total"]["shards"] == 2 and view["total"]["drops"] == 0
    assert view["total"]["messages"] == sum(s.metrics.total("messages") for s in streams)
    assert read_shards("okx", tmp_path) == []


def test_stream_status_shows_every_shard_and_the_total(store, tmp_path, capsys):
    assert main(["stream-status", "--shard-status-dir", str(tmp_path)]) == 0
    assert "no sharded stream has published" in capsys.readouterr().out
    streams = [CcxtStream("okx", ["BTC/USDT", "ETH/USDT", "SOL/USDT"], ["trades"], shard=f"{i}/2",
                          shard_status_dir=str(tmp_path)) for i in (1, 2)]
    from zvt_ccxt.stream.shards import publish

    for count, stream in zip((500, 70), streams, strict=True):
        stream.started_at = time.time() - 10
        stream.metrics.of("okx trades spot", "okx", "trades").rows = count
        publish(stream, tmp_path)
    assert main(["stream-status", "--exchange", "okx", "--shard-status-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert [line[:2] for line in lines if line and line[0] == "okx"] == [["okx", "1/2"], ["okx", "2/2"]]
    total = next(line for line in lines if line and line[0] == "all")
    assert "570" in total and "3" in total


def test_the_stream_command_refuses_a_bad_shard(store, capsys):
    assert main(["stream", "-e", "okx", "-s", "BTC/USDT", "--shard", "2/1"]) == 2
    assert "between 1 and n" in capsys.readouterr().err


def test_the_stream_command_refuses_bad_shard_weights(store, capsys):
    command = ["stream", "-e", "okx", "-s", "BTC/USDT,ETH/USDT", "--shard", "1/2", "--shard-weights", "BTC/USDT=x"]
    assert main(command) == 2
    assert "shard weight of BTC/USDT is 'x'" in capsys.readouterr().err


WEIGHTS = {"BTC/USDT": 50.0, "ETH/USDT": 20.0, "SOL/USDT": 12.0, "XRP/USDT": 9.0, "DOGE/USDT": 5.0, "ADA/USDT": 4.0}


def test_weighted_shards_carry_similar_message_rates_and_cover_every_symbol_once():
    parts = split(WEIGHTS, 2, WEIGHTS)
    assert sorted(s for part in parts for s in part) == sorted(WEIGHTS)
    loads = [sum(WEIGHTS[s] for s in part) for part in parts]
    assert loads == [50.0, 50.0]  # the busiest symbol alone, the other five together
    by_name = split(WEIGHTS, 2)  # unweighted: round-robin over the sorted names, blind to the load
    assert max(sum(WEIGHTS[s] for s in part) for part in by_name) > 60


def test_weighted_split_is_the_same_whatever_the_order_and_the_weights_text():
    text = ",".join(f"{s}={w:g}" for s, w in reversed(WEIGHTS.items()))
    shuffled = list(reversed(sorted(WEIGHTS)))
    for i in (1, 2, 3):
        assert shard_symbols(shuffled, f"{i}/3", text) == shard_symbols(sorted(WEIGHTS), (i, 3), WEIGHTS)


def test_symbols_without_a_weight_count_one():
    assert split(["A", "B", "C", "D"], 2, {"A": 3}) == [["A"], ["B", "C", "D"]]


@pytest.mark.parametrize(
    "weights", ["BTC/USDT=0", "BTC/USDT=-2", "BTC/USDT=x", "BTC/USDT", "=3", {"BTC/USDT": float("nan")}]
)
def test_bad_shard_weights_are_refused_with_the_reason(weights):
    with pytest.raises(ZvtCcxtError, match="shard weight"):
        shard_symbols(["BTC/USDT", "ETH/USDT"], "1/2", weights)
