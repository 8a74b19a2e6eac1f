"""OKX v5 public streams: ``op: subscribe`` with channel/instId args, text ping/pong, book checksums (crc32 of
the top 25 levels), ``seqId``/``prevSeqId`` chaining, candles on the ``/business`` path, funding-rate pushes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib

from zvt_ccxt_testkit.simulator.ws.base import BOOK, FUNDING, HOUR, KLINE, MINUTE, TRADES, Conn, Protocol, RestAnswer
from zvt_ccxt_testkit.simulator.ws.tape import Bar, Book, SimTrade, Tape

#: private channels the simulator serves after a login: balances, orders, positions
PRIVATE_CHANNELS = ("account", "orders", "positions")


def okx_checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """OKX's book checksum: crc32 over ``bid:size:ask:size`` of the top 25 levels, as a signed 32-bit int."""
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= (1 << 31) else value


class Okx(Protocol):
    name = "okx"
    intervals = {
        "1m": MINUTE,
        "3m": 3 * MINUTE,
        "5m": 5 * MINUTE,
        "15m": 15 * MINUTE,
        "30m": 30 * MINUTE,
        "1H": HOUR,
        "2H": 2 * HOUR,
        "4H": 4 * HOUR,
        "1D": 24 * HOUR,
    }

    async def on_text(self, conn: Conn, text: str) -> None:
        if text == "ping":
            await conn.ws.send_str("pong")
            return
        message = json.loads(text)
        op = message.get("op")
        if op == "login":
            await self._login(conn, message)
            return
        if op not in ("subscribe", "unsubscribe"):
            await self.send(conn, {"event": "error", "code": "60012", "msg": f"Illegal request: {text}"})
            return
        for arg in message.get("args") or []:
            channel, inst_id = arg.get("channel", ""), arg.get("instId", "")
            if channel in PRIVATE_CHANNELS:
                await self._private(conn, op, arg)
                continue
            tape = self.server.tape_by_id(self.name, inst_id, None)
            key = self._channel(channel)
            if tape is None or key is None:
                await self.send(conn, {"event": "error", "code": "60018", "msg": f"Wrong URL or channel:{channel}"})
                continue
            name, extra = key
            if op == "subscribe":
                conn.subscriptions[(name, inst_id)] = extra
                await self.send(conn, {"event": "subscribe", "arg": arg, "connId": f"{id(conn):08x}"[-8:]})
                if name == BOOK:
                    for frame in self.book_snapshot(conn, tape, self.server.book(tape)):
                        await self.send(conn, frame)
            else:
                conn.subscriptions.pop((name, inst_id), None)
                await self.send(conn, {"event": "unsubscribe", "arg": arg, "connId": f"{id(conn):08x}"[-8:]})

    def _channel(self, channel: str):
        if channel == "trades":
            return TRADES, None
        if channel.startswith("candle") and channel[6:] in self.intervals:
            return KLINE, self.intervals[channel[6:]]
        if channel == "books":
            return BOOK, None
        if channel == "funding-rate":
            return FUNDING, None
        return None

    def trade_frames(self, conn: Conn, tape: Tape, trades: list[SimTrade]) -> list[str]:
        arg = {"channel": "trades", "instId": tape.market_id}
        return [
            json.dumps(
                {
                    "arg": arg,
                    "data": [
                        {
                            "instId": tape.market_id,
                            "tradeId": str(t.id),
                            "px": tape.price(t.price_units),
                            "sz": tape.amount(t.amount_units),
                            "side": "buy" if t.buy else "sell",
                            "ts": str(t.ts),
                            "count": "1",
                        }
                    ],
                },
                separators=(",", ":"),
            )
            for t in trades
        ]

    def kline_frame(self, conn: Conn, tape: Tape, interval_ms: int, bar: Bar, closed: bool) -> str | None:
        arg = {"channel": "candle" + self.interval_name(interval_ms), "instId": tape.market_id}
        volume = tape.amount(bar.volume)
        row = [
            str(bar.start),
            tape.price(bar.open),
            tape.price(bar.high),
            tape.price(bar.low),
            tape.price(bar.close),
            volume,
            volume,
            "0",
            "1" if closed else "0",
        ]
        return json.dumps({"arg": arg, "data": [row]}, separators=(",", ":"))

    def _levels(self, tape: Tape, levels: list[tuple[int, int]]) -> list[list[str]]:
        return [[tape.price(p), tape.amount(q), "0", "1"] for p, q in levels]

    def book_snapshot(self, conn: Conn, tape: Tape, book: Book) -> list[str]:
        bids, asks = self._levels(tape, book.sorted_bids()), self._levels(tape, book.sorted_asks())
        checksum = okx_checksum([b[:2] for b in bids], [a[:2] for a in asks])
        conn.subscriptions[("book_seq", tape.market_id)] = book.sequence
        data = {
            "asks": asks,
            "bids": bids,
            "ts": str(tape.start_ms + tape.position * tape.spacing_ms),
            "checksum": checksum,
            "prevSeqId": -1,
            "seqId": book.sequence,
        }
        arg = {"channel": "books", "instId": tape.market_id}
        return [json.dumps({"arg": arg, "action": "snapshot", "data": [data]}, separators=(",", ":"))]

    def book_update(self, conn: Conn, tape: Tape, book: Book, bids: list, asks: list, corrupt: bool) -> list[str]:
        previous = conn.subscriptions.get(("book_seq", tape.market_id), book.sequence - 1)
        conn.subscriptions[("book_seq", tape.market_id)] = book.sequence
        top_bids = [[tape.price(p), tape.amount(q)] for p, q in book.sorted_bids()]
        top_asks = [[tape.price(p), tape.amount(q)] for p, q in book.sorted_asks()]
        checksum = okx_checksum(top_bids, top_asks) + (1 if corrupt else 0)
        data = {
            "asks": self._levels(tape, asks),
            "bids": self._levels(tape, bids),
            "ts": str(tape.start_ms + max(0, tape.position - 1) * tape.spacing_ms),
            "checksum": checksum,
            "prevSeqId": previous,
            "seqId": book.sequence,
        }
        arg = {"channel": "books", "instId": tape.market_id}
        return [json.dumps({"arg": arg, "action": "update", "data": [data]}, separators=(",", ":"))]

    def funding_frame(self, conn: Conn, tape: Tape, funding: dict) -> str | None:
        arg = {"channel": "funding-rate", "instId": tape.market_id}
        data = {
            "fundingRate": funding["rate"],
            "fundingTime": str(funding["next_ms"]),
            "instId": tape.market_id,
            "instType": "SWAP",
            "method": "current_period",
            "nextFundingRate": "",
            "nextFundingTime": str(funding["next_ms"] + 8 * HOUR),
            "ts": str(funding["now_ms"]),
        }
        return json.dumps({"arg": arg, "data": [data]}, separators=(",", ":"))

    # -- REST: the newest trades (okx serves no time range on this endpoint) --------------------------------

    def _trades_rest(self, host: str, path: str, query: dict[str, str]) -> RestAnswer | None:
        if not host.endswith("okx.com") or path != "/api/v5/market/trades":
            return None
        tape = self.server.tape_by_id(self.name, query.get("instId", ""), None)
        if tape is None:
            return None
        limit = min(int(query.get("limit") or 100), 500)
        trades = tape.trades(tape.position - limit, tape.position)[::-1]
        data = [
            {
                "instId": tape.market_id,
                "tradeId": str(t.id),
                "px": tape.price(t.price_units),
                "sz": tape.amount(t.amount_units),
                "side": "buy" if t.buy else "sell",
                "ts": str(t.ts),
                "count": "1",
            }
            for t in trades
        ]
        return RestAnswer(200, {"code": "0", "msg": "", "data": data})

    # -- private: login, then account / orders / positions pushes ---------------------------------------------

    async def _login(self, conn: Conn, message: dict) -> None:
        args = (message.get("args") or [{}])[0]
        expected = self.server.credentials.get(self.name)
        ok = all(args.get(k) for k in ("apiKey", "passphrase", "timestamp", "sign"))
        if ok and expected is not None:
            key, secret, passphrase = expected
            payload = f"{args['timestamp']}GET/users/self/verify".encode()
            sign = base64.b64encode(hmac.new(secret.encode(), payload, hashlib.sha256).digest()).decode()
            ok = args["apiKey"] == key and args["passphrase"] == passphrase and hmac.compare_digest(sign, args["sign"])
        if not ok:
            await self.send(conn, {"event": "error", "code": "60009", "msg": "Login failed."})
            return
        conn.subscriptions[("login", "*")] = True
        await self.send(conn, {"event": "login", "code": "0", "msg": "", "connId": f"{id(conn):08x}"[-8:]})

    async def _private(self, conn: Conn, op: str, arg: dict) -> None:
        channel = arg["channel"]
        if not conn.subscriptions.get(("login", "*")):
            await self.send(conn, {"event": "error", "code": "60011", "msg": "Please log in"})
            return
        if op == "unsubscribe":
            conn.subscriptions.pop((channel, "*"), None)
            await self.send(conn, {"event": "unsubscribe", "arg": arg})
            return
        conn.subscriptions[(channel, "*")] = None
        await self.send(conn, {"event": "subscribe", "arg": arg, "connId": f"{id(conn):08x}"[-8:]})
        if channel == "account":
            await self.send(conn, self.private_frame("account", [self.balance_data()]))

    def balance_data(self) -> dict:
        now = str(self.server.now_ms(self.name))
        details = [
            {
                "ccy": ccy,
                "availBal": free,
                "frozenBal": used,
                "eq": str(float(free) + float(used)),
                "cashBal": str(float(free) + float(used)),
                "uTime": now,
            }
            for ccy, (free, used) in self.server.balances.get(self.name, {}).items()
        ]
        return {"uTime": now, "totalEq": "0", "details": details}

    def private_frame(self, channel: str, data: list) -> str:
        arg = {"channel": channel, "uid": "77777"}
        if channel != "account":
            arg["instType"] = "ANY"
        return json.dumps({"arg": arg, "data": data}, separators=(",", ":"))

    # -- REST: with keys ccxt loads currencies privately while loading markets --------------------------------

    def rest(self, host: str, path: str, query: dict[str, str]) -> RestAnswer | None:
        if host.endswith("okx.com") and path == "/api/v5/asset/currencies":
            return RestAnswer(200, {"code": "0", "msg": "", "data": []})
        return self._trades_rest(host, path, query)
