"""The live status of a running stream: per subscription msgs/s, latency, last event age; and a metrics endpoint.

Both read the stream's own metrics (``CcxtStream.metrics``, a ``zvt_ccxt.stream.metrics.StreamMetrics``): the
view its ``snapshot()`` records, the endpoint its ``prometheus()`` exposition. msgs/s is measured here from the
message counters between two reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from zvt_ccxt.cli.tables import render

#: row key -> the key of ``SubscriptionMetrics.as_dict()`` it shows
FIELDS: dict[str, str] = {
    "messages": "messages",
    "rows": "rows",
    "p50_ms": "latency_p50_ms",
    "p99_ms": "latency_p99_ms",
    "age_s": "staleness_s",
    "reconnects": "reconnects",
    "resyncs": "resyncs",
    "gaps": "gaps_repaired",
    "drops": "drops",
}
HEADERS = (
    "subscription",
    "msgs/s",
    "messages",
    "rows",
    "p50 ms",
    "p99 ms",
    "last event",
    "reconnects",
    "gaps",
    "drops",
)


def subscription_rows(stream: Any) -> list[dict[str, Any]]:
    """One dict per subscription of ``stream`` with the keys of :data:`FIELDS`."""
    return [
        {"subscription": record["subscription"], **{key: record.get(name) for key, name in FIELDS.items()}}
        for record in stream.metrics.snapshot()
    ]


def prometheus_text(stream: Any) -> str:
    """The stream's metrics in Prometheus text format."""
    return str(stream.metrics.prometheus())


class StatusView:
    """Redraws the subscription table in place on a terminal; prints it every ``plain_every`` seconds elsewhere."""

    def __init__(
        self, stream: TextIO, live: bool, plain_every: float = 10.0, clock: Callable[[], float] = time.monotonic
    ):
        self.stream = stream
        self.live = live
        self.plain_every = plain_every
        self.clock = clock
        self._lines_drawn = 0
        self._last_plain = 0.0
        self._previous: dict[str, tuple[float, float]] = {}

    def table(self, rows: list[dict[str, Any]]) -> str:
        now = self.clock()
        lines = []
        for row in rows:
            name, messages = row["subscription"], row["messages"]
            rate = None
            if isinstance(messages, int | float):
                before = self._previous.get(name)
                if before is not None and now > before[0]:
                    rate = (messages - before[1]) / (now - before[0])
                self._previous[name] = (now, messages)
            age = row["age_s"]
            lines.append(
                [
                    name,
                    None if rate is None else round(rate, 1),
                    messages,
                    row["rows"],
                    row["p50_ms"],
                    row["p99_ms"],
                    None if age is None else f"{float(age):.1f}s ago",
                    row["reconnects"],
                    row["gaps"],
                    row["drops"],
                ]
            )
        if not lines:
            return "waiting for the first subscription..."
        return render(lines, HEADERS)

    def show(self, rows: list[dict[str, Any]]) -> None:
        text = self.table(rows)
        if self.live:
            if self._lines_drawn:
                self.stream.write(f"\x1b[{self._lines_drawn}F\x1b[J")
            self.stream.write(text + "\n")
            self._lines_drawn = text.count("\n") + 1
        else:
            now = self.clock()
            if self._last_plain and now - self._last_plain < self.plain_every:
                return
            self._last_plain = now
            self.stream.write(text + "\n")
        self.stream.flush()


async def start_metrics_server(render_text: Callable[[], str], host: str, port: int):
    """Serve ``GET /metrics`` (Prometheus text format) on ``host:port``; returns (runner, bound port)."""
    from aiohttp import web

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(text=render_text(), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, bound
