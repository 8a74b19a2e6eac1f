"""Failure messages as the command line shows them: one line that names the cause, shortened only at a clause."""

from __future__ import annotations

import sys

#: longest failure message shown whole in a summary table or an error line
LIMIT = 240
_BOUNDARIES = (". ", "; ", ": ", ", ", " (", " - ")


def shorten(text: str, limit: int = LIMIT) -> str:
    """``text`` whole if it fits in ``limit`` characters, else cut after its last sentence or clause that does,
    marked with an ellipsis (a word boundary only if no clause ends in the second half of the limit)."""
    if len(text) <= limit:
        return text
    room = text[: limit - 2]
    cut = max(room.rfind(boundary) for boundary in _BOUNDARIES)
    if cut < limit // 2:
        cut = room.rfind(" ")
    if cut < limit // 2:
        cut = len(room)
    return room[:cut].rstrip(" .;:,(-") + " …"


def one_line(error: BaseException | str | None, limit: int = LIMIT) -> str:
    """The cause of ``error`` (an exception or a message) on one line: a cassette without an answer becomes
    ``cassette NAME has no answer for GET URL``; otherwise the first non-empty line, shortened at a clause."""
    if error is None:
        return ""
    if "vcr" in sys.modules:  # a cassette can only have failed to answer if vcrpy was loaded for a replay
        from zvt_ccxt.replay.cassettes import describe_miss

        miss = describe_miss(error)
        if miss is not None:
            prefix = _prefix_before_miss(str(error))
            return shorten(prefix + miss, max(limit, len(prefix + miss)))
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines[0] if lines else (type(error).__name__ if isinstance(error, BaseException) else "")
    return shorten(text, limit)


def _prefix_before_miss(text: str) -> str:
    """What a message says before vcrpy's part (``BTC/USDT: ``), without the vcrpy exception's class name."""
    head = text.split("Can't play back this request", 1)[0]
    head = head.replace("CannotOverwriteExistingCassetteException:", "").strip()
    return f"{head.rstrip(':').strip()}: " if head.rstrip(":").strip() else ""
