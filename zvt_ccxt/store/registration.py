"""zvt's schema registration at import, at the cost of the tables it registers rather than of the whole database.

For every table it registers, zvt's ``register_schema`` reflects every table of the database (``MetaData()
.reflect``) only to read the columns of that one table and add those the schema gained: the database is read
once per table, quadratic in its tables, and most of ``import zvt`` (about 100 registrations, 200 tables). Inside
``reading_one_table()`` that reflection reads the one table asked for, with the database's own inspector, so
registration does all it did (tables created, new columns added, the same indexes, the same journal mode
statements) in linear time. zvt itself is left untouched: only the name ``MetaData`` in its registration module
is replaced, for the block.

On a new ``ZVT_HOME`` registration creates some 130 SQLite files, 200 tables and 600 indexes, each index in a
transaction of its own that SQLite syncs to disk (several fsyncs each): seconds of waiting for the disk. SQLite
connections used within the block skip those syncs (``synchronous=OFF``) and get their own setting back when
returned to the pool, so no later write runs without it. The schema is the same; what a power cut in the middle
of a first import could leave half-written is an empty table of zvt's, which the next import creates again.
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

from sqlalchemy import event, inspect
from sqlalchemy.pool import Pool

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
            with self._bind.connect() as connection:
                rows = connection.exec_driver_sql("SELECT name FROM pragma_table_info(?)", (table_name,))
                return [row[0] for row in rows]
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
#: the one provider whose databases registration opens, where ``only_provider_on_disk`` was called
_on_disk_only: str | None = None


def only_provider_on_disk(provider: str) -> None:
    """In this process, zvt's schemas of providers other than ``provider`` live in memory: their registration
    records them in zvt's context (providers, schemas, sessions) with an in-memory database each, whose tables are
    created only if something connects to it (zvt's import writes a few rows of its own). For a process that
    never reads zvt's own tables (the ``zvt-ccxt`` command), which then skips creating, or reading back, some 130
    databases with 200 tables and 600 indexes at its start. Takes effect for registrations made after the call
    (zvt registers its schemas at its import); a process that imports zvt without it keeps them on disk as before."""
    global _on_disk_only
    _on_disk_only = provider


class _NoTables:
    """A declarative base as zvt's registration sees it, minus its tables: the schemas (``registry``) are
    registered, ``metadata`` has nothing to create or to index."""

    def __init__(self, base: Any) -> None:
        self.registry = base.registry
        self.metadata = SimpleNamespace(tables={}, create_all=lambda **_ignored: None)


def _memory_engine(metadata: Any) -> Any:
    """An in-memory SQLite database (one connection, any thread) that gets ``metadata``'s tables and indexes on its
    first connection."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool
    from sqlalchemy.schema import CreateIndex, CreateTable

    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})

    def create_tables(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for table in metadata.sorted_tables:
                cursor.execute(str(CreateTable(table).compile(dialect=engine.dialect)))
                for index in table.indexes:
                    cursor.execute(str(CreateIndex(index).compile(dialect=engine.dialect)))
        finally:
            cursor.close()

    event.listen(engine, "connect", create_tables)
    return engine


def _registering(register_schema: Any) -> Any:
    def register(providers: Any, db_name: Any, schema_base: Any, *args: Any, **kwargs: Any) -> Any:
        if _on_disk_only is None or not providers or _on_disk_only in providers:
            return register_schema(providers, db_name, schema_base, *args, **kwargs)
        from zvt.contract import zvt_context

        for provider in providers:  # zvt's get_db_engine takes the engine of this map before making one
            zvt_context.db_engine_map.setdefault(f"{provider}_{db_name}", _memory_engine(schema_base.metadata))
        result = register_schema(providers, db_name, _NoTables(schema_base), *args, **kwargs)
        zvt_context.dbname_map_base[db_name] = schema_base  # the real base, for whoever asks zvt for it
        return result

    register.__wrapped__ = register_schema  # type: ignore[attr-defined]
    return register


def _swap(module: Any) -> None:
    original = module.__dict__.get("MetaData")
    if original is not None and original is not _OneTableReflection:
        _originals[id(module)] = original
        module.MetaData = _OneTableReflection
    function = module.__dict__.get("register_schema")
    if function is not None and not hasattr(function, "__wrapped__"):
        module.register_schema = _registering(function)  # stays: modules imported in the block hold this name


def _restore(module: Any) -> None:
    original = _originals.pop(id(module), None)
    if original is not None:
        module.MetaData = original


_SYNC_KEY = "zvt_ccxt_synchronous"
# SQLite's four levels as whole statements: a pragma takes no bound parameter
_SET_SYNCHRONOUS = {
    0: "PRAGMA synchronous=0", 1: "PRAGMA synchronous=1", 2: "PRAGMA synchronous=2", 3: "PRAGMA synchronous=3",
}


def _sqlite(dbapi_connection: Any) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


def _unsynced_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    if _sqlite(dbapi_connection) and _SYNC_KEY not in record.info:
        cursor = dbapi_connection.cursor()
        try:
            record.info[_SYNC_KEY] = cursor.execute("PRAGMA synchronous").fetchone()[0]
            cursor.execute("PRAGMA synchronous=OFF")
        finally:
            cursor.close()


def _resynced_checkin(dbapi_connection: Any, record: Any) -> None:
    level = record.info.pop(_SYNC_KEY, None) if record is not None else None
    if dbapi_connection is not None and level is not None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(_SET_SYNCHRONOUS[int(level)])
        finally:
            cursor.close()


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
            event.listen(Pool, "checkout", _unsynced_checkout)
            if not event.contains(Pool, "checkin", _resynced_checkin):
                event.listen(Pool, "checkin", _resynced_checkin)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if outermost:
                event.remove(Pool, "checkout", _unsynced_checkout)
                # the checkin hook stays: a connection checked out in the block and returned later still gets
                # its setting back (it does nothing for others)
                if finder in sys.meta_path:
                    sys.meta_path.remove(finder)
                module = sys.modules.get(_REGISTER_MODULE)
                if module is not None:
                    _restore(module)
