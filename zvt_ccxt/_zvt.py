"""Import zvt on a fresh install, quietly, without touching the caller's process state.

The published zvt wheels lack ``zvt/config.json`` (``import zvt`` opens it), and importing zvt
replaces the root logger's handlers, sets global pandas options and prints its configuration.
``import_zvt`` supplies the missing default config from this package (nothing is written into
site-packages), swallows the output and restores the logger, pandas options and environment.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import io
import logging
import os
import sys
import warnings
from collections.abc import Collection, Iterator
from importlib import resources
from typing import Any

import pandas as pd

from zvt_ccxt.errors import ZvtUnavailableError, _first_line

#: how zvt goes in beside this package: without its own over-tight pins (README "Dependencies")
ZVT_INSTALL = "pip install --no-deps zvt==0.13.5"
#: modules zvt imports whose distribution has another name
_PACKAGE_OF = {"pkg_resources": "setuptools<81", "sklearn": "scikit-learn", "yaml": "PyYAML"}

_PANDAS_OPTIONS = ("expand_frame_repr", "mode.chained_assignment", "display.max_rows", "display.max_columns")
_ENV_KEYS = ("SQLALCHEMY_WARN_20",)


def _default_config_path() -> str:
    return str(resources.files("zvt_ccxt") / "zvt_default_config.json")


@contextlib.contextmanager
def preserved_process_state() -> Iterator[None]:
    """Run a block that may print, reconfigure logging or set pandas options, then undo all of it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    options = {name: pd.get_option(name) for name in _PANDAS_OPTIONS}
    env = {key: os.environ.get(key) for key in _ENV_KEYS}
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers = handlers
        root.setLevel(level)
        for name, value in options.items():
            pd.set_option(name, value)
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def home_lock() -> Iterator[None]:
    """Hold an exclusive lock on ``$ZVT_HOME`` for the block: zvt creates its databases and tables at import
    without guarding against another process doing the same at once ("table ... already exists")."""
    try:
        import fcntl
    except ImportError:  # no advisory file locks on this platform: first imports stay unserialised
        yield
        return
    home = os.environ.get("ZVT_HOME") or os.path.join(os.path.expanduser("~"), "zvt-home")
    try:
        os.makedirs(home, exist_ok=True)
        handle = open(os.path.join(home, ".zvt-ccxt-import.lock"), "a")  # held until the block ends
    except OSError:  # an unwritable home fails later with zvt's own error
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def collections_paused(*, freeze: bool) -> Iterator[None]:
    """Run the block with the cyclic garbage collector off, then, if ``freeze``, move every object alive into
    the collector's permanent generation before turning it back on.

    Importing zvt, pandas, SQLAlchemy and ccxt allocates about half a million objects, and the collector's full
    passes over them cost 0.3-0.5 s of the command's start; none of those objects are garbage. Frozen, later
    passes skip them, in this process and in the processes it forks (which then also leave those pages shared).
    Freezing suits a process this package owns (the command's); elsewhere the block only pauses collections."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


class _DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds ``names`` as the path would, with a loader that runs a module's code on its first use."""

    def __init__(self, names: Collection[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


@contextlib.contextmanager
def deferring(names: Collection[str]) -> Iterator[None]:
    """Within the block, importing a module of ``names`` binds it without running it: its code runs when
    something first reads one of its attributes (or imports a submodule), wherever that happens."""
    if not names:
        yield
        return
    finder = _DeferringFinder(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def import_zvt() -> None:
    """Import zvt (idempotent), serving its missing ``config.json`` from this package."""
    if "zvt.contract.api" in sys.modules:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pkg_resources
    except ModuleNotFoundError as error:
        raise ZvtUnavailableError(_unavailable_message(error)) from None

    original = pkg_resources.resource_filename

    def resource_filename(package_or_requirement: Any, resource_name: str) -> str:
        path = original(package_or_requirement, resource_name)
        if package_or_requirement == "zvt" and resource_name == "config.json" and not os.path.exists(path):
            return _default_config_path()
        return path

    from zvt_ccxt.store.registration import reading_one_table

    pkg_resources.resource_filename = resource_filename
    try:
        with preserved_process_state(), reading_one_table():
            import zvt  # noqa: F401
            import zvt.contract.api  # noqa: F401
    except ModuleNotFoundError as error:
        raise ZvtUnavailableError(_unavailable_message(error)) from None
    except Exception as error:  # zvt's import runs its whole package: any failure there means a broken install
        raise ZvtUnavailableError(
            f"zvt failed at import ({type(error).__name__}: {_first_line(error)}): reinstall with `{ZVT_INSTALL}`"
            " and `pip install zvt-ccxt`"
        ) from None
    finally:
        pkg_resources.resource_filename = original


def _unavailable_message(error: ModuleNotFoundError) -> str:
    module = error.name or ""
    if module == "zvt" or module.startswith("zvt."):
        return f"zvt is not installed: run `{ZVT_INSTALL}` (zvt-ccxt declares zvt's run-time dependencies itself)"
    return (
        f"zvt cannot be imported: its dependency {module!r} is missing; run `pip install zvt-ccxt` again"
        f" (it declares what zvt needs), or `pip install '{_PACKAGE_OF.get(module, module)}'`"
    )

