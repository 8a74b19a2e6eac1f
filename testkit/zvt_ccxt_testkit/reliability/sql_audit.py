"""Proof that every SQL statement binds its values: intercept what reaches sqlite3, and scan the package's SQL.

``recording_statements`` makes every SQLite connection opened inside the block log each statement with its
parameters; ``audit`` then refuses any statement that carries a value in its text or names a table or
column no schema declares. ``scan_source`` finds SQL built in the package's code with anything but table
names, schema column lists, placeholders and constants interpolated.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sqlite3
import sqlite3.dbapi2
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

_LITERAL = re.compile(r"'(?:[^']|'')*'")
_IDENTIFIER = re.compile(r'"([^"]+)"')
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|PRAGMA|WHERE|VALUES)\b")
#: interpolated pieces allowed in the package's SQL: locally built lists of schema columns and placeholders
_SQL_FRAGMENTS = frozenset({"names", "marks", "updates", "where", "select", "unpack", "self.table", "table", "limit"})


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: tuple


_log: list[Statement] | None = None


def _record(sql: str, parameters) -> None:
    if _log is not None:
        _log.append(Statement(str(sql), tuple(parameters) if isinstance(parameters, list | tuple) else ()))


class _Cursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        _record(sql, parameters)
        return super().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        rows = list(seq_of_parameters)
        for parameters in rows[:50]:  # the first rows suffice: one statement text serves the whole batch
            _record(sql, parameters)
        return super().executemany(sql, rows)

    def executescript(self, script, /):
        _record(script, ())
        return super().executescript(script)


class _Connection(sqlite3.Connection):
    def cursor(self, factory=_Cursor):
        return super().cursor(factory)

    def execute(self, sql, parameters=(), /):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, script, /):
        return self.cursor().executescript(script)


def _dispose_engines() -> None:
    from zvt.contract import zvt_context

    for engine in list(zvt_context.db_engine_map.values()):
        engine.dispose()


@contextlib.contextmanager
def recording_statements() -> Iterator[list[Statement]]:
    """Log every statement sent to SQLite by connections opened inside the block (engines reconnect for it)."""
    global _log
    original = sqlite3.dbapi2.connect

    def connect(*args, **kwargs):
        kwargs.setdefault("factory", _Connection)
        return original(*args, **kwargs)

    statements: list[Statement] = []
    _dispose_engines()
    sqlite3.dbapi2.connect = sqlite3.connect = connect
    _log = statements
    try:
        yield statements
    finally:
        sqlite3.dbapi2.connect = sqlite3.connect = original
        _log = None
        _dispose_engines()


def schema_names(schemas: Iterable[type]) -> set[str]:
    """Every table and column name the schemas declare."""
    names: set[str] = set()
    for schema in schemas:
        names.add(schema.__tablename__)
        names.update(schema.__table__.columns.keys())
        names.update(index.name for index in schema.__table__.indexes if index.name)
    return names


def audit(statements: Iterable[Statement], known_names: set[str], values: Iterable[str] = ()) -> list[str]:
    """Problems with ``statements``: values in the SQL text, or names no schema declares.

    A value in the text shows two ways: the same statement recurs with different literals in it (a value
    interpolated, varying from call to call), or a value that travels as a parameter elsewhere in the run
    (an entity id, a symbol, a timestamp), or one of ``values``, stands in a statement's text. Literals that
    never vary (a date format, a JSON path, a LIKE escape) are the code's own constants.
    """
    statements = list(statements)
    bound = {_text(p) for s in statements for p in s.parameters if _watchable(p)}
    # a table name may also travel as a value (entity_type = 'cryptopair'): only other values are watched
    watched = {v for v in bound | set(values) if len(v) >= 6 and v not in known_names}
    problems: list[str] = []
    shapes: dict[str, set[str]] = {}
    for text in dict.fromkeys(s.sql for s in statements):
        shape = _NUMBER.sub("#", _LITERAL.sub("'?'", text))
        shapes.setdefault(shape, set()).add(text)
        unknown = [n for n in _IDENTIFIER.findall(text) if n.split(".")[-1] not in known_names]
        if unknown:
            problems.append(f"identifier {unknown[0]!r} no schema declares in: {text[:160]}")
        outside_names = _IDENTIFIER.sub('""', text)
        leaked = [v for v in watched if re.search(rf"(?<![\w.]){re.escape(v)}(?![\w])", outside_names)]
        if leaked:
            problems.append(f"value {leaked[0]!r} written into: {text[:160]}")
    for shape, texts in shapes.items():
        if len(texts) > 1:
            problems.append(f"{len(texts)} variants of one statement differ in their literals: {shape[:160]}")
    return problems


def _watchable(value: object) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= 1_000_000


def _text(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def scan_source(root: Path) -> list[str]:
    """SQL in ``root``'s Python files built with something other than table names, column lists and constants."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            where = f"{path.relative_to(root.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.JoinedStr) and _SQL.search(_constant_text(node)):
                for part in node.values:
                    if isinstance(part, ast.FormattedValue) and not _allowed(part.value):
                        problems.append(f"{where}: {ast.unparse(part.value)!r} interpolated into SQL")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
                if isinstance(node.func.value, ast.Constant) and _SQL.search(str(node.func.value.value)):
                    problems.append(f"{where}: SQL built with str.format")
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
                for side in (node.left, node.right):
                    if isinstance(side, ast.Constant) and isinstance(side.value, str) and _SQL.search(side.value):
                        other = node.right if side is node.left else node.left
                        if not isinstance(other, ast.Constant | ast.JoinedStr):
                            problems.append(f"{where}: SQL built with {type(node.op).__name__}")
    return problems


def _constant_text(node: ast.JoinedStr) -> str:
    return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))


def _allowed(expression: ast.expr) -> bool:
    source = ast.unparse(expression)
    if source.endswith("__tablename__") or source in _SQL_FRAGMENTS:
        return True
    if isinstance(expression, ast.Name) and expression.id.isupper():  # a module constant
        return True
    if _placeholder_number(expression):  # ?{len(constants) + 2}: the position of a parameter
        return True
    # " AND ".join(clauses): clauses written in the code with placeholders
    return (
        isinstance(expression, ast.Call)
        and isinstance(expression.func, ast.Attribute)
        and expression.func.attr == "join"
        and isinstance(expression.func.value, ast.Constant)
    )


def _placeholder_number(expression: ast.expr) -> bool:
    """Integer arithmetic over counters, constants and ``len(...)``: a parameter's position, never a value."""
    if isinstance(expression, ast.BinOp) and isinstance(expression.op, ast.Add | ast.Sub | ast.Mult):
        return _placeholder_number(expression.left) and _placeholder_number(expression.right)
    if isinstance(expression, ast.Constant):
        return isinstance(expression.value, int)
    if isinstance(expression, ast.Call):
        return isinstance(expression.func, ast.Name) and expression.func.id == "len"
    return isinstance(expression, ast.Name) and len(expression.id) == 1  # a loop counter: i, j
