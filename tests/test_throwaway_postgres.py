"""The test kit's throwaway PostgreSQL server: it really starts, serves psycopg 3, keeps the time-zone trap visible,
survives a restart, and leaves neither a process nor a directory behind, however its block ends."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from zvt_ccxt_testkit.postgres import (
    PostgresStartError,
    PostgresUnavailable,
    ThrowawayPostgres,
    find_binaries,
    throwaway_postgres,
)

from conftest import postgres_unavailable

psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is in the test extra: pip install -e '.[test]'")

UTC_SESSION = "-c TimeZone=UTC"  # what a store should send: timestamp columns are naive UTC
NEW_YEAR_UTC = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def binaries():
    try:
        return find_binaries()
    except PostgresUnavailable as unavailable:
        postgres_unavailable(unavailable)


def gone(pid: int) -> bool:
    """Not a live process (one that exited and waits for init to reap it counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def assert_cleaned_up(directory: Path, pid: int, port: int) -> None:
    assert not directory.exists()
    assert gone(pid)
    assert not accepts_connections(port)


def test_the_server_starts_serves_psycopg_and_is_gone_afterwards(binaries):
    with throwaway_postgres(binaries=binaries) as server:
        directory, pid, port = server.directory, server.pid, server.port
        assert server.url == f"postgresql://postgres@127.0.0.1:{port}/zvt_ccxt_test"
        assert (server.data_dir / "PG_VERSION").exists() and pid is not None and not gone(pid)
        with psycopg.connect(server.url, options=UTC_SESSION) as connection:
            database, user = connection.execute("SELECT current_database(), current_user").fetchone()
            assert (database, user) == ("zvt_ccxt_test", "postgres")
            listen = connection.execute("SHOW listen_addresses").fetchone()[0]
            assert listen == "127.0.0.1"
    assert_cleaned_up(directory, pid, port)


def test_a_utc_session_keeps_naive_timestamps_as_written_and_the_server_default_would_not(binaries):
    """Why a store must set its session to UTC: zvt's columns are ``timestamp without time zone`` holding UTC, and
    an aware datetime (or ``now()``) is converted to the *session's* zone on the way in. The throwaway server's
    default zone is deliberately not UTC, so a store that forgets shows it here."""
    with throwaway_postgres(binaries=binaries) as server:
        with psycopg.connect(server.url, options=UTC_SESSION, autocommit=True) as utc:
            assert utc.execute("SHOW TimeZone").fetchone()[0] == "UTC"
            utc.execute("CREATE TABLE bars (id text PRIMARY KEY, timestamp timestamp without time zone)")
            utc.execute("INSERT INTO bars VALUES (%s, %s)", ("aware-utc-session", NEW_YEAR_UTC))
            utc.execute("INSERT INTO bars VALUES (%s, %s)", ("naive", NEW_YEAR_UTC.replace(tzinfo=None)))
            aware_back = utc.execute("SELECT %s::timestamptz", (NEW_YEAR_UTC,)).fetchone()[0]
            assert aware_back == NEW_YEAR_UTC and aware_back.utcoffset() == dt.timedelta(0)
        with psycopg.connect(server.url, autocommit=True) as default:
            default_zone = default.execute("SHOW TimeZone").fetchone()[0]
            assert default_zone != "UTC"
            default.execute("INSERT INTO bars VALUES (%s, %s)", ("aware-default-session", NEW_YEAR_UTC))
            stored = dict(default.execute("SELECT id, timestamp FROM bars").fetchall())
    assert stored["aware-utc-session"] == stored["naive"] == dt.datetime(2024, 1, 1)
    assert stored["aware-default-session"] == dt.datetime(2024, 1, 1, 8)  # Asia/Shanghai: the shift a store avoids


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_restart_breaks_connections_and_keeps_committed_rows_and_port(binaries, mode):
    """Both a clean restart and a crash-like one (immediate: recovery at start) keep every committed row; the
    last commit comes just before the stop, where a lost WAL write would show."""
    with throwaway_postgres(binaries=binaries) as server:
        port = server.port
        with psycopg.connect(server.url, autocommit=True) as connection:
            connection.execute("CREATE TABLE kept (n int)")
            for n in range(1, 51):
                connection.execute("INSERT INTO kept VALUES (%s)", (n,))
            first_pid = server.pid
            server.restart(mode)
            with pytest.raises(psycopg.OperationalError):
                connection.execute("SELECT 1")
        assert server.port == port and server.pid != first_pid and gone(first_pid)
        with psycopg.connect(server.url) as connection:
            assert connection.execute("SELECT count(*), max(n) FROM kept").fetchone() == (50, 50)
        server.stop()
        assert server.pid is None and not accepts_connections(port)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.url, connect_timeout=2)
        server.start()
        with psycopg.connect(server.url) as connection:
            assert connection.execute("SELECT count(*) FROM kept").fetchone()[0] == 50


@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_block_still_stops_the_server_and_removes_its_directory(binaries, interruption):
    with pytest.raises(interruption):
        with throwaway_postgres(binaries=binaries) as server:
            directory, pid, port = server.directory, server.pid, server.port
            assert accepts_connections(port)
            raise interruption("stop here")
    assert_cleaned_up(directory, pid, port)


@pytest.fixture
def own_tempdir(monkeypatch) -> Iterator[Path]:
    """A temporary directory of this test's own as the default one, so what is left in it is this test's doing.
    Not under ``tmp_path``: under root the server's user must be able to enter it."""
    directory = Path(tempfile.mkdtemp(prefix="zvt-ccxt-test-"))
    directory.chmod(0o711)
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_initdb_failing_is_one_line_in_its_own_words_and_leaves_nothing(binaries, own_tempdir):
    with pytest.raises(PostgresStartError) as failed:
        with throwaway_postgres(binaries=binaries, locale="xx_NOT_A_LOCALE"):
            pass
    message = str(failed.value)
    assert message.startswith("initdb failed") and "xx_NOT_A_LOCALE" in message and "\n" not in message
    assert list(own_tempdir.iterdir()) == []


def test_a_server_that_cannot_start_names_the_reason_from_its_log_and_leaves_nothing(binaries, own_tempdir):
    with pytest.raises(PostgresStartError) as failed:
        with throwaway_postgres(binaries=binaries, settings={"shared_buffers": "plenty"}):
            pass
    message = str(failed.value)
    assert "did not start" in message and "shared_buffers" in message and "\n" not in message
    assert list(own_tempdir.iterdir()) == []


def test_missing_binaries_are_one_line_naming_what_to_install(tmp_path):
    with pytest.raises(PostgresUnavailable) as missing:
        find_binaries(search_path=str(tmp_path), bin_dirs=str(tmp_path / "*" / "bin"))
    message = str(missing.value)
    assert "initdb" in message and "apt-get install postgresql" in message and "\n" not in message


def test_binaries_are_found_in_the_debian_layout_when_not_on_path(binaries, tmp_path):
    """Debian installs the server programs under /usr/lib/postgresql/<version>/bin, not on PATH."""
    for version in ("9", "15"):
        (tmp_path / version / "bin").mkdir(parents=True)
        for tool in ("initdb", "pg_ctl", "postgres", "createdb"):
            (tmp_path / version / "bin" / tool).symlink_to(binaries.directory / tool)
    found = find_binaries(search_path=str(tmp_path / "empty"), bin_dirs=str(tmp_path / "*" / "bin"))
    assert found.directory == tmp_path / "15" / "bin"  # the newest, compared as numbers
    assert found.version == binaries.version


def test_the_session_fixture_serves_the_database_cases(postgres_server: ThrowawayPostgres, postgres_url: str):
    assert postgres_url == postgres_server.url
    with psycopg.connect(postgres_url, options=UTC_SESSION) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("ci, outcome", [(None, pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_without_binaries_the_postgresql_cases_skip_except_under_ci(monkeypatch, ci, outcome):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no PostgreSQL server binaries"):
        postgres_unavailable(PostgresUnavailable("no PostgreSQL server binaries (initdb, ...)"))
