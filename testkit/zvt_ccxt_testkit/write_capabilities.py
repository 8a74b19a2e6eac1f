"""Write the capability tables: ``python -m zvt_ccxt.exchange.write_capabilities [--out docs/capabilities.md]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from zvt_ccxt.exchange.capabilities import DEFAULT_DOC, write_markdown

    parser = argparse.ArgumentParser(
        prog="python -m zvt_ccxt.exchange.write_capabilities", description="Write the capability tables as Markdown."
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_DOC, help="where to write (default: docs/capabilities.md)")
    args = parser.parse_args(argv)
    print(f"wrote {write_markdown(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
