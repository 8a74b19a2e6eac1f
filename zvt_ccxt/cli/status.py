"""The live status of a running stream: per subscription msgs/s, latency, last event age; and a metrics endpoint.

The stream's metrics are read through :func:`subscription_rows`, which accepts what
``zvt_ccxt.stream.CcxtStream.metrics`` offers (a mapping or list of per-subscription records, objects
or dicts, directly or through ``snapshot()``/``to_dict()``), so the view and the endpoint need nothing
else from the stream. msgs/s is measured here from the message counters between two reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from zvt_ccxt.cli.tables import render

#: row key -> attribute names a metrics record may use for it, first match wins
FIELDS: dict[str, tuple[str, ...]] = {
    "messages": ("messages", "msgs", "message_count", "received"),
    "rows": ("rows", "rows_written", "written"),
    "p50_ms": ("latency_p50_ms", "p50_ms", "latency_ms_p50", "p50"),
    "p99_ms": ("latency_p99_ms", "p99_ms", "latency_ms_p99", "p99"),
    "age_s": ("last_event_age_s", "staleness_s", "staleness", "age_s", "seconds_since_last_event"),
    "reconnects": ("reconnects",),
    "resyncs": ("resyncs",),
    "gaps": ("gaps_repaired", "gaps"),
    "drops": ("drops", "dropped"),
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


def _field(record: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        value = record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)
        if callable(value):
            value = value()
        if value is not None:
            return value
    return None


def _records(stream: Any) -> list[tuple[str, Any]]:
    metrics = getattr(stream, "metrics", None)
    if callable(metrics) and not hasattr(metrics, "snapshot"):
        metrics = metrics()
    for method in ("snapshot", "to_dict", "as_dict"):
        if metrics is not None and callable(getattr(metrics, method, None)):
            metrics = getattr(metrics, method)()
            break
    if metrics is None:
        return []
    if isinstance(metrics, Mapping):
        return [(str(key), value) for key, value in metrics.items()]
    records = []
    for index, value in enumerate(metrics):
        name = _field(value, ("subscription", "name", "key")) or f"#{index}"
        records.append((str(name), value))
    return records


def subscription_rows(stream: Any) -> list[dict[str, Any]]:
    """One dict per subscription with the keys of :data:`FIELDS` (None where the stream does not say)."""
    return [
        {"subscription": name, **{key: _field(record, names) for key, names in FIELDS.items()}}
        for name, record in _records(stream)
    ]


def prometheus_text(stream: Any) -> str:
    """The stream's own Prometheus exposition when it has one, else one built from :func:`subscription_rows`."""
    metrics = getattr(stream, "metrics", None)
    for owner in (stream, metrics):
        for method in ("prometheus_text", "to_prometheus", "prometheus"):
            export = getattr(owner, method, None)
            if callable(export):
                return str(export())
    lines = []
    for key in FIELDS:
        name = f"zvt_ccxt_stream_{key}"
        lines.append(f"# TYPE {name} gauge")
        for row in subscription_rows(stream):
            if isinstance(row[key], int | float):
                label = str(row["subscription"]).replace("\\", "\\\\").replace('"', '\\"')
                lines.append(f'{name}{{subscription="{label}"}} {row[key]}')
    return "\n".join(lines) + "\n"


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
