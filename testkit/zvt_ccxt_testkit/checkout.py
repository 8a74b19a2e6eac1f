"""Where the maintenance tools write by default: the zvt-ccxt source checkout the current directory is in."""

from __future__ import annotations

import tomllib
from pathlib import Path

PROJECT = "zvt-ccxt"


def checkout_root(start: Path | None = None) -> Path | None:
    """The zvt-ccxt checkout holding ``start`` (default: the current directory), or None outside one."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if not (pyproject.is_file() and (folder / "zvt_ccxt").is_dir()):
            continue
        try:
            name = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
        except (OSError, ValueError, KeyError):
            continue
        if name == PROJECT:
            return folder
    return None


def in_checkout(relative: str, option: str) -> Path:
    """``relative`` inside the current checkout; outside one, a one-line error asking for ``option``."""
    root = checkout_root()
    if root is None:
        raise SystemExit(f"not inside a {PROJECT} checkout ({Path.cwd()}): give {option}")
    return root / relative
