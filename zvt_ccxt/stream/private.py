"""Private streams (balance, orders, positions, own trades) and the audit log of stream sessions.

Private channels are opt-in and need credentials (configured as for REST: ``zvt_ccxt.config``). Their
rows go to their own schemas (``zvt_ccxt.domain.private``). Every session writes audit rows (start,
each subscription, end) that name channels, symbols and counts, and whether credentials were used; a
detail text passes the secret redaction first, so a credential cannot reach the log table.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from zvt_ccxt import provenance
from zvt_ccxt.domain.coverage import FETCHED
from zvt_ccxt.domain.private import CcxtStreamAudit, CryptoBalance, CryptoMyTrade, CryptoOrder, CryptoPosition
from zvt_ccxt.exchange.redaction import redact
from zvt_ccxt.store.coverage import Window, save
from zvt_ccxt.store.rows import number, stamp
from zvt_ccxt.store.writer import upsert
from zvt_ccxt.stream.subscriptions import Subscription
from zvt_ccxt.stream.writer import Table

logger = logging.getLogger(__name__)

PRIVATE_CHANNELS = ("balance", "orders", "positions", "my_trades")

_COMMON = ("id", "entity_id", "timestamp", "exchange", "ts_ms", "code")
# accounted in the coverage ledger like public rows, so each stored row's source (live, replay, simulator) is known
# and a live stream discards synthetic ones (``stream.ledger.replace_synthetic``); they are states and fills of an
# account, not history to fetch again, so coverage reports no unknown range between runs
BALANCE_TABLE = Table(
    CryptoBalance, _COMMON + ("currency", "free", "used", "total"), ledger=CryptoBalance.__tablename__
)
ORDER_TABLE = Table(
    CryptoOrder,
    _COMMON
    + (
        "order_id",
        "client_order_id",
        "symbol",
        "order_type",
        "side",
        "price",
        "amount",
        "filled",
        "remaining",
        "average",
        "status",
    ),
    ledger=CryptoOrder.__tablename__,
)
POSITION_TABLE = Table(
    CryptoPosition,
    _COMMON
    + (
        "symbol",
        "side",
        "contracts",
        "contract_size",
        "entry_price",
        "mark_price",
        "unrealized_pnl",
        "leverage",
        "margin_mode",
    ),
    ledger=CryptoPosition.__tablename__,
)
MY_TRADE_TABLE = Table(
    CryptoMyTrade,
    _COMMON
    + (
        "trade_id",
        "order_id",
        "symbol",
        "side",
        "price",
        "amount",
        "cost",
        "fee_cost",
        "fee_currency",
        "taker_or_maker",
    ),
    ledger=CryptoMyTrade.__tablename__,
)
PRIVATE_TABLES = {"balance": BALANCE_TABLE, "orders": ORDER_TABLE, "positions": POSITION_TABLE,
                  "my_trades": MY_TRADE_TABLE}
AUDIT_COLUMNS = (
    "id",
    "entity_id",
    "timestamp",
    "session_id",
    "exchange",
    "event",
    "channel",
    "symbols",
    "private",
    "authenticated",
    "rows",
    "detail",
)


def account_entity(exchange: str) -> str:
    """The entity id private rows of ``exchange``'s account are kept under."""
    return f"account_{exchange}"


class PrivateSubscription(Subscription):
    """One private channel of the account: the latest state of each balance, order and position, every fill."""

    def __init__(self, ctx, channel: str) -> None:
        self.channel = channel
        self.hints = {
            "balance": ("balance", "account", "wallet"),
            "orders": ("order",),
            "positions": ("position",),
            "my_trades": ("myTrades", "trade", "execution"),
        }[channel]
        super().__init__(ctx, [], "private")
        self.account = account_entity(ctx.pro.exchange_id)
        self.result = None

    async def watch(self) -> None:
        method = {
            "balance": "watch_balance",
            "orders": "watch_orders",
            "positions": "watch_positions",
            "my_trades": "watch_my_trades",
        }[self.channel]
        self.result = await getattr(self.exchange, method)()

    async def wake(self) -> None:
        result, now = self.result, int(time.time() * 1000)
        exchange = self.ctx.pro.exchange_id
        row: tuple  # each channel's table has its own column order
        if self.channel == "balance" and isinstance(result, dict):
            ts = int(result.get("timestamp") or now)
            for currency, total in (result.get("total") or {}).items():
                row = (
                    f"{exchange}_{currency}",
                    self.account,
                    stamp(ts),
                    exchange,
                    ts,
                    currency,
                    currency,
                    number((result.get("free") or {}).get(currency)),
                    number((result.get("used") or {}).get(currency)),
                    number(total),
                )
                self.ctx.writer.put_latest(BALANCE_TABLE, row[0], row, self.metrics, ts, count_coalesced=False)
            self.metrics.received(1, ts)
            return
        items: list[dict] = list(result or [])
        self.metrics.received(len(items), None)
        for item in items:
            ts = int(item.get("timestamp") or now)
            if self.channel == "orders":
                row = (
                    f"{exchange}_{item.get('id')}",
                    self.account,
                    stamp(ts),
                    exchange,
                    ts,
                    item.get("symbol"),
                    str(item.get("id")),
                    item.get("clientOrderId"),
                    item.get("symbol"),
                    item.get("type"),
                    item.get("side"),
                    number(item.get("price")),
                    number(item.get("amount")),
                    number(item.get("filled")),
                    number(item.get("remaining")),
                    number(item.get("average")),
                    item.get("status"),
                )
                self.ctx.writer.put_latest(ORDER_TABLE, row[0], row, self.metrics, ts, count_coalesced=False)
            elif self.channel == "positions":
                row = (
                    f"{exchange}_{item.get('symbol')}_{item.get('side')}",
                    self.account,
                    stamp(ts),
                    exchange,
                    ts,
                    item.get("symbol"),
                    item.get("symbol"),
                    item.get("side"),
                    number(item.get("contracts")),
                    number(item.get("contractSize")),
                    number(item.get("entryPrice")),
                    number(item.get("markPrice")),
                    number(item.get("unrealizedPnl")),
                    number(item.get("leverage")),
                    item.get("marginMode"),
                )
                self.ctx.writer.put_latest(POSITION_TABLE, row[0], row, self.metrics, ts, count_coalesced=False)
            else:
                fee = item.get("fee") or {}
                row = (
                    f"{exchange}_{item.get('id')}",
                    self.account,
                    stamp(ts),
                    exchange,
                    ts,
                    item.get("symbol"),
                    str(item.get("id")),
                    item.get("order"),
                    item.get("symbol"),
                    item.get("side"),
                    number(item.get("price")),
                    number(item.get("amount")),
                    number(item.get("cost")),
                    number(fee.get("cost")),
                    fee.get("currency"),
                    item.get("takerOrMaker"),
                )
                await self.ctx.writer.add(MY_TRADE_TABLE, [row], self.metrics, [ts])


class AuditLog:
    """Audit rows of one stream session: what was opened, by whom (credentials yes/no), and how it ended."""

    def __init__(self, exchange: str, authenticated: bool, source: str | None = None) -> None:
        self.exchange = exchange
        self.authenticated = authenticated
        #: where the session's data comes from: its rows' window in the coverage ledger says so
        self.source = source or provenance.current()
        self.session_id = uuid.uuid4().hex[:16]
        self.sequence = 0
        self.started_ms: int | None = None

    def _row(
        self, event: str, channel: str | None, symbols: list[str] | None, private: bool, rows: int | None, detail: str
    ) -> tuple:
        self.sequence += 1
        now = int(time.time() * 1000)
        return (
            f"{self.session_id}_{self.sequence:05d}",
            f"stream_{self.exchange}",
            stamp(now),
            self.session_id,
            self.exchange,
            event,
            channel,
            json.dumps(list(symbols or [])),
            private,
            self.authenticated,
            rows,
            redact(detail)[:500] or None,
        )

    async def record(
        self,
        event: str,
        channel: str | None = None,
        symbols: list[str] | None = None,
        private: bool = False,
        rows: int | None = None,
        detail: str = "",
    ) -> None:
        row = self._row(event, channel, symbols, private, rows, detail)
        try:
            await asyncio.to_thread(self._write, row)
        except Exception as error:  # the audit trail must never stop a stream
            logger.warning("%s: audit row not written: %s", self.exchange, error)

    def _write(self, row: tuple) -> None:
        """The row, then the session's window (one per session, widened by each row) with its source."""
        upsert(CcxtStreamAudit, AUDIT_COLUMNS, [row])
        at_ms = int(time.time() * 1000)
        if self.started_ms is None:
            self.started_ms = at_ms
        window = Window(self.started_ms, max(at_ms, self.started_ms) + 1, FETCHED, self.sequence, source=self.source)
        save(CcxtStreamAudit.__tablename__, row[1], [window])
