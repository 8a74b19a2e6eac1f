"""Where the command line writes: tables to stdout, progress and log lines to stderr, errors as one line."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator
from typing import TextIO

from zvt_ccxt.cli.messages import one_line
from zvt_ccxt.cli.progress import ProgressBoard

PROGRAM = "zvt-ccxt"
#: a log line may run longer than a table cell, and is still cut only at a clause
LOG_LIMIT = 400


class _BoardAwareHandler(logging.StreamHandler):
    """Writes log lines to stderr, or above the live progress line while a board is showing."""

    board: ProgressBoard | None = None

    def emit(self, record: logging.LogRecord) -> None:
        board = self.board
        if board is None:
            super().emit(record)
            return
        try:
            board.write(self.format(record))
        except Exception:  # a log line must never break the run
            self.handleError(record)


class _OneLineFormatter(logging.Formatter):
    """Without ``--debug`` a log record is one line: no traceback, no multi-line payloads; a record logged with
    an exception (``logger.exception``) names its cause after the message."""

    def format(self, record: logging.LogRecord) -> str:
        text = one_line(record.getMessage(), limit=LOG_LIMIT)
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            cause = one_line(error) or type(error).__name__
            if cause not in text:
                text = f"{text}: {cause}" if text else cause
        return f"{record.levelname}: {text}"


_active: _BoardAwareHandler | None = None


@contextlib.contextmanager
def logging_configured(verbose: int, debug: bool) -> Iterator[None]:
    """Logging as :func:`configure_logging` sets it, for one command; the caller's setup comes back afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("zvt_ccxt").level, logging.getLogger("ccxt").level)
    configure_logging(verbose, debug)
    try:
        yield
    finally:
        root.handlers = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("zvt_ccxt").setLevel(saved[2])
        logging.getLogger("ccxt").setLevel(saved[3])


def configure_logging(verbose: int, debug: bool) -> None:
    """zvt-ccxt warnings by default, info with ``-v``, everything (ccxt's HTTP lines included) with ``--debug``."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    global _active
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s") if debug else _OneLineFormatter()
    handler = _BoardAwareHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    if _active in root.handlers:
        root.removeHandler(_active)
    root.addHandler(handler)
    _active = handler
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("zvt_ccxt").setLevel(level)
    logging.getLogger("ccxt").setLevel(logging.DEBUG if debug else logging.WARNING)


def attach_board(board: ProgressBoard | None) -> None:
    """Route log lines through ``board`` (None: straight to stderr again)."""
    if _active is not None:
        _active.board = board


def error_line(
    command: str | None, error: BaseException, debug: bool, stream: TextIO | None = None, message: str | None = None
) -> None:
    """Report ``error`` as one line (``message``, else the error's own); its traceback comes first with ``--debug``."""
    stream = stream or sys.stderr
    if debug:
        traceback.print_exception(error, file=stream)
    message = message or one_line(error, limit=LOG_LIMIT) or type(error).__name__
    where = f"{PROGRAM} {command}" if command else PROGRAM
    stream.write(f"{where}: error: {message}\n")
    stream.flush()
