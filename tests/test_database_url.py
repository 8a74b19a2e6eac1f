"""The store's database URL: where it comes from (``--db-url`` > ``ZVT_CCXT_DB_URL`` > the config file), how it
is normalised, that a password never shows, and one-line errors for anything else."""

from __future__ import annotations

import json
import os

import pytest

from zvt_ccxt.cli import main
from zvt_ccxt.cli.commands import capabilities
from zvt_ccxt.config import (
    CONFIG_FILE_NAME,
    DB_URL_ENV,
    DatabaseUrl,
    database_url,
    normalise_database_url,
    redact_database_url,
)
from zvt_ccxt.errors import ConfigError

from conftest import DATABASES

PASSWORD = "canary-pw-7781"
FILE_URL = "postgresql://file@db.example:5432/from_file"
ENV_URL = "postgresql://env@db.example:5432/from_env"
FLAG_URL = "postgresql://flag@db.example:5432/from_flag"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZVT_HOME", str(tmp_path))
    monkeypatch.delenv(DB_URL_ENV, raising=False)
    return tmp_path


def write_config(home, content: dict, mode: int = 0o600) -> None:
    path = home / CONFIG_FILE_NAME
    path.write_text(json.dumps(content))
    path.chmod(mode)


def psycopg_form(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


# -- precedence ----------------------------------------------------------------------------------------------


def test_unset_means_the_sqlite_files_under_zvt_home(home):
    assert database_url() is None
    write_config(home, {"okx": {"hostname": "aws.okx.com"}})  # a file without the key
    assert database_url() is None


def test_the_config_file_then_the_environment(home, monkeypatch):
    write_config(home, {"db_url": FILE_URL, "okx": {}})
    assert database_url() == psycopg_form(FILE_URL)
    monkeypatch.setenv(DB_URL_ENV, ENV_URL)
    assert database_url() == psycopg_form(ENV_URL)
    monkeypatch.setenv(DB_URL_ENV, "  ")  # empty counts as unset
    assert database_url() == psycopg_form(FILE_URL)


@pytest.fixture
def seen_by_command(monkeypatch) -> list:
    """What ``database_url()`` answers inside a CLI command (``capabilities``, which needs no network here)."""
    seen = []

    def probe(args) -> int:
        seen.append(database_url())
        return 0

    monkeypatch.setattr(capabilities, "run", probe)
    return seen


@pytest.mark.parametrize("position", ["before the command", "after the command"])
def test_the_cli_flag_wins_over_environment_and_file_for_its_command_only(home, monkeypatch, seen_by_command, position):
    write_config(home, {"db_url": FILE_URL})
    monkeypatch.setenv(DB_URL_ENV, ENV_URL)
    argv = (
        ["--db-url", FLAG_URL, "capabilities"]
        if position == "before the command"
        else ["capabilities", "--db-url", FLAG_URL]
    )
    assert main(argv) == 0
    assert seen_by_command == [psycopg_form(FLAG_URL)]
    assert os.environ[DB_URL_ENV] == ENV_URL  # restored: main() also runs inside other programs


def test_without_the_flag_a_command_sees_the_environment(home, monkeypatch, seen_by_command):
    monkeypatch.setenv(DB_URL_ENV, ENV_URL)
    assert main(["capabilities"]) == 0
    assert seen_by_command == [psycopg_form(ENV_URL)]


def test_the_flag_leaves_no_variable_behind(home, seen_by_command):
    assert main(["--db-url", "sqlite:///store.db", "capabilities"]) == 0
    assert seen_by_command == ["sqlite:///store.db"]
    assert DB_URL_ENV not in os.environ


@pytest.mark.parametrize("command", [[], ["markets"], ["record"], ["stream"], ["coverage"], ["repair"], ["export"]])
def test_help_lists_the_flag_everywhere(capsys, command):
    assert main([*command, "--help"]) == 0
    assert "--db-url URL" in capsys.readouterr().out


# -- normalisation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, expected",
    [
        ("postgresql://user@127.0.0.1:5432/db", "postgresql+psycopg://user@127.0.0.1:5432/db"),
        ("PostgreSQL://user@host/db?sslmode=require", "postgresql+psycopg://user@host/db?sslmode=require"),
        ("postgresql+psycopg://user:p%40ss@host/db", "postgresql+psycopg://user:p%40ss@host/db"),
        ("postgresql:///db", "postgresql+psycopg:///db"),  # libpq's defaults: local socket, own user name
        ("sqlite:///relative/store.db", "sqlite:///relative/store.db"),
        ("sqlite:////abs/store.db", "sqlite:////abs/store.db"),
        ("  postgresql://u@h/db\n", "postgresql+psycopg://u@h/db"),
    ],
)
def test_accepted_forms_are_normalised_to_the_declared_driver(given, expected):
    url = normalise_database_url(given)
    assert url == expected
    assert url.backend == expected.split(":")[0].split("+")[0]


def test_the_database_fixture_yields_a_url_the_configuration_accepts(database, monkeypatch):
    """The scaffold storage tests build on: one case per store, its URL taken as ``ZVT_CCXT_DB_URL`` takes it."""
    if database is None:
        monkeypatch.delenv(DB_URL_ENV, raising=False)
        assert database_url() is None
        return
    monkeypatch.setenv(DB_URL_ENV, database)
    assert database_url().backend == "postgresql"
    assert database_url() == psycopg_form(database)
    assert set(DATABASES) == {"sqlite", "postgresql"}


# -- redaction -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, shown",
    [
        (f"postgresql://me:{PASSWORD}@host:5432/db", "postgresql://me:***@host:5432/db"),
        (f"postgresql://me:{PASSWORD}@x@host/db", "postgresql://me:***@host/db"),  # an unescaped @ in it
        (
            f"postgresql://me@host/db?sslmode=require&password={PASSWORD}",
            "postgresql://me@host/db?sslmode=require&password=***",
        ),
        ("postgresql://me@host/db", "postgresql://me@host/db"),
        (f"no scheme {PASSWORD}", "<not a URL>"),
    ],
)
def test_redaction(url, shown):
    assert redact_database_url(url) == shown


def test_repr_hides_the_password_and_the_value_keeps_it(home, monkeypatch):
    monkeypatch.setenv(DB_URL_ENV, f"postgresql://me:{PASSWORD}@host/db")
    url = database_url()
    assert isinstance(url, DatabaseUrl)
    assert PASSWORD not in repr(url) and PASSWORD not in f"{[url]}" and "me:***@host" in repr(url)
    assert str(url) == f"postgresql+psycopg://me:{PASSWORD}@host/db"  # what the driver is given


def test_a_password_in_a_file_readable_by_others_is_refused(home):
    write_config(home, {"db_url": f"postgresql://me:{PASSWORD}@host/db"}, mode=0o644)
    with pytest.raises(ConfigError, match="chmod 600") as refused:
        database_url()
    assert PASSWORD not in str(refused.value)
    (home / CONFIG_FILE_NAME).chmod(0o600)
    assert database_url() == f"postgresql+psycopg://me:{PASSWORD}@host/db"
    write_config(home, {"db_url": "postgresql://me@host/db"}, mode=0o644)  # no password: nothing to protect
    assert database_url() == "postgresql+psycopg://me@host/db"


# -- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, named",
    [
        (f"mysql://me:{PASSWORD}@host/db", "'mysql'"),
        (f"postgres://me:{PASSWORD}@host/db", "did you mean postgresql://"),
        (f"postgresql+psycopg2://me:{PASSWORD}@host/db", "'postgresql+psycopg2'"),
        ("sqlite+pysqlite:///store.db", "'sqlite+pysqlite'"),
        (f"me:{PASSWORD}@host/db", "no scheme://"),
        (f"postgresql://me:{PASSWORD}@host:port/db", "a port is a number"),
        (f"postgresql://me:{PASSWORD}@x@host/db", "percent-encode"),
        ("sqlite://", "names no file"),
        ("sqlite:///:memory:", "names no file"),
    ],
)
def test_bad_urls_fail_in_one_line_without_the_password(home, monkeypatch, url, named):
    monkeypatch.setenv(DB_URL_ENV, url)
    with pytest.raises(ConfigError) as refused:
        database_url()
    message = str(refused.value)
    assert named in message and message.startswith(DB_URL_ENV)
    assert PASSWORD not in message and "\n" not in message


@pytest.mark.parametrize("value", [42, "", ["postgresql://u@h/db"]])
def test_a_file_entry_that_is_not_a_url_string_is_named(home, value):
    write_config(home, {"db_url": value})
    with pytest.raises(ConfigError, match="'db_url' must be a database URL string"):
        database_url()


def test_a_bad_flag_is_a_usage_error_in_one_line_without_the_password(home, capsys):
    assert main(["--db-url", f"mysql://me:{PASSWORD}@host/db", "capabilities"]) == 2
    err = capsys.readouterr().err
    assert "'mysql'" in err and "--db-url" in err and PASSWORD not in err
    assert len(err.strip().splitlines()) == 1


def test_a_sqlite_url_puts_every_table_of_the_provider_in_that_one_file(store, tmp_path, monkeypatch):
    """The URL takes effect at the store's next use (zvt was imported long before), zvt reads through it too,
    and unsetting it points the store back at the files under ZVT_HOME."""
    from zvt_ccxt.domain import CryptoPair1hKdata, CryptoTrade
    from zvt_ccxt.store.engines import engine_for
    from zvt_ccxt.store.writer import upsert

    single = tmp_path / "one.db"
    monkeypatch.setenv(DB_URL_ENV, f"sqlite:///{single}")
    assert engine_for(CryptoTrade).url.database == engine_for(CryptoPair1hKdata).url.database == str(single)
    upsert(CryptoPair1hKdata, ("id", "entity_id", "timestamp", "close"),
           [("cryptopair_x_y_2025-06-01T00:00:00.000", "cryptopair_x_y", "2025-06-01 00:00:00.000000", 1.5)])
    frame = CryptoPair1hKdata.query_data(provider="ccxt")
    assert list(frame.close) == [1.5]
    monkeypatch.delenv(DB_URL_ENV)
    assert engine_for(CryptoTrade).url.database != str(single)
    assert CryptoPair1hKdata.query_data(provider="ccxt").empty
