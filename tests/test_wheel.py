"""The wheel users install: what it holds (the runtime package and its bundled cassettes, none of the test kit),
and the README's offline record command run from it outside this repository."""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from packaging.version import Version

from zvt_ccxt import levels
from zvt_ccxt.replay.cassettes import cassette_info

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "zvt_ccxt"
CASSETTES = PACKAGE / "cassettes"
#: folders and modules that belong to the test kit (testkit/zvt_ccxt_testkit), never to the wheel
TESTKIT_FOLDERS = {"simulator", "reliability", "zvt_ccxt_testkit"}
TESTKIT_MODULES = {"make_cassettes.py", "scenarios.py", "write_capabilities.py"}
#: what a copy of the checkout leaves behind for the build: history, environments, build output, caches
NOT_SOURCES = (".git", ".venv", ".tox", ".bench-venv", "__pycache__", "build", "dist", "*.egg-info")


def _require_wheel_builder() -> None:
    """Building offline (no isolation) needs a setuptools with bdist_wheel, as the test extra declares."""
    import setuptools

    # before 70.1, bdist_wheel came from the wheel package
    if Version(setuptools.__version__) < Version("70.1") and importlib.util.find_spec("wheel") is None:
        pytest.fail(
            f"setuptools {setuptools.__version__} cannot build a wheel without the wheel package: "
            'install the test extra (pip install -e ".[test]"), which asks for setuptools>=70.1'
        )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The zvt-ccxt wheel, built from a copy of this checkout (a build writes build/ and *.egg-info/ into
    its source tree, and this one may be in use)."""
    _require_wheel_builder()
    scratch = tmp_path_factory.mktemp("wheel")
    source = scratch / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    result = subprocess.run(
        [*command, "-w", str(scratch / "dist"), str(source)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (built,) = (scratch / "dist").glob("zvt_ccxt-*.whl")
    return built


def _wheel_files(wheel: Path) -> list[PurePosixPath]:
    with zipfile.ZipFile(wheel) as archive:
        return [PurePosixPath(name) for name in archive.namelist() if not name.endswith("/")]


def test_the_wheel_holds_no_simulator_fault_harness_or_cassette_maker(wheel):
    files = _wheel_files(wheel)
    kit = [str(f) for f in files if TESTKIT_FOLDERS & set(f.parts[:-1]) or f.name in TESTKIT_MODULES]
    assert kit == []
    dist_info = "-".join(wheel.name.split("-")[:2]) + ".dist-info"  # zvt_ccxt-0.1.0-py3-none-any.whl
    assert {f.parts[0] for f in files} == {"zvt_ccxt", dist_info}


def test_the_wheel_holds_the_whole_runtime_package_and_its_data(wheel):
    files = {str(f) for f in _wheel_files(wheel)}
    modules = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}
    assert modules - files == set()
    bundled = {f"zvt_ccxt/cassettes/{p.name}" for p in CASSETTES.glob("*.json")}
    assert "zvt_ccxt/cassettes/okx-backfill.json" in bundled and bundled <= files
    assert "zvt_ccxt/zvt_default_config.json" in files  # the zvt config the package serves at import
    assert "zvt_ccxt/py.typed" in files  # type checkers read the package's annotations


#: the one optional use: ``zvt-ccxt simulate`` runs the test kit's simulator when it is installed, inside its ``run``
#: (not at module level), and says what to install when it is not
OPTIONAL_TESTKIT_USE = {"zvt_ccxt/cli/commands/simulate.py: zvt_ccxt_testkit.serve"}


def test_the_runtime_package_imports_nothing_from_the_test_kit():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found += [f"{path.relative_to(ROOT)}: {name}" for name in names if name.split(".")[0] == "zvt_ccxt_testkit"]
        module_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        assert not any((getattr(n, "module", "") or "").startswith("zvt_ccxt_testkit") for n in module_level), path
    assert set(found) <= OPTIONAL_TESTKIT_USE, found


def _stored_bars(home: Path, table: str, entity_id: str) -> int:
    databases = sorted((home / "data" / "ccxt").glob("*.db"))
    for database in databases:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            found = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
            if found.fetchone():
                query = f'SELECT COUNT(*) FROM "{table}" WHERE entity_id = ?'
                return connection.execute(query, (entity_id,)).fetchone()[0]
        finally:
            connection.close()
    raise AssertionError(f"no table {table} in {[d.name for d in databases]}")


def test_the_installed_wheel_records_offline_from_its_bundled_cassette(wheel, tmp_path):
    """``pip install`` of the wheel alone (zvt and the other dependencies are this environment's), then the
    README's offline command from a directory outside the repository, with a fresh ZVT_HOME."""
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)]
    installed = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ZVT_CCXT_", "CRYPTO_API_"))}
    environment.update({"PYTHONPATH": str(site), "ZVT_HOME": str(tmp_path / "home")})

    where = "import importlib.util; print(importlib.util.find_spec('zvt_ccxt').origin)"
    origin = subprocess.run(
        [sys.executable, "-c", where], capture_output=True, text=True, env=environment, cwd=elsewhere, timeout=60
    )
    assert Path(origin.stdout.strip()).is_relative_to(site), origin.stdout + origin.stderr

    command = [str(site / "bin" / "zvt-ccxt"), "record", "--exchange", "okx", "--symbols", "BTC/USDT"]
    command += ["--level", "1h", "--since", "60d", "--replay", "okx-backfill"]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=elsewhere, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]

    now_ms = cassette_info(CASSETTES / "okx-backfill.json").recorded_at_ms
    since_ms = levels.bar_start(now_ms, "1d") - 60 * levels.DAY_MS
    closed_hours = (levels.bar_start(now_ms, "1h") - since_ms) // levels.HOUR_MS
    # replayed (synthetic) bars are kept apart from the live store, in $ZVT_HOME/synthetic
    synthetic_home = tmp_path / "home" / "synthetic"
    assert _stored_bars(synthetic_home, "cryptopair_1h_kdata", "cryptopair_okx_btcusdt") == closed_hours
    assert list(elsewhere.iterdir()) == []  # nothing written where it ran
