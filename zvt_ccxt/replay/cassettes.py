"""Recording and replaying cassettes: one vcrpy configuration, secrets filtered, provenance kept inside.

Each cassette stores, under the metadata key ``zvt_ccxt``, how it was made (``source``: ``live`` or
``simulator``, the command, the ccxt version) and ``recorded_at_ms``, the instant the package clock
was frozen at while recording; replays freeze it at the same instant so pagination asks the same
questions.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import ccxt
import vcr

from zvt_ccxt import clock, provenance
from zvt_ccxt.config import CREDENTIAL_KEYS, REPLAY_ENV
from zvt_ccxt.exchange.client import client_hook

METADATA_KEY = "zvt_ccxt"

#: Headers and query parameters that carry credentials or signatures on the four main exchanges.
SECRET_HEADERS = (
    "authorization",
    "cookie",
    "x-mbx-apikey",
    "ok-access-key",
    "ok-access-sign",
    "ok-access-passphrase",
    "ok-access-timestamp",
    "x-bapi-api-key",
    "x-bapi-sign",
    "x-bapi-timestamp",
    "x-bapi-recv-window",
    "cb-access-key",
    "cb-access-sign",
    "cb-access-passphrase",
    "cb-access-timestamp",
)
SECRET_QUERY = ("signature", "timestamp", "recvWindow", "apiKey", "api_key", "sign")
_RESPONSE_HEADERS_DROPPED = ("set-cookie", "cf-ray", "x-amz-cf-id")


class CassetteError(ValueError):
    """A cassette is missing, unreadable, or lacks its provenance."""


@dataclass(frozen=True)
class CassetteInfo:
    """Provenance stored in a cassette."""

    path: Path
    source: str
    recorded_at_ms: int
    command: str
    ccxt_version: str
    notes: str = ""


def bundled_dir() -> Path:
    """The cassettes shipped inside the package (``zvt_ccxt/cassettes``), in a checkout and an installed wheel alike."""
    return Path(str(resources.files("zvt_ccxt") / "cassettes"))


def bundled_names() -> list[str]:
    folder = bundled_dir()
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def locate(cassette: str | os.PathLike) -> Path:
    """``cassette`` as an existing file: a path, or the name of a bundled cassette (``okx-backfill``)."""
    path = Path(cassette).expanduser()
    if path.is_file():
        return path
    name = str(cassette)
    if path.name == name:  # a bare name, never a path that could lead out of the bundled folder
        for candidate in (bundled_dir() / name, bundled_dir() / f"{name}.json"):
            if candidate.is_file():
                return candidate
    bundled = bundled_names()
    raise CassetteError(f"no cassette {name!r}" + (f"; bundled: {', '.join(bundled)}" if bundled else ""))


def cassette_info(path: str | os.PathLike) -> CassetteInfo:
    """Read a cassette's provenance without replaying it (``path``: a file, or a bundled cassette's name)."""
    path = locate(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CassetteError(f"cannot read cassette {path}: {error}") from None
    meta = (data.get("metadata") or {}).get(METADATA_KEY)
    if not isinstance(meta, Mapping) or "recorded_at_ms" not in meta:
        raise CassetteError(f"cassette {path} does not say how it was made (metadata.{METADATA_KEY} missing)")
    return CassetteInfo(
        path=path,
        source=str(meta.get("source", "")),
        recorded_at_ms=int(meta["recorded_at_ms"]),
        command=str(meta.get("command", "")),
        ccxt_version=str(meta.get("ccxt_version", "")),
        notes=str(meta.get("notes", "")),
    )


def _display_name(path: str | os.PathLike) -> str:
    """A bundled cassette by its name (``okx-backfill``), any other by its path."""
    path = Path(path)
    return path.stem if path.parent == bundled_dir() else str(path)


_MISS_HEADLINE = re.compile(r"Can't play back this request: (?P<problem>[^\n]*)")
_MISS_REQUEST = re.compile(r"^ {2}(?P<method>[A-Z]+) (?P<uri>\S+)$", re.MULTILINE)
_MISS_CASSETTE = re.compile(r"^Cassette: (?P<path>.+)$", re.MULTILINE)


def describe_miss(error: BaseException | str) -> str | None:
    """One line for vcrpy's many-line "Can't play back this request" failure, from the exception or its text:
    ``cassette okx-backfill has no answer for GET https://...``. None when ``error`` is something else."""
    request = getattr(error, "failed_request", None)
    cassette = getattr(error, "cassette", None)
    if request is not None and cassette is not None:
        method, uri, path = request.method, request.uri, getattr(cassette, "_path", "?")
        reason = getattr(error, "reason", "")
        problem = {"already_played": "already played", "cassette_not_found": "couldn't be loaded"}.get(reason, "")
    else:
        text = str(error)
        headline, asked, where = _MISS_HEADLINE.search(text), _MISS_REQUEST.search(text), _MISS_CASSETTE.search(text)
        if headline is None or asked is None:
            return None
        method, uri, path = asked["method"], asked["uri"], where["path"].strip() if where else "?"
        problem = headline["problem"]
    name = _display_name(path)
    if "already played" in problem or "been played back" in problem:
        return f"cassette {name} has no answer left for {method} {uri} (it was played already)"
    if "couldn't be loaded" in problem or "doesn't exist" in problem:
        return f"cassette {name} could not be loaded, so it has no answer for {method} {uri}"
    return f"cassette {name} has no answer for {method} {uri}"


def _drop_response_headers(response: dict) -> dict:
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() in _RESPONSE_HEADERS_DROPPED:
            del headers[name]
    return response


def _secret_values() -> list[tuple[str, str]]:
    """Every credential visible in the environment, so it is masked wherever it appears in a cassette."""
    values = []
    for name, value in os.environ.items():
        upper = name.upper()
        if (
            value
            and len(value) >= 6
            and ("API_KEY" in upper or "SECRET" in upper or "PASSWORD" in upper or "PASSPHRASE" in upper)
        ):
            values.append((f"<{name}>", value))
    return values


def _vcr(record_mode: str, before_record_request: Callable | None = None) -> vcr.VCR:
    return vcr.VCR(
        serializer="json",
        record_mode=record_mode,
        match_on=("method", "scheme", "host", "port", "path", "query"),
        filter_headers=[(h, "<filtered>") for h in SECRET_HEADERS],
        filter_query_parameters=[(q, "<filtered>") for q in SECRET_QUERY],
        filter_sensitive_data=_secret_values(),
        before_record_request=before_record_request,
        before_record_response=_drop_response_headers,
        decode_compressed_response=True,
    )


def _offline_client(exchange: ccxt.Exchange) -> None:
    # Nothing to throttle against, and the frozen clock would make the limiter sleep before every request.
    exchange.enableRateLimit = False
    for key in CREDENTIAL_KEYS:
        if getattr(exchange, key, None):
            setattr(exchange, key, "")


@contextlib.contextmanager
def replay(path: str | os.PathLike) -> Iterator[CassetteInfo]:
    """Serve all REST traffic from the cassette at ``path`` (or the bundled one of that name, ``okx-backfill``)
    with the clock frozen at its recording instant."""
    info = cassette_info(path)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(_vcr("none").use_cassette(str(info.path), allow_playback_repeats=True))
        except (TypeError, KeyError, ValueError, AttributeError, IndexError) as error:  # how vcrpy meets bad JSON
            raise CassetteError(
                f"cassette {info.path} is malformed ({type(error).__name__}: {str(error).strip()})"
            ) from None
        stack.enter_context(clock.frozen(info.recorded_at_ms))
        stack.enter_context(client_hook(_offline_client))
        stack.enter_context(provenance.sourced(provenance.REPLAY))
        yield info


@contextlib.contextmanager
def recording(
    path: str | os.PathLike,
    *,
    source: str,
    command: str,
    recorded_at_ms: int,
    notes: str = "",
    rewrite_url: Callable[[str], str] | None = None,
    hook: Callable[[ccxt.Exchange], None] | None = None,
) -> Iterator[Any]:
    """Record every REST request made inside the block into a new cassette at ``path``.

    ``rewrite_url`` maps the URL actually requested to the one stored (a local simulator's URL back to the
    exchange's real one); ``hook`` adjusts each ccxt client built inside the block (e.g. re-pointing it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()

    def before_record_request(request):
        if rewrite_url is not None:
            request.uri = rewrite_url(request.uri)
        return request

    hooks = hook or (lambda exchange: None)
    with (
        _vcr("all", before_record_request).use_cassette(str(path)) as cassette,
        clock.frozen(recorded_at_ms),
        client_hook(hooks),
    ):
        cassette.get_metadata(
            METADATA_KEY,
            {
                "source": source,
                "command": command,
                "recorded_at_ms": int(recorded_at_ms),
                "ccxt_version": ccxt.__version__,
                "notes": notes,
            },
        )
        yield cassette


_environment_replay: contextlib.ExitStack | None = None


def activate_from_environment() -> CassetteInfo | None:
    """Start a process-wide replay when ``ZVT_CCXT_REPLAY`` names a cassette (used by notebooks and the CLI)."""
    global _environment_replay
    path = os.environ.get(REPLAY_ENV)
    if not path or _environment_replay is not None:
        return None
    stack = contextlib.ExitStack()
    info = stack.enter_context(replay(path))
    _environment_replay = stack
    return info
