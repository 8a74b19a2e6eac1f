"""Coinbase Advanced Trade public streams: ``type: subscribe`` per channel with product ids, a
``subscriptions`` confirmation, ``market_trades`` and ``level2`` (``l2_data``) events, and one
``sequence_num`` counter per connection across every message it carries."""

from __future__ import annotations

import datetime as dt
import json

from zvt_ccxt_testkit.simulator.ws.base import BOOK, TRADES, Conn, Protocol, RestAnswer
from zvt_ccxt_testkit.simulator.ws.tape import Book, SimTrade, Tape

#: placeholders numbered by ``finalize`` when the frame is sent (a skipped number stands for a lost message)
_NEXT, _SKIP = -1, -2
_NEXT_TEXT, _SKIP_TEXT = '"sequence_num":-1', '"sequence_num":-2'


def _iso(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class Coinbase(Protocol):
    name = "coinbase"

    async def on_text(self, conn: Conn, text: str) -> None:
        message = json.loads(text)
        kind, channel = message.get("type"), message.get("channel")
        name = {"market_trades": TRADES, "level2": BOOK}.get(channel)
        if kind not in ("subscribe", "unsubscribe") or name is None:
            await self.send(conn, {"type": "error", "message": f"Failure to subscribe to channel {channel!r}"})
            return
        frames = []
        for product in message.get("product_ids") or []:
            tape = self.server.tape_by_id(self.name, product, None)
            if tape is None:
                continue
            if kind == "subscribe":
                conn.subscriptions[(name, product)] = None
                if name == BOOK:
                    frames += self.book_snapshot(conn, tape, self.server.book(tape))
            else:
                conn.subscriptions.pop((name, product), None)
        subscribed: dict[str, list[str]] = {}
        for (sub, product), _ in conn.subscriptions.items():
            if sub in (TRADES, BOOK):
                subscribed.setdefault("market_trades" if sub == TRADES else "level2", []).append(product)
        await self._push(conn, "subscriptions", [{"subscriptions": subscribed}])
        for frame in frames:
            await self.send(conn, frame)

    def _envelope(self, conn: Conn, channel: str, events: list, corrupt: bool = False) -> str:
        ts = self.server.now_ms(self.name)
        body = {
            "channel": channel,
            "client_id": "",
            "timestamp": _iso(ts),
            "sequence_num": _SKIP if corrupt else _NEXT,
            "events": events,
        }
        return json.dumps(body, separators=(",", ":"))

    def finalize(self, conn: Conn, frame: str) -> str:
        """Number the frame as it leaves: ``sequence_num`` counts every message of the connection in order."""
        if _SKIP_TEXT in frame:
            conn.next_sequence()
            return frame.replace(_SKIP_TEXT, f'"sequence_num":{conn.next_sequence()}', 1)
        return frame.replace(_NEXT_TEXT, f'"sequence_num":{conn.next_sequence()}', 1)

    async def _push(self, conn: Conn, channel: str, events: list) -> None:
        await self.send(conn, self._envelope(conn, channel, events))

    def trade_frames(self, conn: Conn, tape: Tape, trades: list[SimTrade]) -> list[str]:
        frames = []
        for start in range(0, len(trades), 50):
            rows = [
                {
                    "trade_id": str(t.id),
                    "product_id": tape.market_id,
                    "price": tape.price(t.price_units),
                    "size": tape.amount(t.amount_units),
                    "side": "BUY" if t.buy else "SELL",
                    "time": _iso(t.ts),
                }
                for t in trades[start : start + 50]
            ]
            frames.append(self._envelope(conn, "market_trades", [{"type": "update", "trades": rows}]))
        return frames

    def _updates(self, tape: Tape, ts: int, bids, asks) -> list[dict]:
        when = _iso(ts)
        rows = [
            {"side": "bid", "event_time": when, "price_level": tape.price(p), "new_quantity": tape.amount(q)}
            for p, q in bids
        ]
        rows += [
            {"side": "offer", "event_time": when, "price_level": tape.price(p), "new_quantity": tape.amount(q)}
            for p, q in asks
        ]
        return rows

    def book_snapshot(self, conn: Conn, tape: Tape, book: Book) -> list[str]:
        ts = tape.start_ms + max(0, tape.position - 1) * tape.spacing_ms
        updates = self._updates(tape, ts, book.sorted_bids(), book.sorted_asks())
        return [
            self._envelope(conn, "l2_data", [{"type": "snapshot", "product_id": tape.market_id, "updates": updates}])
        ]

    def book_update(self, conn: Conn, tape: Tape, book: Book, bids: list, asks: list, corrupt: bool) -> list[str]:
        ts = tape.start_ms + max(0, tape.position - 1) * tape.spacing_ms
        event = {"type": "update", "product_id": tape.market_id, "updates": self._updates(tape, ts, bids, asks)}
        return [self._envelope(conn, "l2_data", [event], corrupt)]

    # -- REST: the ticker endpoint lists trades, newest first, inside [start, end] seconds -------------------

    def rest(self, host: str, path: str, query: dict[str, str]) -> RestAnswer | None:
        prefix = "/api/v3/brokerage/market/products/"
        if host != "api.coinbase.com" or not path.startswith(prefix) or not path.endswith("/ticker"):
            return None
        tape = self.server.tape_by_id(self.name, path[len(prefix) : -len("/ticker")], None)
        if tape is None:
            return None
        limit = min(int(query.get("limit") or 100), 1000)
        stop = tape.position
        if query.get("end"):
            stop = min(stop, tape.index_at(int(query["end"]) * 1000 + 1000))
        start = tape.index_at(int(query["start"]) * 1000) if query.get("start") else 0
        trades = tape.trades(max(start, stop - limit), stop)[::-1]
        price = tape.price(trades[0].price_units) if trades else ""
        rows = [
            {
                "trade_id": str(t.id),
                "product_id": tape.market_id,
                "price": tape.price(t.price_units),
                "size": tape.amount(t.amount_units),
                "time": _iso(t.ts),
                "side": "BUY" if t.buy else "SELL",
                "bid": "",
                "ask": "",
            }
            for t in trades
        ]
        return RestAnswer(200, {"trades": rows, "best_bid": price, "best_ask": price})
