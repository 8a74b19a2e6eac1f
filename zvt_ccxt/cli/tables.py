"""Plain-text tables for the terminal (numbers right-aligned), plus markdown and CSV renderings of a frame."""

from __future__ import annotations

import io
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas loads with the data, not with the command line's help
    import pandas as pd


def cell(value: object) -> str:
    """A value as table text: thousands separators for integers, short floats, blank for missing, UTC stamps."""
    import pandas as pd

    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        number = float(value)
        return f"{number:,.6g}" if abs(number) < 1e15 else f"{number:.3e}"
    if isinstance(value, pd.Timestamp):
        return (
            value.strftime("%Y-%m-%d %H:%M")
            if (value.second or value.minute or value.hour)
            else value.strftime("%Y-%m-%d")
        )
    lines = str(value).strip().splitlines()
    return lines[0] if lines else ""


def _is_numeric(values: Sequence[object]) -> bool:
    present = [v for v in values if v is not None and not (isinstance(v, float) and v != v)]
    return bool(present) and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in present)


def render(rows: Sequence[Sequence[object]], headers: Sequence[str], max_width: int = 60) -> str:
    """Aligned columns with a header rule; long cells are cut to ``max_width`` characters."""
    texts = [[cell(v)[:max_width] for v in row] for row in rows]
    numeric = [_is_numeric([row[i] for row in rows]) for i in range(len(headers))]
    widths = [max([len(h)] + [len(r[i]) for r in texts]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in texts]
    return "\n".join(out)


def render_frame(frame: pd.DataFrame, columns: Sequence[str] | None = None, max_width: int = 60) -> str:
    columns = list(columns or frame.columns)
    rows = [[_plain(v) for v in row] for row in frame[columns].itertuples(index=False, name=None)]
    return render(rows, columns, max_width)


def markdown(frame: pd.DataFrame) -> str:
    columns = list(frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    for row in frame.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(cell(_plain(v)).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def csv_text(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def _plain(value: object) -> object:
    import pandas as pd

    # numpy scalars behave as numbers.Real/Integral already; datetime64 values come back as Timestamps
    if hasattr(value, "item") and not isinstance(value, pd.Timestamp):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    return value
