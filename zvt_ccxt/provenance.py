"""Where the data this process records comes from: the live exchange, a replayed cassette, or a simulator.

Every window the coverage ledger saves carries the source of the process that fetched it, so replayed or
simulated (synthetic) data never passes for exchange history: a live run treats synthetic windows as not
fetched, replaces them, and ``coverage`` shows each series' sources. A replay (``zvt_ccxt.replay.replay``)
and the test kit's ``simulated()`` set the source for their block; ``ZVT_CCXT_SOURCE=simulator`` (what
``zvt-ccxt simulate`` prints) sets it for a whole process pointed at a simulator.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

LIVE, REPLAY, SIMULATOR = "live", "replay", "simulator"
SOURCES = (LIVE, REPLAY, SIMULATOR)
SYNTHETIC = (REPLAY, SIMULATOR)
#: the environment variable naming the source of a whole process (``live``, ``replay`` or ``simulator``)
SOURCE_ENV = "ZVT_CCXT_SOURCE"

_current: str | None = None


def current() -> str:
    """The source of what this process fetches now: the innermost ``sourced`` block, else ``$ZVT_CCXT_SOURCE``,
    else live."""
    if _current is not None:
        return _current
    value = (os.environ.get(SOURCE_ENV) or "").strip().lower()
    return value if value in SOURCES else LIVE


def is_synthetic(source: str | None = None) -> bool:
    """True for a replayed cassette or a simulator (``source``, or the current one when None)."""
    return (current() if source is None else source) in SYNTHETIC


@contextlib.contextmanager
def sourced(source: str) -> Iterator[None]:
    """Everything fetched inside the block comes from ``source``."""
    global _current
    if source not in SOURCES:
        raise ValueError(f"unknown data source {source!r}: one of {', '.join(SOURCES)}")
    previous = _current
    _current = source
    try:
        yield
    finally:
        _current = previous
