"""Binance market streams (``/ws`` raw streams with SUBSCRIBE) and the REST endpoints a stream leans on:
aggregate trades (repair), depth snapshots (ccxt builds the book from one) and the premium index (funding)."""

from __future__ import annotations

import json

from zvt_ccxt_testkit.simulator.ws.base import BOOK, HOUR, KLINE, MINUTE, TRADES, Conn, Protocol, RestAnswer
from zvt_ccxt_testkit.simulator.ws.tape import Bar, Book, SimTrade, Tape

_REST_KINDS = {"api.binance.com": "spot", "fapi.binance.com": "linear", "dapi.binance.com": "inverse"}
_PREFIXES = ("/api/v3/", "/fapi/v1/", "/dapi/v1/")


class Binance(Protocol):
    name = "binance"
    intervals = {
        "1m": MINUTE,
        "3m": 3 * MINUTE,
        "5m": 5 * MINUTE,
        "15m": 15 * MINUTE,
        "30m": 30 * MINUTE,
        "1h": HOUR,
        "2h": 2 * HOUR,
        "4h": 4 * HOUR,
        "1d": 24 * HOUR,
    }

    def kind_of(self, path: str) -> str | None:
        if "/fstream" in path:
            return "linear"
        if "/dstream" in path:
            return "inverse"
        return "spot"

    async def on_text(self, conn: Conn, text: str) -> None:
        message = json.loads(text)
        method = message.get("method")
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            await self.send(conn, {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}})
            return
        for stream in message.get("params") or []:
            key = self._parse(conn, str(stream))
            if key is None:
                continue
            if method == "SUBSCRIBE":
                conn.subscriptions[key[0]] = key[1]
            else:
                conn.subscriptions.pop(key[0], None)
        await self.send(conn, {"result": None, "id": message.get("id")})

    def _parse(self, conn: Conn, stream: str):
        parts = stream.split("@")
        tape = self.server.tape_by_id(self.name, parts[0].upper(), conn.kind)
        if tape is None or len(parts) < 2:
            return None
        name = parts[1]
        if name in ("aggTrade", "trade"):
            conn.subscriptions.setdefault(("trade_name", tape.market_id), name)
            return (TRADES, tape.market_id), name
        if name.startswith("kline_") and name[6:] in self.intervals:
            return (KLINE, tape.market_id), self.intervals[name[6:]]
        if name == "depth":
            return (BOOK, tape.market_id), None
        return None

    def trade_frames(self, conn: Conn, tape: Tape, trades: list[SimTrade]) -> list[str]:
        name = conn.subscriptions.get(("trade_name", tape.market_id), "aggTrade")
        frames = []
        for t in trades:
            if name == "aggTrade":
                body = {
                    "e": "aggTrade",
                    "E": t.ts,
                    "s": tape.market_id,
                    "a": t.id,
                    "p": tape.price(t.price_units),
                    "q": tape.amount(t.amount_units),
                    "f": t.id,
                    "l": t.id,
                    "T": t.ts,
                    "m": not t.buy,
                    "M": True,
                }
            else:
                body = {
                    "e": "trade",
                    "E": t.ts,
                    "s": tape.market_id,
                    "t": t.id,
                    "p": tape.price(t.price_units),
                    "q": tape.amount(t.amount_units),
                    "T": t.ts,
                    "m": not t.buy,
                    "M": True,
                }
            frames.append(json.dumps(body, separators=(",", ":")))
        return frames

    def kline_frame(self, conn: Conn, tape: Tape, interval_ms: int, bar: Bar, closed: bool) -> str | None:
        interval = self.interval_name(interval_ms)
        volume = bar.volume * tape.lot_f
        k = {
            "t": bar.start,
            "T": bar.start + interval_ms - 1,
            "s": tape.market_id,
            "i": interval,
            "f": bar.first_id,
            "L": bar.last_id,
            "o": tape.price(bar.open),
            "c": tape.price(bar.close),
            "h": tape.price(bar.high),
            "l": tape.price(bar.low),
            "v": tape.amount(bar.volume),
            "n": bar.count,
            "x": closed,
            "q": f"{volume * bar.close * tape.tick_f:.8f}",
            "V": "0",
            "Q": "0",
            "B": "0",
        }
        event = tape.start_ms + max(0, tape.position - 1) * tape.spacing_ms
        return json.dumps({"e": "kline", "E": event, "s": tape.market_id, "k": k}, separators=(",", ":"))

    def book_update(self, conn: Conn, tape: Tape, book: Book, bids: list, asks: list, corrupt: bool) -> list[str]:
        sequence = book.sequence + (5 if corrupt else 0)
        event = tape.start_ms + max(0, tape.position - 1) * tape.spacing_ms
        body = {
            "e": "depthUpdate",
            "E": event,
            "s": tape.market_id,
            "U": sequence,
            "u": sequence,
            "b": [[tape.price(p), tape.amount(q)] for p, q in bids],
            "a": [[tape.price(p), tape.amount(q)] for p, q in asks],
        }
        if tape.kind != "spot":
            body["T"] = event
            body["pu"] = sequence - 1
        return [json.dumps(body, separators=(",", ":"))]

    # -- REST -----------------------------------------------------------------------------------------

    def rest(self, host: str, path: str, query: dict[str, str]) -> RestAnswer | None:
        kind = _REST_KINDS.get(host)
        if kind is None or not path.startswith(_PREFIXES):
            return None
        endpoint = path.rsplit("/", 1)[-1]
        tape = self.server.tape_by_id(self.name, query.get("symbol", ""), kind)
        if endpoint == "aggTrades" and tape is not None:
            return RestAnswer(200, self._agg_trades(tape, query))
        if endpoint == "depth" and tape is not None:
            return self._depth_answer(tape, query)
        if endpoint == "premiumIndex" and kind != "spot" and tape is not None:
            return RestAnswer(200, self._premium(tape))
        if endpoint == "klines" and tape is not None and tape.position and query.get("interval") in self.intervals:
            return RestAnswer(200, self._klines(tape, query))
        return None

    def book_rest(self, host: str, path: str, query: dict[str, str]) -> RestAnswer | None:
        kind = _REST_KINDS.get(host)
        if kind is None or not path.startswith(_PREFIXES) or path.rsplit("/", 1)[-1] != "depth":
            return None
        tape = self.server.tape_by_id(self.name, query.get("symbol", ""), kind)
        return None if tape is None else self._depth_answer(tape, query)

    def _depth_answer(self, tape: Tape, query: dict[str, str]) -> RestAnswer:
        return RestAnswer(200, self._depth(tape, int(query.get("limit") or 100)))

    def _klines(self, tape: Tape, query: dict[str, str]) -> list[list]:
        """Bars of the tape's trades so far (the candles REST repair reads, consistent with the stream)."""
        interval = self.intervals[query["interval"]]
        limit = min(int(query.get("limit") or 500), 1000)
        start = int(query.get("startTime") or tape.start_ms) // interval * interval
        stop = tape.position
        if query.get("endTime"):
            stop = min(stop, tape.index_at(int(query["endTime"]) // interval * interval + interval))
        bars: list[Bar] = []
        for trade in tape.trades(tape.index_at(start), stop):
            bar_start = trade.ts // interval * interval
            if bars and bars[-1].start == bar_start:
                bars[-1].add(trade)
            elif len(bars) < limit:
                bars.append(Bar.of(bar_start, trade))
            else:
                break
        return [
            [
                b.start,
                tape.price(b.open),
                tape.price(b.high),
                tape.price(b.low),
                tape.price(b.close),
                tape.amount(b.volume),
                b.start + interval - 1,
                f"{b.volume * tape.lot_f * b.close * tape.tick_f:.8f}",
                b.count,
                "0",
                "0",
                "0",
            ]
            for b in bars
        ]

    def _agg_trades(self, tape: Tape, query: dict[str, str]) -> list[dict]:
        limit = min(int(query.get("limit") or 500), 1000)
        produced = tape.position
        if query.get("fromId"):
            start = int(query["fromId"]) - tape.first_id
        elif query.get("startTime"):
            start = tape.index_at(int(query["startTime"]))
        else:
            start = produced - limit
        stop = produced
        if query.get("endTime"):
            stop = min(stop, tape.index_at(int(query["endTime"]) + 1))
        trades = tape.trades(start, min(stop, max(start, 0) + limit))
        rows = []
        for t in trades:
            row = {
                "a": t.id,
                "p": tape.price(t.price_units),
                "q": tape.amount(t.amount_units),
                "f": t.id,
                "l": t.id,
                "T": t.ts,
                "m": not t.buy,
            }
            if tape.kind == "spot":
                row["M"] = True
            rows.append(row)
        return rows

    def _depth(self, tape: Tape, limit: int) -> dict:
        book = self.server.book(tape)
        body = {
            "lastUpdateId": book.sequence,
            "bids": [[tape.price(p), tape.amount(q)] for p, q in book.sorted_bids()[:limit]],
            "asks": [[tape.price(p), tape.amount(q)] for p, q in book.sorted_asks()[:limit]],
        }
        if tape.kind != "spot":
            now = tape.start_ms + tape.position * tape.spacing_ms
            body.update({"E": now, "T": now})
        return body

    def _premium(self, tape: Tape) -> dict:
        funding = self.server.funding(tape)
        price = tape.price(tape.trade(max(0, tape.position - 1)).price_units)
        return {
            "symbol": tape.market_id,
            "markPrice": price,
            "indexPrice": price,
            "estimatedSettlePrice": price,
            "lastFundingRate": funding["rate"],
            "interestRate": "0.00010000",
            "nextFundingTime": funding["next_ms"],
            "time": funding["now_ms"],
        }
