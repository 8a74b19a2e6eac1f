"""Canary credentials sent through every path, then hunted for everywhere they could leak.

The canaries sit in the environment the way real credentials would. Public recording must sign nothing;
a client asked for private use must sign with them (so the canary really travels); and afterwards no log
line (DEBUG included), printed output, repr, error, cassette, exported file or database under ``ZVT_HOME``
may hold any of them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from zvt_ccxt.config import zvt_home
from zvt_ccxt.exchange.client import client_hook

CANARY_KEY = "canaryKEY-5f1e2d3c4b5a6978"
CANARY_SECRET = "canarySECRET-0a1b2c3d4e5f6071"
CANARY_PASSWORD = "canaryPASS-9e8d7c6b5a4f"
#: request headers that carry a key or a signature on the four exchanges
AUTH_HEADERS = frozenset(
    {
        "x-mbx-apikey",
        "ok-access-key",
        "ok-access-sign",
        "ok-access-passphrase",
        "x-bapi-api-key",
        "x-bapi-sign",
        "authorization",
        "cb-access-key",
        "cb-access-sign",
    }
)


def _ec_private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def canary_environment(exchanges: Iterable[str]) -> dict[str, str]:
    """Environment variables holding canary credentials for ``exchanges`` (coinbase signs with an EC key)."""
    values: dict[str, str] = {}
    for exchange in exchanges:
        prefix = f"ZVT_CCXT_{exchange.upper()}_"
        if exchange == "coinbase":
            values[prefix + "API_KEY"] = f"organizations/{CANARY_KEY}/apiKeys/k"
            values[prefix + "SECRET"] = _ec_private_key_pem()
        else:
            values[prefix + "API_KEY"] = CANARY_KEY
            values[prefix + "SECRET"] = CANARY_SECRET
            values[prefix + "PASSWORD"] = CANARY_PASSWORD
    return values


def canaries(environment: Mapping[str, str]) -> list[str]:
    """The strings that must never show: every credential value, and each line of a PEM key's body."""
    found = {CANARY_KEY, CANARY_SECRET, CANARY_PASSWORD}
    for value in environment.values():
        found.add(value)
        found.update(line for line in value.splitlines() if len(line) >= 16 and not line.startswith("-----"))
    return sorted(found)


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class SentRequest:
    method: str
    url: str
    auth_headers: tuple[str, ...]

    @property
    def signed(self) -> bool:
        return bool(self.auth_headers) or "signature=" in self.url


@contextlib.contextmanager
def outgoing_requests() -> Iterator[list[SentRequest]]:
    """Every HTTP request the ccxt clients built inside the block send, with the auth headers it carried."""
    sent: list[SentRequest] = []

    def seen(response, *args, **kwargs):
        request = response.request
        names = tuple(sorted(k.lower() for k in request.headers if k.lower() in AUTH_HEADERS))
        sent.append(SentRequest(request.method, request.url, names))

    def hook(exchange) -> None:
        exchange.session.hooks["response"].append(seen)

    with client_hook(hook):
        yield sent


@contextlib.contextmanager
def captured_output() -> Iterator[dict[str, io.StringIO]]:
    """Everything logged (DEBUG and up, any logger) and printed inside the block."""
    sinks = {"log": io.StringIO(), "stdout": io.StringIO(), "stderr": io.StringIO()}
    handler = logging.StreamHandler(sinks["log"])
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    touched = [root, logging.getLogger("ccxt"), logging.getLogger("zvt_ccxt")]
    levels = [logger.level for logger in touched]
    root.addHandler(handler)
    for logger in touched:
        logger.setLevel(logging.DEBUG)
    try:
        with contextlib.redirect_stdout(sinks["stdout"]), contextlib.redirect_stderr(sinks["stderr"]):
            yield sinks
    finally:
        root.removeHandler(handler)
        for logger, level in zip(touched, levels, strict=True):
            logger.setLevel(level)


def find_leaks(secrets: Iterable[str], texts: Mapping[str, str], paths: Iterable[Path]) -> list[str]:
    """Where any of ``secrets`` appears: in the named ``texts`` or in the files under ``paths``."""
    secrets = [s for s in secrets if s]
    leaks = [f"{name}: {secret[:12]}..." for name, text in texts.items() for secret in secrets if secret in text]
    for root in paths:
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            leaks += [f"{path}: {secret[:12]}..." for secret in secrets if secret.encode() in data]
    return leaks


@dataclass
class CanaryOutcome:
    """Where the canaries went and whether any got out."""

    planted: int = 0
    paths: list[str] = field(default_factory=list)
    public_requests: int = 0
    signed_public_requests: int = 0
    private_requests: int = 0
    signed_private_requests: int = 0
    texts_scanned: int = 0
    files_scanned: int = 0
    leaks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.leaks and not self.problems and self.signed_public_requests == 0


def run_canary(simulator, workdir: Path, exchanges: Iterable[str] = ("binance", "okx", "bybit", "coinbase")):
    """Record publicly, fail, call private endpoints, record a cassette and export, all with canary credentials
    in the environment; then scan everything. ``simulator`` must be serving with the clients pointed at it."""
    from zvt_ccxt import coverage_report, repair
    from zvt_ccxt.domain import CryptoPair, kdata_schema
    from zvt_ccxt.exchange.client import get_client
    from zvt_ccxt.replay.cassettes import recording
    from zvt_ccxt_testkit.reliability.faults import START_MS, record, window_needle
    from zvt_ccxt_testkit.simulator import real_url, repoint

    exchanges = list(exchanges)
    outcome = CanaryOutcome()
    started = time.perf_counter()
    values = canary_environment(exchanges)
    secrets = canaries(values)
    outcome.planted = len(secrets)
    texts: dict[str, str] = {}
    schema = kdata_schema("cryptopair", "1h")
    workdir.mkdir(parents=True, exist_ok=True)
    with environment(values), captured_output() as output:
        with outgoing_requests() as sent:
            for exchange in exchanges:
                texts[f"{exchange} markets summary"] = str(CryptoPair.record_data(provider="ccxt", exchange=exchange))
                simulator.inject(exchange, window_needle(exchange, START_MS), 500, "<html>down</html>", times=None)
                failed = record(schema, exchange, start_timestamp=START_MS)
                simulator.clear_faults()
                repaired = repair(schema, exchange=exchange)
                texts[f"{exchange} failed run"] = f"{failed}\n{failed.to_frame().to_csv()}"
                texts[f"{exchange} repair"] = f"{repaired!r}\n{coverage_report(schema, exchange=exchange).to_csv()}"
            outcome.paths.append("public recorders, a failing run, repair, coverage report")
            public = list(sent)
            for exchange in exchanges:
                client = get_client(exchange, private=True)
                texts[f"{exchange} client repr"] = f"{client!r} {client.config!r} {client.config}"
                try:
                    client.call("fetch_balance")
                except Exception as error:  # the simulator serves no private endpoint: the error is the point
                    texts[f"{exchange} private error"] = f"{error}\n{error!r}\n{error.__cause__!r}"
            outcome.paths.append("private calls with their errors and reprs")
            private = sent[len(public) :]
        cassette = workdir / "canary-cassette.json"
        with recording(
            cassette,
            source="simulator",
            command="reliability canary",
            recorded_at_ms=simulator.now_ms,
            rewrite_url=real_url,
            hook=lambda client: repoint(client, simulator.base_url),
        ):
            for exchange in exchanges:
                with contextlib.suppress(Exception):
                    get_client(exchange, private=True).call("fetch_balance")
            record(schema, exchanges[0])
        outcome.paths.append("a recorded cassette")
        exported = _export(workdir, exchanges[0])
        if exported is not None:
            outcome.paths.append("a CLI export")
    texts.update({name: sink.getvalue() for name, sink in output.items()})
    outcome.paths.append("logs at DEBUG, stdout, stderr, the databases and files under ZVT_HOME")
    outcome.public_requests = len(public)
    outcome.signed_public_requests = sum(1 for r in public if r.signed)
    outcome.private_requests = len(private)
    outcome.signed_private_requests = sum(1 for r in private if r.signed)
    if outcome.signed_private_requests == 0:
        outcome.problems.append("no private request was signed: the canaries never travelled")
    if not texts.get("log"):
        outcome.problems.append("nothing was logged: the DEBUG capture did not work")
    files = [zvt_home(), workdir]
    outcome.texts_scanned = len(texts)
    outcome.files_scanned = sum(1 for root in files for p in root.rglob("*") if p.is_file())
    outcome.leaks = find_leaks(secrets, texts, files)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _export(workdir: Path, exchange: str) -> Path | None:
    try:
        from zvt_ccxt.cli import main
    except ImportError:  # the command line is optional for this check
        return None
    path = workdir / "export.csv"
    status = main(["export", "--exchange", exchange, "--level", "1h", "--out", str(path)])
    return path if status == 0 and path.exists() else None
