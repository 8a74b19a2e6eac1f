"""The ``zvt-ccxt`` command line: markets, record, stream, coverage, repair, capabilities, export.

``main(argv)`` returns the exit status; the console script ``zvt-ccxt`` calls it with ``sys.argv``.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zvt-ccxt`` with ``argv`` (default: the process arguments) and return its exit status."""
    from zvt_ccxt.cli.app import main as run_main

    return run_main(argv)


__all__ = ["main"]
