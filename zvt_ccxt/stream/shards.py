"""Streams split over processes: which symbols shard ``i/n`` streams, and every shard's metrics in one view.

A shard is written ``i/n`` with ``1 <= i <= n``. The split depends only on the set of symbols and their weights
(each symbol's share of the messages, e.g. trades a minute; 1 when not given), never on timing or order, so
every process given the same list and weights, in any order and on any machine, takes its own disjoint part,
and the parts together are the whole list. Symbols are placed heaviest first, each on the shard carrying the
least weight so far (ties: the lower shard; equal weights: by name), so the shards carry similar message
rates; without weights that deals the sorted symbols round-robin. A symbol is the smallest unit: one symbol
busier than all the others together fills a shard of its own. Each sharded stream publishes its metrics as a
small JSON file in a status directory (``$ZVT_HOME/stream-shards`` unless set; a directory every shard can
reach, such as a shared mount, when shards run on several machines); :func:`read_shards` and
``zvt-ccxt stream-status`` read them all back as one view. This module imports nothing heavy: the CLI uses it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zvt_ccxt.errors import ZvtCcxtError

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")

#: counters summed over shards in the combined view (latencies and staleness are per shard: the worst is shown)
SUMMED = ("messages", "rows", "reconnects", "resyncs", "gaps", "gaps_repaired", "repaired_rows", "drops", "stalls",
          "errors")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def file_name(self) -> str:
        return f"shard-{self.index}-of-{self.count}"


def parse_shard(value: object) -> Shard:
    """``"2/4"``, ``(2, 4)`` or a :class:`Shard` -> ``Shard(2, 4)``; anything else is refused with the reason."""
    if isinstance(value, Shard):
        index, count = value.index, value.count
    elif isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        index, count = value
    elif isinstance(value, str) and (match := _SHARD.match(value)):
        index, count = int(match.group(1)), int(match.group(2))
    else:
        raise ZvtCcxtError(f"shard {value!r} is not of the form i/n, e.g. 1/2 for the first of two")
    if count < 1 or not 1 <= index <= count:
        raise ZvtCcxtError(f"shard {index}/{count}: i must be between 1 and n (n >= 1)")
    return Shard(index, count)


def parse_weights(value: object) -> dict[str, float]:
    """Shard weights as a mapping, or text ``SYMBOL=WEIGHT,...`` (``BTC/USDT=40,ETH/USDT=12``); refused with
    the reason when a weight is not a positive number."""
    if value is None:
        return {}
    if isinstance(value, str):
        pairs = []
        for item in filter(None, (part.strip() for part in value.split(","))):
            symbol, equals, weight = item.rpartition("=")
            if not equals or not symbol.strip():
                raise ZvtCcxtError(f"shard weight {item!r} is not of the form SYMBOL=WEIGHT, e.g. BTC/USDT=40")
            pairs.append((symbol.strip(), weight.strip()))
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        raise ZvtCcxtError(f"shard weights {value!r}: give a mapping or SYMBOL=WEIGHT,... text")
    weights = {}
    for symbol, weight in pairs:
        try:
            number = float(weight)
        except (TypeError, ValueError):
            number = float("nan")
        if not number > 0 or number == float("inf"):
            raise ZvtCcxtError(f"shard weight of {symbol} is {weight!r}: it must be a positive number")
        weights[str(symbol)] = number
    return weights


def split(symbols: Iterable[str], count: int, weights: object = None) -> list[list[str]]:
    """All ``count`` parts of ``symbols`` (each sorted), balanced by weight as the module says."""
    given = parse_weights(weights)
    ordered = sorted(set(symbols), key=lambda s: (-given.get(s, 1.0), s))
    parts: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for symbol in ordered:
        lightest = min(range(count), key=lambda i: (loads[i], i))
        parts[lightest].append(symbol)
        loads[lightest] += given.get(symbol, 1.0)
    return [sorted(part) for part in parts]


def shard_symbols(symbols: Iterable[str], shard: object, weights: object = None) -> list[str]:
    """The symbols shard ``shard`` streams (``weights``: each symbol's share of the messages, see the module);
    the same on every machine."""
    part = parse_shard(shard)
    ordered = sorted(set(symbols))
    chosen = split(ordered, part.count, weights)[part.index - 1]
    if not chosen:
        raise ZvtCcxtError(
            f"shard {part} of {len(ordered)} symbols holds none: use at most {len(ordered)} shards"
        )
    return chosen


def status_dir(directory: str | os.PathLike | None = None) -> Path:
    """Where sharded streams publish their metrics: ``directory``, ``$ZVT_CCXT_SHARD_STATUS`` or
    ``$ZVT_HOME/stream-shards``."""
    if directory is not None:
        return Path(directory)
    configured = os.environ.get("ZVT_CCXT_SHARD_STATUS")
    if configured:
        return Path(configured)
    from zvt_ccxt.config import zvt_home

    return zvt_home() / "stream-shards"


def status_path(exchange: str, shard: Shard, directory: str | os.PathLike | None = None) -> Path:
    return status_dir(directory) / f"{exchange}-{shard.file_name}.json"


def publish(stream: Any, directory: str | os.PathLike | None = None, running: bool = True) -> Path:
    """Write ``stream``'s metrics as its shard's status file (atomically: readers never see half a file)."""
    shard: Shard = stream.shard
    path = status_path(stream.exchange_id, shard, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    status = {
        "exchange": stream.exchange_id,
        "shard": str(shard),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "running": running,
        "started_at": stream.started_at,
        "updated_at": time.time(),
        "symbols": list(stream.symbols),
        "channels": list(stream.channels),
        "frames": stream.pro.frames if getattr(stream, "pro", None) is not None else 0,
        "subscriptions": stream.metrics.snapshot(),
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(status, default=str))
    os.replace(temporary, path)
    return path


def read_shards(exchange: str | None = None, directory: str | os.PathLike | None = None) -> list[dict]:
    """Every shard's last published status (optionally of one exchange), ordered by exchange and shard."""
    folder = status_dir(directory)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*-shard-*-of-*.json")):
        try:
            status = json.loads(path.read_text())
        except (OSError, ValueError):  # being replaced right now, or not ours: the next read sees it
            continue
        if exchange is None or status.get("exchange") == exchange:
            found.append(status)

    def order(status: dict) -> tuple:
        shard = parse_shard(status.get("shard", "1/1"))
        return status.get("exchange", ""), shard.count, shard.index

    return sorted(found, key=order)


def combined(shards: Sequence[dict], now: float | None = None) -> dict:
    """One view of many shards: per shard its totals and msg/s since it started, and the sums over all."""
    now = time.time() if now is None else now
    rows: list[dict[str, Any]] = []
    for status in shards:
        subscriptions = status.get("subscriptions") or []
        totals = {key: sum(int(s.get(key) or 0) for s in subscriptions) for key in SUMMED}
        started = status.get("started_at")
        ended = status.get("updated_at") or now
        seconds = max(0.0, ended - started) if started else None
        p99 = [s["latency_p99_ms"] for s in subscriptions if s.get("latency_p99_ms") is not None]
        rows.append(
            {
                "exchange": status.get("exchange"),
                "shard": status.get("shard"),
                "host": status.get("host"),
                "pid": status.get("pid"),
                "state": "running" if status.get("running") else "stopped",
                "symbols": len(status.get("symbols") or []),
                "seconds": seconds,
                "msgs_per_s": totals["messages"] / seconds if seconds else None,
                "latency_p99_ms": max(p99) if p99 else None,
                "updated_s_ago": now - status["updated_at"] if status.get("updated_at") else None,
                **totals,
            }
        )
    total = {key: sum(r[key] for r in rows) for key in SUMMED}
    rates = [r["msgs_per_s"] for r in rows if r["msgs_per_s"] is not None]
    total.update(
        shards=len(rows),
        symbols=sum(r["symbols"] for r in rows),
        msgs_per_s=sum(rates) if rates else None,
        latency_p99_ms=max((r["latency_p99_ms"] for r in rows if r["latency_p99_ms"] is not None), default=None),
    )
    return {"shards": rows, "total": total}
