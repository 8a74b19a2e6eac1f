"""zvt's schema registration at import, at the cost of the tables it registers rather than of the whole database.

For every table it registers, zvt's ``register_schema`` reflects every table of the database (``MetaData()
.reflect``) only to read the columns of that one table and add those the schema gained: the database is read
once per table, quadratic in its tables, and most of ``import zvt`` (about 100 registrations, 200 tables). Inside
``reading_one_table()`` that reflection reads the one table asked for, with the database's own inspector, so
registration does all it did (tables created, new columns added, the same indexes, the same journal mode
statements) in linear time. zvt itself is left untouched: only the name ``MetaData`` in its registration module
is replaced, for the block.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from sqlalchemy import inspect

_REGISTER_MODULE = "zvt.contract.register"
_lock = threading.Lock()
_depth = 0


class _TablesOf:
    """``tables[name]`` of one database: an object whose ``columns`` have the ``name`` of each stored column."""

    def __init__(self, bind: Any) -> None:
        self._bind = bind

    def __getitem__(self, table_name: str) -> SimpleNamespace:
        names = self._column_names(table_name)
        if not names:  # what reflecting the whole database would have said of a table it lacks
            raise KeyError(table_name)
        return SimpleNamespace(columns=[SimpleNamespace(name=name) for name in names])

    def _column_names(self, table_name: str) -> list[str]:
        if self._bind.dialect.name == "sqlite":  # one pragma; an inspector costs ten times as much to set up
            quoted = table_name.replace('"', '""')
            with self._bind.connect() as connection:
                return [row[1] for row in connection.exec_driver_sql(f'PRAGMA table_info("{quoted}")')]
        return [column["name"] for column in inspect(self._bind).get_columns(table_name)]


class _OneTableReflection:
    """Stands in for ``MetaData()`` where zvt reflects a database to read one table's columns."""

    def __init__(self) -> None:
        self.tables: _TablesOf | dict = {}

    def reflect(self, bind: Any = None, **_ignored: Any) -> None:
        self.tables = _TablesOf(bind)


class _PatchOnLoad(importlib.abc.MetaPathFinder):
    """Replaces ``MetaData`` in zvt's registration module as soon as that module has run (zvt imports it and
    registers its schemas within one ``import zvt``)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != _REGISTER_MODULE:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            _swap(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_originals: dict[int, Any] = {}


def _swap(module: Any) -> None:
    original = module.__dict__.get("MetaData")
    if original is not None and original is not _OneTableReflection:
        _originals[id(module)] = original
        module.MetaData = _OneTableReflection


def _restore(module: Any) -> None:
    original = _originals.pop(id(module), None)
    if original is not None:
        module.MetaData = original


@contextlib.contextmanager
def reading_one_table() -> Iterator[None]:
    """Within the block (nestable), zvt's registration reads only the table it registers."""
    global _depth
    finder = _PatchOnLoad()
    with _lock:
        _depth += 1
        outermost = _depth == 1
        if outermost:
            module = sys.modules.get(_REGISTER_MODULE)
            if module is not None:
                _swap(module)
            else:
                sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if outermost:
                if finder in sys.meta_path:
                    sys.meta_path.remove(finder)
                module = sys.modules.get(_REGISTER_MODULE)
                if module is not None:
                    _restore(module)
