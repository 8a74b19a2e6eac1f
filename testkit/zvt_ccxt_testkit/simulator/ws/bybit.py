"""Bybit v5 public streams: one path per market kind, ``op: subscribe`` with topic strings, JSON ping/pong,
batched ``publicTrade`` pushes (UUID trade ids on contracts, as bybit sends), ``orderbook.N`` snapshot + deltas
whose update id ``u`` grows by one."""

from __future__ import annotations

import json
import uuid

from zvt_ccxt_testkit.simulator.ws.base import BOOK, HOUR, KLINE, MINUTE, TRADES, Conn, Protocol, RestAnswer
from zvt_ccxt_testkit.simulator.ws.tape import Bar, Book, SimTrade, Tape


class Bybit(Protocol):
    name = "bybit"
    intervals = {
        "1": MINUTE,
        "3": 3 * MINUTE,
        "5": 5 * MINUTE,
        "15": 15 * MINUTE,
        "30": 30 * MINUTE,
        "60": HOUR,
        "120": 2 * HOUR,
        "240": 4 * HOUR,
        "D": 24 * HOUR,
    }

    def kind_of(self, path: str) -> str | None:
        for kind in ("spot", "linear", "inverse"):
            if path.rstrip("/").endswith(kind):
                return kind
        return "linear"

    async def on_text(self, conn: Conn, text: str) -> None:
        message = json.loads(text)
        op, req_id = message.get("op"), message.get("req_id")
        conn_id = f"{id(conn):x}"
        if op == "ping":
            await self.send(conn, {"success": True, "ret_msg": "pong", "conn_id": conn_id, "req_id": req_id, "op": op})
            return
        if op not in ("subscribe", "unsubscribe"):
            await self.send(conn, {"success": False, "ret_msg": f"unknown op {op}", "conn_id": conn_id, "op": op})
            return
        snapshots = []
        for topic in message.get("args") or []:
            parts = str(topic).split(".")
            tape = self.server.tape_by_id(self.name, parts[-1], conn.kind)
            key = self._topic(parts)
            if tape is None or key is None:
                continue
            name, extra = key
            if op == "subscribe":
                conn.subscriptions[(name, tape.market_id)] = extra
                if name == BOOK:
                    snapshots += self.book_snapshot(conn, tape, self.server.book(tape))
            else:
                conn.subscriptions.pop((name, tape.market_id), None)
        await self.send(conn, {"success": True, "ret_msg": "", "conn_id": conn_id, "req_id": req_id, "op": op})
        for frame in snapshots:
            await self.send(conn, frame)

    def _topic(self, parts: list[str]):
        if parts[0] == "publicTrade" and len(parts) == 2:
            return TRADES, None
        if parts[0] == "kline" and len(parts) == 3 and parts[1] in self.intervals:
            return KLINE, self.intervals[parts[1]]
        if parts[0] == "orderbook" and len(parts) == 3:
            return BOOK, int(parts[1])
        return None

    def _trade_id(self, tape: Tape, trade: SimTrade) -> str:
        if tape.kind == "spot":
            return str(2_290_000_000_000_000_000 + trade.id)
        return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{tape.market_id}:{trade.id}"))

    def trade_frames(self, conn: Conn, tape: Tape, trades: list[SimTrade]) -> list[str]:
        frames = []
        for start in range(0, len(trades), 50):
            chunk = trades[start : start + 50]
            data = [
                {
                    "T": t.ts,
                    "s": tape.market_id,
                    "S": "Buy" if t.buy else "Sell",
                    "v": tape.amount(t.amount_units),
                    "p": tape.price(t.price_units),
                    "L": "PlusTick",
                    "i": self._trade_id(tape, t),
                    "BT": False,
                }
                for t in chunk
            ]
            body = {"topic": f"publicTrade.{tape.market_id}", "type": "snapshot", "ts": chunk[-1].ts, "data": data}
            frames.append(json.dumps(body, separators=(",", ":")))
        return frames

    def kline_frame(self, conn: Conn, tape: Tape, interval_ms: int, bar: Bar, closed: bool) -> str | None:
        interval = self.interval_name(interval_ms)
        now = tape.start_ms + max(0, tape.position - 1) * tape.spacing_ms
        volume = bar.volume * tape.lot_f
        row = {
            "start": bar.start,
            "end": bar.start + interval_ms - 1,
            "interval": interval,
            "open": tape.price(bar.open),
            "close": tape.price(bar.close),
            "high": tape.price(bar.high),
            "low": tape.price(bar.low),
            "volume": tape.amount(bar.volume),
            "turnover": f"{volume * bar.close * tape.tick_f:.8f}",
            "confirm": closed,
            "timestamp": now,
        }
        body = {"topic": f"kline.{interval}.{tape.market_id}", "data": [row], "ts": now, "type": "snapshot"}
        return json.dumps(body, separators=(",", ":"))

    def _book(self, tape: Tape, book: Book, kind: str, bids, asks, update_id: int) -> str:
        now = tape.start_ms + max(0, tape.position - 1) * tape.spacing_ms
        depth = 50
        data = {
            "s": tape.market_id,
            "b": [[tape.price(p), tape.amount(q)] for p, q in bids],
            "a": [[tape.price(p), tape.amount(q)] for p, q in asks],
            "u": update_id,
            "seq": 7_000_000 + update_id,
        }
        body = {"topic": f"orderbook.{depth}.{tape.market_id}", "type": kind, "ts": now, "data": data, "cts": now}
        return json.dumps(body, separators=(",", ":"))

    def book_snapshot(self, conn: Conn, tape: Tape, book: Book) -> list[str]:
        return [self._book(tape, book, "snapshot", book.sorted_bids(), book.sorted_asks(), book.sequence)]

    def book_update(self, conn: Conn, tape: Tape, book: Book, bids: list, asks: list, corrupt: bool) -> list[str]:
        return [self._book(tape, book, "delta", bids, asks, book.sequence + (3 if corrupt else 0))]

    # -- REST: the tickers endpoint carries the funding rate ccxt's fetch_funding_rate reads -------------

    def rest(self, host: str, path: str, query: dict[str, str]) -> RestAnswer | None:
        if host.startswith("api.bybit") and path == "/v5/market/recent-trade":
            return self._recent_trades(query)
        if not host.startswith("api.bybit") or path != "/v5/market/tickers":
            return None
        category = query.get("category") or "linear"
        tape = self.server.tape_by_id(self.name, query.get("symbol", ""), category)
        if tape is None or category not in ("linear", "inverse"):
            return None
        funding = self.server.funding(tape)
        price = tape.price(tape.trade(max(0, tape.position - 1)).price_units)
        ticker = {
            "symbol": tape.market_id,
            "lastPrice": price,
            "markPrice": price,
            "indexPrice": price,
            "fundingRate": funding["rate"],
            "nextFundingTime": str(funding["next_ms"]),
            "openInterest": "0",
            "volume24h": "0",
            "turnover24h": "0",
            "bid1Price": price,
            "ask1Price": price,
        }
        body = {
            "retCode": 0,
            "retMsg": "OK",
            "result": {"category": category, "list": [ticker]},
            "retExtInfo": {},
            "time": funding["now_ms"],
        }
        return RestAnswer(200, body)

    def _recent_trades(self, query: dict[str, str]) -> RestAnswer | None:
        category = query.get("category") or "linear"
        tape = self.server.tape_by_id(self.name, query.get("symbol", ""), category)
        if tape is None:
            return None
        limit = min(int(query.get("limit") or 60), 1000 if category != "spot" else 60)
        trades = tape.trades(tape.position - limit, tape.position)[::-1]
        rows = [
            {
                "execId": self._trade_id(tape, t),
                "symbol": tape.market_id,
                "price": tape.price(t.price_units),
                "size": tape.amount(t.amount_units),
                "side": "Buy" if t.buy else "Sell",
                "time": str(t.ts),
                "isBlockTrade": False,
            }
            for t in trades
        ]
        body = {
            "retCode": 0,
            "retMsg": "OK",
            "result": {"category": category, "list": rows},
            "retExtInfo": {},
            "time": tape.start_ms + tape.position * tape.spacing_ms,
        }
        return RestAnswer(200, body)
