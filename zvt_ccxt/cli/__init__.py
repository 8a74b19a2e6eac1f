"""The ``zvt-ccxt`` command line: markets, record, stream, coverage, repair, capabilities, export.

``main(argv)`` returns the exit status; the console script ``zvt-ccxt`` is ``console_main``, which runs it with
``sys.argv`` and exits.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zvt-ccxt`` with ``argv`` (default: the process arguments) and return its exit status."""
    from zvt_ccxt.cli.app import main as run_main

    return run_main(argv)


def console_main() -> NoReturn:
    """The ``zvt-ccxt`` command: ``main()``, then the process exits without the interpreter's teardown.

    Freeing the modules of zvt, pandas, SQLAlchemy and ccxt object by object took about a second at the end of
    every command (measured after ``zvt-ccxt record``), for nothing: a command returns once its writes have
    landed. What an ordinary exit does that matters still happens, in its order: other threads are joined (idle
    executors told to stop first), the exit handlers run, and the standard streams are flushed."""
    status = main()
    threading._shutdown()  # type: ignore[attr-defined]  # the interpreter's own first step of an exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(status)


__all__ = ["console_main", "main"]
