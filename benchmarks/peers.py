"""The peers' virtualenvs: each peer runs in a venv of its own, made from a requirements file, never a dependency.

``peer_python("freqtrade")`` is the interpreter of ``$ZVT_CCXT_PEER_VENVS/freqtrade`` (else
``.peer-venvs/freqtrade`` in the repository, which git ignores), created on first use with
``python -m venv`` and ``pip install -r benchmarks/requirements-freqtrade.txt`` (a few minutes, from the
package index). A venv that exists is used as it is: delete it to take newer pins.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.harness import ROOT, MeasurementFailed

#: peer -> (requirements file, extra pip arguments, packages installed after it without their dependencies,
#: what to import to check the venv)
PEERS = {
    # declares Python >= 3.13 and an order_book only 3.13 builds; installed on 3.11 (see the requirements file)
    "cryptofeed3": ("requirements-cryptofeed3.txt", ["--ignore-requires-python"], ["cryptofeed==3.0.1"],
                    "cryptofeed.exchanges"),
    "freqtrade": ("requirements-freqtrade.txt", [], [], "freqtrade"),
}


def venvs_dir() -> Path:
    return Path(os.environ.get("ZVT_CCXT_PEER_VENVS") or ROOT / ".peer-venvs")


def peer_python(name: str, create: bool = True) -> Path:
    """The interpreter of ``name``'s venv, made first if it is missing and ``create``."""
    requirements, pip_args, without_dependencies, probe = PEERS[name]
    venv = venvs_dir() / name
    python = venv / "bin" / "python"
    if not python.exists():
        if not create:
            raise MeasurementFailed(f"no {name} venv at {venv}")
        print(f"creating the {name} venv at {venv} (pip install -r benchmarks/{requirements})", file=sys.stderr)
        base = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *pip_args, "-r",
                        str(ROOT / "benchmarks" / requirements)], check=True)
        if without_dependencies:
            subprocess.run([str(python), "-m", "pip", "install", "-q", *pip_args, "--no-deps",
                            *without_dependencies], check=True)
    check = subprocess.run([str(python), "-c", f"import {probe}"], capture_output=True, text=True)
    if check.returncode != 0:
        raise MeasurementFailed(f"the {name} venv at {venv} cannot import {probe}: {check.stderr.strip()[-300:]}")
    return python


def version(python: Path, distribution: str) -> str:
    done = subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version({distribution!r}))"],
                          capture_output=True, text=True)
    return done.stdout.strip() or "?"
