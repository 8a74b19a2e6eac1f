"""Per-exchange ccxt constructor options and credentials, from keywords, a config file and the environment.

Precedence, lowest first: ``$ZVT_HOME/zvt_ccxt.json`` (``{"okx": {...ccxt options...}}``), the
environment variable ``ZVT_CCXT_<EXCHANGE>_OPTIONS`` holding JSON, then keyword arguments
(``configure_exchange("okx", ...)`` for the process, or ``get_client("okx", ...)``). Nested
dicts (``options``, ``urls``, ``headers``) merge key by key. Credentials come only from the environment
(``ZVT_CCXT_<EXCHANGE>_API_KEY``/``_SECRET``/``_PASSWORD``, falling back to ``CRYPTO_API_KEY``/
``CRYPTO_API_SECRET``/``CRYPTO_API_PASSPHRASE``) or from the file, which must then be readable by its owner only.

The store's database URL (:func:`database_url`), highest precedence first: the CLI's ``--db-url`` (it sets the
environment variable for the command), ``ZVT_CCXT_DB_URL``, then ``"db_url"`` at the top level of the file;
unset, zvt's SQLite files under ``ZVT_HOME`` are the store.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zvt_ccxt.errors import ConfigError

CONFIG_FILE_NAME = "zvt_ccxt.json"
#: the environment variable naming a cassette to replay process-wide (notebooks, the CLI's ``--replay``)
REPLAY_ENV = "ZVT_CCXT_REPLAY"
#: the environment variable holding the store's database URL (the CLI's ``--db-url`` sets it for its command)
DB_URL_ENV = "ZVT_CCXT_DB_URL"
#: the top-level key of the config file holding the store's database URL
DB_URL_KEY = "db_url"
#: accepted URL schemes -> the scheme handed on: a bare ``postgresql://`` gets psycopg 3, the driver zvt-ccxt declares
DB_URL_SCHEMES = {"postgresql": "postgresql+psycopg", "postgresql+psycopg": "postgresql+psycopg", "sqlite": "sqlite"}
DB_URL_FORMS = "postgresql://user@host:port/database, postgresql+psycopg://... or sqlite:///path/to/file.db"
_SCHEME_HINTS = {"postgres": "postgresql", "postgresql+psycopg2": "postgresql", "postgresql+asyncpg": "postgresql"}
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)
CREDENTIAL_KEYS = ("apiKey", "secret", "password", "uid", "privateKey", "walletAddress", "token")
_ENV_CREDENTIALS = {
    "apiKey": ("API_KEY", "CRYPTO_API_KEY"),
    "secret": ("SECRET", "CRYPTO_API_SECRET"),
    "password": ("PASSWORD", "CRYPTO_API_PASSPHRASE"),
}


_keyword_options: dict[str, dict[str, Any]] = {}


def configure_exchange(exchange_id: str, **options: Any) -> None:
    """Set ccxt constructor options for ``exchange_id`` in this process (highest precedence), e.g.
    ``configure_exchange("okx", hostname="aws.okx.com", options={"defaultType": "swap"})``."""
    from zvt_ccxt.exchange.client import check_exchange_id, reset_clients

    check_exchange_id(exchange_id)
    _keyword_options[exchange_id] = _merge(_keyword_options.get(exchange_id, {}), options)
    reset_clients()


def zvt_home() -> Path:
    return Path(os.environ.get("ZVT_HOME") or Path.home() / "zvt-home")


def _env_name(exchange_id: str, suffix: str) -> str:
    return f"ZVT_CCXT_{exchange_id.upper()}_{suffix}"


def _merge(base: dict, extra: Mapping) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _read_file(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object keyed by exchange id")
    return data


def _check_private(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} holds credentials but is readable by others (mode {oct(mode & 0o777)}); run: chmod 600 {path}"
        )


@dataclass(frozen=True)
class ExchangeConfig:
    """Resolved settings for one exchange; ``repr`` never shows a credential."""

    exchange_id: str
    options: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        hidden = ", ".join(f"{key}=***" for key in sorted(self.credentials))
        return f"ExchangeConfig(exchange_id={self.exchange_id!r}, options={self.options!r}, credentials=[{hidden}])"

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials.get("apiKey"))

    def ccxt_params(self) -> dict[str, Any]:
        """The dict handed to the ccxt constructor."""
        return {**self.options, **self.credentials}


def load_exchange_config(exchange_id: str, overrides: Mapping[str, Any] | None = None) -> ExchangeConfig:
    """Collect options and credentials for ``exchange_id`` from file, environment and ``overrides``."""
    path = zvt_home() / CONFIG_FILE_NAME
    section = _read_file(path).get(exchange_id, {})
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: the entry for {exchange_id!r} must be a JSON object")
    options = dict(section)

    env_options = os.environ.get(_env_name(exchange_id, "OPTIONS"))
    if env_options:
        try:
            parsed = json.loads(env_options)
        except ValueError as error:
            raise ConfigError(f"{_env_name(exchange_id, 'OPTIONS')} is not valid JSON: {error}") from None
        if not isinstance(parsed, dict):
            raise ConfigError(f"{_env_name(exchange_id, 'OPTIONS')} must hold a JSON object")
        options = _merge(options, parsed)
    options = _merge(options, _keyword_options.get(exchange_id, {}))
    options = _merge(options, dict(overrides or {}))

    credentials = {key: str(options.pop(key)) for key in CREDENTIAL_KEYS if options.get(key)}
    if credentials and any(key in section for key in CREDENTIAL_KEYS):
        _check_private(path)
    for key, (suffix, fallback) in _ENV_CREDENTIALS.items():
        value = os.environ.get(_env_name(exchange_id, suffix)) or os.environ.get(fallback)
        if value and key not in credentials:
            credentials[key] = value
    return ExchangeConfig(exchange_id=exchange_id, options=options, credentials=credentials)


class DatabaseUrl(str):
    """A normalised database URL: a ``str`` (what SQLAlchemy and psycopg take) whose ``repr`` hides the password,
    so it stays hidden in tracebacks, logs of ``%r`` and test reports."""

    @property
    def backend(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self.split("://", 1)[0].split("+", 1)[0]

    @property
    def redacted(self) -> str:
        return redact_database_url(self)

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.redacted!r})"


def redact_database_url(url: str) -> str:
    """``url`` with any password (``user:PASSWORD@`` or ``?password=``) replaced by ``***``; never fails."""
    scheme, separator, rest = str(url).partition("://")
    if not separator:
        return "<not a URL>"
    if "@" in rest:  # the last @ ends the user part: a password may hold an unescaped @ (or /)
        user_part, host_part = rest.rsplit("@", 1)
        if ":" in user_part:
            user_part = user_part.split(":", 1)[0] + ":***"
        rest = f"{user_part}@{host_part}"
    rest = _QUERY_PASSWORD.sub(r"\g<1>***", rest)
    return f"{scheme}://{rest}"


def normalise_database_url(url: str, source: str = "") -> DatabaseUrl:
    """Check ``url`` and name its driver: ``postgresql://`` becomes ``postgresql+psycopg://``, the psycopg 3 form
    and ``sqlite:///FILE`` pass as written. Anything else raises a one-line :class:`ConfigError` naming the scheme
    (and ``source``, where the URL came from), with the password redacted."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    where = f"{source}: " if source else ""
    text = str(url).strip()
    scheme, separator, rest = text.partition("://")
    if not separator or not scheme:
        raise ConfigError(f"{where}not a database URL (no scheme://): expected {DB_URL_FORMS}")
    scheme = scheme.lower()
    shown = redact_database_url(text)
    if scheme not in DB_URL_SCHEMES:
        hint = f" (did you mean {_SCHEME_HINTS[scheme]}://?)" if scheme in _SCHEME_HINTS else ""
        raise ConfigError(
            f"{where}unsupported database URL scheme {scheme!r} in {shown}{hint}: expected {DB_URL_FORMS}"
        )
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError):  # their messages quote the URL, password included
        raise ConfigError(
            f"{where}cannot parse {shown}: expected {DB_URL_FORMS} (a port is a number; percent-encode special "
            "characters in user and password)"
        ) from None
    if scheme == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError(f"{where}{shown} names no file (an in-memory database would vanish): use {DB_URL_FORMS}")
    elif parsed.host and ("@" in parsed.host or "/" in parsed.host):
        raise ConfigError(f"{where}cannot parse {shown}: percent-encode @ and / in the password (%40, %2F)")
    return DatabaseUrl(f"{DB_URL_SCHEMES[scheme]}://{rest}")


def database_url() -> DatabaseUrl | None:
    """The store's database URL, normalised (:func:`normalise_database_url`): ``ZVT_CCXT_DB_URL`` (which the
    CLI's ``--db-url`` sets), else ``"db_url"`` in ``$ZVT_HOME/zvt_ccxt.json``; None means zvt's SQLite files
    under ``ZVT_HOME``. An empty variable counts as unset. A file holding a password must be readable by its owner
    only, as for exchange credentials."""
    from_environment = os.environ.get(DB_URL_ENV, "").strip()
    if from_environment:
        return normalise_database_url(from_environment, DB_URL_ENV)
    path = zvt_home() / CONFIG_FILE_NAME
    value = _read_file(path).get(DB_URL_KEY)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {DB_URL_KEY!r} must be a database URL string ({DB_URL_FORMS})")
    normalised = normalise_database_url(value, f"{path} {DB_URL_KEY!r}")
    if _has_password(normalised):
        _check_private(path)
    return normalised


def _has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url

    return bool(make_url(url).password) or bool(_QUERY_PASSWORD.search(url))
