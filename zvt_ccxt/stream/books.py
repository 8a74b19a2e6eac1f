"""Order book integrity where ccxt.pro does not check it, and top-N snapshots.

ccxt.pro 4.5 checks binance's update ids and okx's ``seqId`` chain itself (raising ``InvalidNonce``); it
does not check okx's checksum, bybit's update id or coinbase's per-connection ``sequence_num``. The
checkers here read the raw frames before ccxt applies them and name the symbols whose book can no longer
be trusted; every book is also refused when crossed (best bid at or above best ask). A refused book is
rebuilt from a fresh snapshot by the subscription, which counts it as a resync.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable


class BookCheck:
    """Reads raw frames of one exchange; collects the market ids whose books desynced."""

    def __init__(self) -> None:
        self.desynced: set[str] = set()

    def inspect(self, client: object, message: object) -> None:
        raise NotImplementedError

    def take(self) -> set[str]:
        taken, self.desynced = self.desynced, set()
        return taken


def _crc(bids: list, asks: list) -> int:
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= (1 << 31) else value


class OkxChecksum(BookCheck):
    """Keeps okx books as the strings sent (the checksum is over the original text) and verifies each push."""

    def __init__(self) -> None:
        super().__init__()
        self.books: dict[str, tuple[dict[str, str], dict[str, str]]] = {}

    def inspect(self, client: object, message: object) -> None:
        if not isinstance(message, dict) or (message.get("arg") or {}).get("channel") != "books":
            return
        inst_id = message["arg"].get("instId", "")
        action = message.get("action")
        for data in message.get("data") or []:
            if action == "snapshot":
                self.books[inst_id] = ({}, {})
            book = self.books.get(inst_id)
            if book is None:
                continue
            for side, levels in ((book[0], data.get("bids") or []), (book[1], data.get("asks") or [])):
                for level in levels:
                    if float(level[1]) == 0:
                        side.pop(level[0], None)
                    else:
                        side[level[0]] = level[1]
            checksum = data.get("checksum")
            if checksum is None:
                continue
            bids = sorted(book[0].items(), key=lambda kv: -float(kv[0]))[:25]
            asks = sorted(book[1].items(), key=lambda kv: float(kv[0]))[:25]
            if _crc([list(b) for b in bids], [list(a) for a in asks]) != int(checksum):
                self.desynced.add(inst_id)
                self.books.pop(inst_id, None)


class UpdateIdSequence(BookCheck):
    """bybit: a delta's ``u`` must follow the previous one by exactly one."""

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[tuple[int, str], int] = {}

    def inspect(self, client: object, message: object) -> None:
        if not isinstance(message, dict) or not str(message.get("topic", "")).startswith("orderbook."):
            return
        data = message.get("data") or {}
        market_id, update_id = data.get("s"), data.get("u")
        if market_id is None or update_id is None:
            return
        key = (id(client), market_id)
        if message.get("type") == "snapshot" or update_id == 1:
            self.last[key] = int(update_id)
            return
        previous = self.last.get(key)
        if previous is None or int(update_id) != previous + 1:
            self.desynced.add(market_id)
            self.last.pop(key, None)
            return
        self.last[key] = int(update_id)


class ConnectionSequence(BookCheck):
    """coinbase: every message of a connection carries the next ``sequence_num``; a skip may have been a book update."""

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[int, int] = {}
        self.products: dict[int, set[str]] = {}

    def inspect(self, client: object, message: object) -> None:
        if not isinstance(message, dict) or "sequence_num" not in message:
            return
        key, number = id(client), int(message["sequence_num"])
        previous = self.last.get(key)
        self.last[key] = number
        if message.get("channel") == "l2_data":
            for event in message.get("events") or []:
                if event.get("product_id"):
                    self.products.setdefault(key, set()).add(event["product_id"])
        if previous is not None and number != previous + 1:
            self.desynced |= self.products.get(key, set())


_CHECKS: dict[str, Callable[[], BookCheck]] = {
    "okx_checksum": OkxChecksum,
    "update_id": UpdateIdSequence,
    "connection_sequence": ConnectionSequence,
}


def book_check_for(name: str | None) -> BookCheck | None:
    """A fresh check by its name in an exchange profile (``ExchangeProfile.book_check``); none for no name."""
    return _CHECKS[name]() if name else None


def crossed(book: dict) -> bool:
    bids, asks = book.get("bids") or [], book.get("asks") or []
    return bool(bids) and bool(asks) and bids[0][0] >= asks[0][0]


def top_levels(book: dict, depth: int) -> tuple[list[list[float]], list[list[float]]]:
    bids = [[float(p), float(a)] for p, a, *_ in list(book.get("bids") or [])[:depth]]
    asks = [[float(p), float(a)] for p, a, *_ in list(book.get("asks") or [])[:depth]]
    return bids, asks
