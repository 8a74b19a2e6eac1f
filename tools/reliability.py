"""Run every reliability check against local servers and write RELIABILITY.md at the repository root.

    python tools/reliability.py                     # the full run: every fault on every exchange, 25 kills, 3 min soak
    python tools/reliability.py --kills 3 --soak-seconds 20 --exchanges binance   # a quick look

zvt reads ZVT_HOME once, when it is imported, so a scratch one is set here first: the user's store is
never touched. Exits 1 when any check failed or any secret leaked.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: this checkout's zvt_ccxt and test kit, ahead of any installed copy, in this process and its children
SOURCES = [str(ROOT), str(ROOT / "testkit")]


def main() -> int:
    home = tempfile.mkdtemp(prefix="zvt-ccxt-reliability-home-")
    os.environ["ZVT_HOME"] = home
    for name in list(os.environ):  # the checks plant their own canary credentials
        if name.startswith(("ZVT_CCXT_", "CRYPTO_API_")):
            del os.environ[name]
    sys.path[:0] = SOURCES
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [*SOURCES, os.environ.get("PYTHONPATH")]))
    try:
        from zvt_ccxt_testkit.reliability.runner import main as run

        return run(sys.argv[1:], default_out=ROOT / "RELIABILITY.md")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
