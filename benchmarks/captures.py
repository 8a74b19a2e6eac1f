"""Real exchange traffic from ``../shared/captures`` (cryptofeed's sample data), read as frames to replay.

The captures are short (binance spot 265 frames, okx 410), so a replay plays them again and again. Each
repetition shifts what must keep increasing (trade ids, book update ids and sequence numbers, event times
by whole minutes) so that a client sees one continuous, valid stream rather than the same 30 seconds
over and over; the content of every frame is otherwise the captured one. Nothing from the captures is
ever copied into this repository.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MINUTE_MS = 60_000


def captures_dir() -> Path | None:
    """``$ZVT_CCXT_CAPTURES`` or ``../shared/captures`` next to the repository; None when absent."""
    candidates = [os.environ.get("ZVT_CCXT_CAPTURES"), ROOT.parent / "shared" / "captures"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "BINANCE.ws.1.0").exists():
            return Path(candidate)
    return None


@dataclass
class Capture:
    """The frames an exchange sent on one captured connection, and the REST answers captured with them."""

    exchange: str
    url: str
    frames: list[dict]
    rest: dict[str, str]  # "path?query" (of the real URL) -> body


def _split(line: str) -> tuple[str, str]:
    head, _, body = line.partition(": ")
    return head, body.rstrip("\n")


def load(name: str, directory: Path) -> Capture:
    """``name``: ``BINANCE`` or ``OKX`` (the files ``NAME.ws.1.0``, ``NAME.0`` and ``NAME.http.0.0``)."""
    url, frames = "", []
    for line in (directory / f"{name}.ws.1.0").read_text().splitlines():
        if " <-> " in line and not line[:1].isdigit():
            url = line.split(" <-> ")[0]
            continue
        if " <- " in line[:300]:
            continue  # what the client sent
        _, body = _split(line)
        try:
            frame = json.loads(body)
        except ValueError:
            continue
        if isinstance(frame, dict) and frame.get("event") is None:
            frames.append(frame)
    rest = {}
    for suffix in ("0", "http.0.0"):
        path = directory / f"{name}.{suffix}"
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            head, body = _split(line)
            real = head.split(" -> ")[0]
            rest[real.split("://", 1)[-1].split("/", 1)[-1]] = body
    return Capture(name.split("_")[0].lower(), url, frames, rest)


def _spans(frames: list[dict], exchange: str) -> dict[tuple[str, str], int]:
    """How far each shifted quantity moves per repetition: its range in the capture plus one, per market for
    ids and sequence numbers (so each market's ids run on without a gap), in whole minutes for times."""
    values: dict[tuple[str, str], list[int]] = {}
    for frame in frames:
        for kind, market, value in _counters(frame, exchange):
            values.setdefault((kind, market if kind != "time" else ""), []).append(value)
    spans = {key: max(found) - min(found) + 1 for key, found in values.items()}
    spans[("time", "")] = (-(-spans.get(("time", ""), 1) // MINUTE_MS) + 1) * MINUTE_MS
    return spans


_BINANCE_FIELDS = {"E": "time", "T": "time", "a": "trade", "f": "fill", "l": "fill", "U": "update", "u": "update",
                   "pu": "update"}
_OKX_FIELDS = {"ts": "time", "tradeId": "trade", "seqId": "update", "prevSeqId": "update"}


def _market(frame: dict, exchange: str) -> str:
    if exchange == "binance":
        return str((frame.get("data") or {}).get("s"))
    return str((frame.get("arg") or {}).get("instId"))


def _rows(frame: dict, exchange: str) -> list[dict]:
    if exchange == "binance":
        data = frame.get("data")
        return [data] if isinstance(data, dict) else []
    return [row for row in frame.get("data") or [] if isinstance(row, dict)]


def _counters(frame: dict, exchange: str):
    """(kind, market, value) of every id, sequence number and time in a frame."""
    fields = _BINANCE_FIELDS if exchange == "binance" else _OKX_FIELDS
    market = _market(frame, exchange)
    for row in _rows(frame, exchange):
        for key, kind in fields.items():
            value = _integer(row.get(key))
            if value is not None and value >= 0:
                yield kind, market, value


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def shifted(frame: dict, exchange: str, spans: dict[tuple[str, str], int], repetition: int) -> dict:
    """``frame`` as it would read ``repetition`` captures later."""
    if repetition == 0:
        return frame
    moved = json.loads(json.dumps(frame))
    fields = _BINANCE_FIELDS if exchange == "binance" else _OKX_FIELDS
    market = _market(moved, exchange)
    for row in _rows(moved, exchange):
        holders = [(row, key, kind) for key, kind in fields.items()]
        if isinstance(row.get("k"), dict):  # a binance candle: its open and close times
            holders += [(row["k"], "t", "time"), (row["k"], "T", "time")]
        for holder, key, kind in holders:
            value = _integer(holder.get(key))
            if value is None or value < 0:
                continue
            step = spans.get((kind, "" if kind == "time" else market), 0) * repetition
            holder[key] = str(value + step) if isinstance(holder[key], str) else value + step
    return moved


def repeated(capture: Capture, count: int) -> list[str]:
    """``count`` frames (JSON text) of the capture played again and again, shifted to stay continuous."""
    spans = _spans(capture.frames, capture.exchange)
    out: list[str] = []
    repetition = 0
    while len(out) < count:
        for frame in capture.frames:
            out.append(json.dumps(shifted(frame, capture.exchange, spans, repetition), separators=(",", ":")))
            if len(out) == count:
                break
        repetition += 1
    return out
