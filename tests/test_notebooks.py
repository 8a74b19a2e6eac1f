"""Every notebook in examples/ runs top to bottom offline (replayed cassettes), and so does the quickstart script.

A notebook names what it needs in its metadata (``zvt_ccxt.requires``: cassette paths, modules or attributes,
``recorder:<Schema>``, ``live``); one whose needs are not part of this checkout is skipped, naming them.
Charts must come out as real PNG files.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: per notebook: text its cells must print, and chart files it must write
EXPECTED = {
    "01-quickstart": (
        ["1452 hourly bars, 2025-04-02 00:00:00 .. 2025-06-01 11:00:00 UTC", "complete: 1452 bars"],
        ["quickstart-btcusdt-1h.png", "quickstart-btcusdt-1h.html"],
    ),
    "02-perpetuals-and-funding": (["funding intervals seen (hours): [4.0, 8.0]"], ["perp-basis.png", "funding.png"]),
    "03-trades-and-candles-from-trades": (
        ["1m: 274 bars compared, 0 differences, ok=True"],
        ["candles-from-trades.png"],
    ),
    "04-reading-a-running-stream": (["closed 1m candles", " 0 dropped"], []),
}


def _available(requirement: str) -> bool:
    if requirement == "live":
        return os.environ.get("ZVT_CCXT_LIVE_NOTEBOOKS") == "1"
    if requirement.startswith("recorder:"):
        from zvt_ccxt import domain

        schema = getattr(domain, requirement.split(":", 1)[1], None)
        return schema is not None and "ccxt" in getattr(schema, "provider_map_recorder", {})
    if "/" in requirement:
        return (ROOT / requirement).is_file()
    try:
        importlib.import_module(requirement)
        return True
    except ImportError:
        parent, _, attribute = requirement.rpartition(".")
        try:
            return bool(parent) and hasattr(importlib.import_module(parent), attribute)
        except ImportError:
            return False


def missing(notebook) -> list[str]:
    needs = notebook.metadata.get("zvt_ccxt", {}).get("requires", [])
    return [need for need in needs if not _available(need)]


def clean_environment(tmp_path: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ZVT_CCXT_", "CRYPTO_API_"))}
    environment["ZVT_HOME"] = str(tmp_path / "home")
    environment["ZVT_CCXT_EXAMPLES_OUT"] = str(tmp_path / "out")
    return environment


def is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 10_000 and path.read_bytes()[:8] == PNG_MAGIC


def test_there_is_a_notebook_for_each_topic():
    names = [path.stem for path in NOTEBOOKS]
    for topic in ("quickstart", "perpetuals-and-funding", "trades-and-candles-from-trades", "running-stream"):
        assert any(topic in name for name in names), topic


def execute(path: Path, environment: dict[str, str]) -> str:
    """Run the notebook at ``path`` top to bottom (skipping the test if it needs what is absent); its printed text."""
    notebook = nbformat.read(path, as_version=4)
    absent = missing(notebook)
    if absent:
        pytest.skip(f"needs what this checkout lacks: {', '.join(absent)}")
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
    )
    client.execute(env=environment)  # raises CellExecutionError naming the failing cell

    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    printed = "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )
    for text in EXPECTED[path.stem][0]:
        assert text in printed, f"{path.stem} did not print {text!r}"
    return printed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path):
    printed = execute(path, clean_environment(tmp_path))
    out = tmp_path / "out"
    assert all(is_png(chart) for chart in out.glob("*.png"))

    _, files = EXPECTED[path.stem]
    assert "[synthetic data: " in printed  # offline data is never shown as the exchange's
    for name in files:
        assert (out / name).stat().st_size > 10_000, name
    for html in out.glob("*.html"):  # the interactive candlestick charts
        assert '"type":"candlestick"' in html.read_text(encoding="utf-8"), html


def test_quickstart_script_runs_offline_and_writes_charts(tmp_path):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), "--replay"],
        capture_output=True,
        text=True,
        env=clean_environment(tmp_path),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "okx: replaying okx-backfill (synthetic prices" in result.stdout
    bars = "1452 hourly bars of BTC/USDT on okx, 2025-04-02 00:00:00 .. 2025-06-01 11:00:00 UTC"
    assert f"{bars} [synthetic data: replay, not exchange history]" in result.stdout
    assert is_png(tmp_path / "out" / "quickstart-btcusdt-1h.png")
    assert (tmp_path / "out" / "quickstart-btcusdt-1h.html").stat().st_size > 100_000


def test_examples_run_in_any_order_and_twice_each_in_a_store_of_its_own(tmp_path):
    """The stream notebook, then the trades notebook twice, then the quickstart twice, all under one ZVT_HOME:
    each finds only its own data (a second run too), and nothing lands in the user's store."""
    environment = clean_environment(tmp_path)
    order = ["04-reading-a-running-stream", "03-trades-and-candles-from-trades", "03-trades-and-candles-from-trades"]
    for name in order:
        execute(EXAMPLES / f"{name}.ipynb", environment)
    runs = [
        subprocess.run(
            [sys.executable, str(EXAMPLES / "quickstart.py"), "--replay"],
            capture_output=True,
            text=True,
            env=environment,
            timeout=300,
        )
        for _ in range(2)
    ]
    assert all(run.returncode == 0 for run in runs), runs[-1].stderr[-2000:]
    assert "cryptopair_1h_kdata: 1452 rows" in runs[0].stdout
    assert "cryptopair_1h_kdata: 0 rows" in runs[1].stdout  # the second run finds the first's bars
    assert "1452 hourly bars of BTC/USDT" in runs[1].stdout

    home = tmp_path / "home"
    assert not (home / "data" / "ccxt").exists()  # the user's store is untouched
    for name in ("04-reading-a-running-stream", "03-trades-and-candles-from-trades", "quickstart"):
        assert (home / "examples" / name / "synthetic" / "data" / "ccxt").is_dir(), name
