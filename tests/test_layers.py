"""The package's parts depend one way: recorders and streams on history (``backfill``), history on the exchange
clients and the store, those on the domain and the shared modules; nothing below imports anything above it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "zvt_ccxt"

SHARED = {"levels", "codes", "clock", "config", "errors", "trade_order", "_zvt", "interrupts", "provenance"}
#: part -> the parts it may import (besides itself and the shared modules)
ALLOWED = {
    # record_data hands a run given a scheduler to the cluster package, imported only then
    "domain": {"cluster"},
    "exchange": set(),
    "store": {"domain"},
    "backfill": {"domain", "exchange", "store"},
    "recorders": {"domain", "exchange", "store", "backfill"},
    "stream": {"domain", "exchange", "store", "backfill"},
    "replay": {"exchange"},
    "cluster": {"domain", "exchange", "store", "backfill", "recorders"},
}


def _imported_parts(path: Path) -> set[str]:
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "zvt_ccxt" and len(pieces) > 1:
                parts.add(pieces[1])
    return parts


def test_parts_import_only_the_parts_below_them():
    wrong = []
    for part, allowed in ALLOWED.items():
        for path in sorted((PACKAGE / part).rglob("*.py")):
            for imported in _imported_parts(path) - allowed - SHARED - {part}:
                wrong.append(f"{path.relative_to(PACKAGE)} imports zvt_ccxt.{imported}")
    assert wrong == []


def test_the_check_sees_an_import_that_points_up(tmp_path):
    module = tmp_path / "pager.py"
    module.write_text("def late():\n    from zvt_ccxt.recorders.base import CcxtRecorder\n", encoding="utf-8")
    assert _imported_parts(module) == {"recorders"}
