"""The one source of "now" for recorders and exchange clients, frozen during replays.

Replayed cassettes were recorded at a fixed instant; pagination ends at "now" and some exchanges
choose an endpoint by the distance from now, so a replay must see the recording instant.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

_frozen_ms: int | None = None


def now_ms() -> int:
    """Milliseconds since the Unix epoch (UTC): the real clock unless frozen."""
    if _frozen_ms is not None:
        return _frozen_ms
    return int(time.time() * 1000)


@contextlib.contextmanager
def frozen(at_ms: int) -> Iterator[None]:
    """Freeze ``now_ms`` at ``at_ms`` for the duration of the block."""
    global _frozen_ms
    previous = _frozen_ms
    _frozen_ms = int(at_ms)
    try:
        yield
    finally:
        _frozen_ms = previous


def duration_text(seconds: float) -> str:
    """``seconds`` as a person reads a wait: ``42s``, ``3m05s``, ``2h07m``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
