"""Write the capability tables: ``python -m zvt_ccxt_testkit.write_capabilities [--out docs/capabilities.md]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zvt_ccxt_testkit.checkout import in_checkout

DOC = "docs/capabilities.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zvt_ccxt_testkit.write_capabilities", description="Write the capability tables as Markdown."
    )
    parser.add_argument(
        "--out", type=Path, help=f"where to write (default: {DOC} of the zvt-ccxt checkout the current directory is in)"
    )
    args = parser.parse_args(argv)
    out = args.out or in_checkout(DOC, "--out FILE")

    from zvt_ccxt.exchange.capabilities import to_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_markdown(), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
