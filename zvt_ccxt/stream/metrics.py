"""Per-subscription stream metrics: counters, event-to-commit latency, staleness; as dicts, a log line, or
Prometheus text exposition.

Latency is measured from the exchange's event time to the moment the row's batch committed (wall clock),
so it includes network, parsing, queueing and the database write.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

#: how many recent latency samples each subscription keeps (p50/p99 are computed over them)
LATENCY_SAMPLES = 4096

_COUNTERS = (
    ("messages", "Items received from the exchange (trades, candle updates, book updates, funding updates)"),
    ("rows", "Rows committed to the database"),
    ("reconnects", "Connections lost and re-established"),
    ("resyncs", "Order books rebuilt from a fresh snapshot after a desync"),
    ("gaps", "Gaps detected (missing trade ids, evicted cache entries, reconnects, skipped bars)"),
    ("gaps_repaired", "Gaps filled from REST"),
    ("gaps_unrepaired", "Gaps REST could not fill completely"),
    ("repaired_rows", "Rows written by gap repair"),
    ("drops", "Rows discarded by the stream itself (zero for trades and candles)"),
    ("coalesced", "Snapshots superseded by a newer one before they were written"),
    ("stalls", "Watchdog-forced resubscriptions after a silent stall"),
    ("errors", "Errors other than disconnects"),
)


@dataclass
class SubscriptionMetrics:
    """Counters and latency samples of one subscription (one channel on one group of symbols)."""

    name: str
    exchange: str
    channel: str
    messages: int = 0
    rows: int = 0
    reconnects: int = 0
    resyncs: int = 0
    gaps: int = 0
    gaps_repaired: int = 0
    gaps_unrepaired: int = 0
    repaired_rows: int = 0
    drops: int = 0
    coalesced: int = 0
    stalls: int = 0
    errors: int = 0
    last_event_ms: int | None = None
    last_receive: float | None = None
    #: wall-clock time (epoch seconds) the last batch holding rows of this subscription was committed
    last_commit: float | None = None
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES), repr=False)

    def received(self, count: int, event_ms: int | None) -> None:
        self.messages += count
        self.last_receive = time.time()
        if event_ms is not None and (self.last_event_ms is None or event_ms > self.last_event_ms):
            self.last_event_ms = event_ms

    def committed(self, rows: int, event_ms: list[int], commit_ms: float) -> None:
        self.rows += rows
        if rows:
            self.last_commit = commit_ms / 1000
        if event_ms:
            step = max(1, len(event_ms) // 64)
            self.latencies_ms.extend(commit_ms - e for e in event_ms[::step])

    def latency_quantile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        return float(np.percentile(np.fromiter(self.latencies_ms, dtype="float64"), q * 100))

    def staleness_s(self, now: float | None = None) -> float | None:
        """Seconds since the last item arrived (None before the first)."""
        if self.last_receive is None:
            return None
        return (now or time.time()) - self.last_receive

    def as_dict(self) -> dict:
        data = {name: getattr(self, name) for name, _ in _COUNTERS}
        data.update(
            subscription=self.name,
            exchange=self.exchange,
            channel=self.channel,
            latency_p50_ms=self.latency_quantile(0.5),
            latency_p99_ms=self.latency_quantile(0.99),
            staleness_s=self.staleness_s(),
            last_event_ms=self.last_event_ms,
            last_commit=self.last_commit,
        )
        return data


class StreamMetrics:
    """Every subscription's metrics of one stream, plus whole-connection frame counts."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, SubscriptionMetrics] = {}

    def of(self, name: str, exchange: str, channel: str) -> SubscriptionMetrics:
        metrics = self.subscriptions.get(name)
        if metrics is None:
            metrics = self.subscriptions[name] = SubscriptionMetrics(name, exchange, channel)
        return metrics

    def snapshot(self) -> list[dict]:
        return [m.as_dict() for m in self.subscriptions.values()]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.snapshot())

    def total(self, counter: str, channel: str | None = None) -> int:
        return sum(getattr(m, counter) for m in self.subscriptions.values() if channel in (None, m.channel))

    def last_commit(self, channel: str | None = None) -> float | None:
        """When rows of ``channel`` (any channel: None) were last committed, epoch seconds; None before any."""
        times = [m.last_commit for m in self.subscriptions.values() if channel in (None, m.channel)]
        return max((t for t in times if t is not None), default=None)

    def log_line(self) -> str:
        parts = []
        for m in self.subscriptions.values():
            p50, p99 = m.latency_quantile(0.5), m.latency_quantile(0.99)
            latency = f" p50={p50:.0f}ms p99={p99:.0f}ms" if p50 is not None else ""
            parts.append(
                f"{m.name}: msgs={m.messages} rows={m.rows} reconnects={m.reconnects} resyncs={m.resyncs} "
                f"gaps={m.gaps}/{m.gaps_repaired} repaired drops={m.drops} stalls={m.stalls}{latency}"
            )
        return "; ".join(parts)

    def prometheus(self, prefix: str = "zvt_ccxt_stream") -> str:
        """The metrics in Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        subs = list(self.subscriptions.values())

        def labels(m: SubscriptionMetrics, extra: str = "") -> str:
            text = f'exchange="{_escape(m.exchange)}",channel="{_escape(m.channel)}",subscription="{_escape(m.name)}"'
            return "{" + text + extra + "}"

        for name, help_text in _COUNTERS:
            lines += [f"# HELP {prefix}_{name}_total {help_text}", f"# TYPE {prefix}_{name}_total counter"]
            lines += [f"{prefix}_{name}_total{labels(m)} {getattr(m, name)}" for m in subs]
        lines += [
            f"# HELP {prefix}_commit_latency_seconds Exchange event time to database commit",
            f"# TYPE {prefix}_commit_latency_seconds summary",
        ]
        for m in subs:
            for q in (0.5, 0.99):
                value = m.latency_quantile(q)
                if value is not None:
                    quantile = f',quantile="{q}"'
                    lines.append(f"{prefix}_commit_latency_seconds{labels(m, quantile)} {value / 1000:.6f}")
        lines += [
            f"# HELP {prefix}_staleness_seconds Seconds since the subscription last received data",
            f"# TYPE {prefix}_staleness_seconds gauge",
        ]
        for m in subs:
            stale = m.staleness_s()
            if stale is not None:
                lines.append(f"{prefix}_staleness_seconds{labels(m)} {stale:.3f}")
        lines += [
            f"# HELP {prefix}_last_commit_timestamp_seconds When rows of the subscription were last committed",
            f"# TYPE {prefix}_last_commit_timestamp_seconds gauge",
        ]
        lines += [f"{prefix}_last_commit_timestamp_seconds{labels(m)} {m.last_commit:.3f}"
                  for m in subs if m.last_commit is not None]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
