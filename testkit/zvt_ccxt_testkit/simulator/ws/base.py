"""What every simulated stream protocol shares: the connection record and the protocol interface."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zvt_ccxt_testkit.simulator.ws.tape import Bar, Book, SimTrade, Tape

if TYPE_CHECKING:
    from aiohttp import web

    from zvt_ccxt_testkit.simulator.ws.server import WsExchangeServer

TRADES, KLINE, BOOK, FUNDING = "trades", "kline", "book", "funding"


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


@dataclass
class Conn:
    """One client connection: what it subscribed to and its per-connection counters."""

    ws: web.WebSocketResponse
    exchange: str
    path: str
    kind: str | None
    transport: Any = None
    #: (channel, market id) -> extra (the kline interval in ms, the book depth...)
    subscriptions: dict[tuple[str, str], Any] = field(default_factory=dict)
    stalled: bool = False
    sequence: int = 0
    frames_sent: int = 0

    def subscribed(self, channel: str, market_id: str) -> bool:
        return (channel, market_id) in self.subscriptions

    def next_sequence(self) -> int:
        value = self.sequence
        self.sequence += 1
        return value


@dataclass
class RestAnswer:
    status: int
    body: Any


class Protocol:
    """One exchange's public stream dialect; frames are built from tapes and sent by the server."""

    name = ""
    #: kline interval names on the wire -> bar length in ms
    intervals: dict[str, int] = {}

    def __init__(self, server: WsExchangeServer) -> None:
        self.server = server

    def kind_of(self, path: str) -> str | None:
        """Market kind served by a connection path (None when one connection serves every kind)."""
        return None

    async def on_text(self, conn: Conn, text: str) -> None:
        raise NotImplementedError

    def trade_frames(self, conn: Conn, tape: Tape, trades: list[SimTrade]) -> list[str]:
        raise NotImplementedError

    def kline_frame(self, conn: Conn, tape: Tape, interval_ms: int, bar: Bar, closed: bool) -> str | None:
        return None

    def book_snapshot(self, conn: Conn, tape: Tape, book: Book) -> list[str]:
        return []

    def book_update(self, conn: Conn, tape: Tape, book: Book, bids: list, asks: list, corrupt: bool) -> list[str]:
        return []

    def funding_frame(self, conn: Conn, tape: Tape, funding: dict) -> str | None:
        return None

    def rest(self, host: str, path: str, query: dict[str, str]) -> RestAnswer | None:
        """Answer a REST request from the tapes, or None to pass it to the HTTP simulator."""
        return None

    def book_rest(self, host: str, path: str, query: dict[str, str]) -> RestAnswer | None:
        """Answer a REST request a stream's book is built from (a snapshot its websocket diffs follow), or None:
        whoever serves history, this answer must come from the book the diffs are cut from."""
        return None

    def interval_name(self, interval_ms: int) -> str:
        for name, ms in self.intervals.items():
            if ms == interval_ms:
                return name
        raise KeyError(interval_ms)

    def finalize(self, conn: Conn, frame: str) -> str:
        """Last touch on a frame as it leaves, in sending order (per-connection sequence numbers)."""
        return frame

    async def send(self, conn: Conn, payload: Any) -> None:
        await conn.ws.send_str(self.finalize(conn, payload if isinstance(payload, str) else dumps(payload)))


MINUTE = 60_000
HOUR = 60 * MINUTE
