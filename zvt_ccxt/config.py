"""Per-exchange ccxt constructor options and credentials, from keywords, a config file and the environment.

Precedence, lowest first: ``$ZVT_HOME/zvt_ccxt.json`` (``{"okx": {...ccxt options...}}``), the
environment variable ``ZVT_CCXT_<EXCHANGE>_OPTIONS`` holding JSON, then keyword arguments
(``configure_exchange("okx", ...)`` for the process, or ``get_client("okx", ...)``). Nested
dicts (``options``, ``urls``, ``headers``) merge key by key. Credentials come only from the environment
(``ZVT_CCXT_<EXCHANGE>_API_KEY``/``_SECRET``/``_PASSWORD``, falling back to ``CRYPTO_API_KEY``/
``CRYPTO_API_SECRET``/``CRYPTO_API_PASSPHRASE``) or from the file, which must then be readable by its owner only.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zvt_ccxt.errors import ConfigError

CONFIG_FILE_NAME = "zvt_ccxt.json"
#: the environment variable naming a cassette to replay process-wide (notebooks, the CLI's ``--replay``)
REPLAY_ENV = "ZVT_CCXT_REPLAY"
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
