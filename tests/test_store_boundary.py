"""All SQL lives in ``zvt_ccxt/store``: no other module of the package runs a statement, reaches for an engine
or a session, or holds SQL text. Read from the source, so a new module cannot slip past."""

import ast
import re
from pathlib import Path

import zvt_ccxt

PACKAGE = Path(zvt_ccxt.__file__).parent
#: where SQL and database access belong
STORE = "store"
#: the schemas declare their columns with SQLAlchemy, and run nothing
DECLARES_COLUMNS = "domain"
#: the test rig shipped beside the runtime (local exchanges, the fault harness) reads and damages tables, as
#: tests may; it is on its way out of the runtime package
TEST_RIG = ("simulator", "reliability")

#: calls that run SQL, build it, or hand out what runs it (zvt's ORM reads and writes included)
SQL_CALLS = frozenset(
    {
        "execute", "executemany", "executescript", "exec_driver_sql", "text", "select", "query", "query_data",
        "df_to_db", "get_db_session", "get_db_engine", "raw_connection", "engine_for", "bindparam",
    }
)
SQL_MODULES = ("sqlalchemy", "sqlite3", "psycopg")
#: SQLAlchemy names that run and build no SQL: parsing a database URL (the configuration checks one) and its errors
NO_SQL_IMPORTS = {"sqlalchemy.engine": {"make_url"}, "sqlalchemy.exc": None}
#: statement shapes, not words: "select the entities from okx" in a message is prose
SQL_TEXT = [
    re.compile(r"\bSELECT\b[\s\S]*\bFROM\b"),
    re.compile(r"\binsert\s+(or\s+\w+\s+)?into\b", re.IGNORECASE),
    re.compile(r"\bdelete\s+from\b", re.IGNORECASE),
    re.compile(r"\bUPDATE\s+\S+\s+SET\b"),
    re.compile(r"\bon\s+conflict\b", re.IGNORECASE),
    re.compile(r"\bpragma\s+\w+", re.IGNORECASE),
    re.compile(r"\b(create|drop|alter)\s+(table|index|view)\b", re.IGNORECASE),
    re.compile(r"\bWHERE\b[\s\S]*(=|<|>|\bIN\b|\bLIKE\b|\bIS\b)"),
    re.compile(r"(=|<|>|\bIN\s*\(|,)\s*\?(\d+)?\s*(,|\)|$|\bAND\b|\bOR\b)"),
]


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _text_of(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # an f-string: its constant parts, a placeholder where values go
        return "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
    return None


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


def sql_outside_the_store(root: Path) -> list[str]:
    """``path:line: what`` for every statement run, engine reached or SQL text outside the allowed parts."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        part = path.relative_to(root).parts[0]
        if part == STORE or part in TEST_RIG:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        where = path.relative_to(root.parent)
        parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            line = f"{where}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call) and _called_name(node) in SQL_CALLS:
                problems.append(f"{line}: calls {_called_name(node)}()")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if isinstance(node, ast.ImportFrom) and node.level:
                    continue
                declares = part == DECLARES_COLUMNS
                if isinstance(node, ast.ImportFrom) and node.module in NO_SQL_IMPORTS:
                    allowed = NO_SQL_IMPORTS[node.module]
                    if allowed is None or {alias.name for alias in node.names} <= allowed:
                        continue
                for name in names:
                    if name.startswith(SQL_MODULES) and not (declares and name.startswith("sqlalchemy")):
                        problems.append(f"{line}: imports {name}")
            elif isinstance(node, ast.Constant | ast.JoinedStr) and id(node) not in docstrings:
                if isinstance(parents.get(id(node)), ast.JoinedStr):
                    continue  # a part of an f-string: the f-string is read whole
                text = _text_of(node)
                if text and any(pattern.search(text) for pattern in SQL_TEXT):
                    problems.append(f"{line}: SQL text {text[:60]!r}")
    return problems


def test_no_module_outside_the_store_runs_or_holds_sql():
    assert sql_outside_the_store(PACKAGE) == []


def test_the_boundary_check_finds_each_kind_of_sql(tmp_path):
    package = tmp_path / "pkg"
    (package / "store").mkdir(parents=True)
    (package / "recorders").mkdir()
    (package / "store" / "reads.py").write_text('def f(c):\n    return c.execute("SELECT 1 FROM t WHERE a = ?")\n')
    (package / "recorders" / "bad.py").write_text(
        '"""Writes with INSERT INTO t (a) VALUES (?) in prose: a docstring is allowed."""\n'
        "import sqlite3\n"
        "from sqlalchemy import text\n"
        "def run(connection, table, entity_id):\n"
        '    connection.exec_driver_sql(f"DELETE FROM {table}")\n'
        '    sql = f\'SELECT close FROM "{table}" WHERE entity_id = :entity_id\'\n'
        '    other = "UPDATE crypto_funding SET funding_interval_hours = 1 WHERE id = ?"\n'
        "    return text(sql), other, schema.query_data(provider='ccxt')\n"
    )
    (package / "recorders" / "fine.py").write_text(
        'MESSAGE = "select the markets from okx, or update the listing"\n'
        "def go(items):\n"
        "    return [i for i in items if i.selected]\n"
    )
    problems = sql_outside_the_store(package)
    bad = [p for p in problems if p.startswith("pkg/recorders/bad.py")]
    assert not any("store/reads.py" in p or "fine.py" in p for p in problems)
    assert any("imports sqlite3" in p for p in bad) and any("imports sqlalchemy" in p for p in bad)
    assert any("calls exec_driver_sql()" in p for p in bad) and any("calls text()" in p for p in bad)
    assert any("calls query_data()" in p for p in bad)
    assert any("SQL text 'DELETE FROM x'" in p for p in bad)
    assert any("SQL text 'SELECT close" in p for p in bad) and any("SQL text 'UPDATE crypto_funding" in p for p in bad)
