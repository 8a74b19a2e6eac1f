"""A throwaway PostgreSQL server for tests: the machine's own server binaries, a temporary directory, a free port.

``throwaway_postgres()`` runs ``initdb`` into a new temporary directory, starts the server listening on 127.0.0.1
only (its unix socket inside that directory), creates one database and yields a :class:`ThrowawayPostgres` whose
``url`` is ``postgresql://postgres@127.0.0.1:PORT/zvt_ccxt_test``. On leaving the block, however it is left (an
exception, ``KeyboardInterrupt``), the server is stopped and the directory removed.

PostgreSQL refuses to run as root: under root, every server command runs as the ``postgres`` system user (the one
the distribution's server package creates) and the directory is handed to that user.

The server is tuned for tests: no fsync and no full-page writes, so it keeps what it committed through a crash
of its own processes but not through one of the machine. Its
default session time zone is deliberately *not* UTC (``Asia/Shanghai``), so code that relies on the server's
default instead of setting its session to UTC shows the shifted timestamps under test rather than passing by
luck of the machine's zone. Authentication is ``trust`` on loopback: anyone on this machine may connect while it
runs, which is fine for data that lives minutes.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: the server programs needed, all from one installation
TOOLS = ("initdb", "pg_ctl", "postgres", "createdb")
#: where Debian and Ubuntu install them (not on PATH), one directory per major version
DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"
#: the system user that runs the server when this process is root
SYSTEM_USER = "postgres"
DEFAULT_DATABASE = "zvt_ccxt_test"
DEFAULT_USER = "postgres"
#: the server's default session time zone: not UTC on purpose (see the module docstring)
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: no flushing to disk: a test server's data is thrown away anyway. Commits still reach the kernel before they
#: return (synchronous_commit stays on), so a killed or restarted server keeps every committed row, as a real one
#: does: fault tests can count on it.
FAST_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "log_timezone": "UTC",
}
START_TIMEOUT_S = 60
_START_ATTEMPTS = 3  # another process may take the free port between choosing and binding it
_LOG_TAIL_LINES = 3
_PORT_TAKEN = re.compile(r"could not (bind|create listen socket)|address already in use", re.IGNORECASE)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine, or no way to run them (root without a ``postgres`` user)."""


class PostgresStartError(RuntimeError):
    """``initdb``, the server or ``createdb`` failed; the message ends with the tail of its output or log."""


@dataclass(frozen=True)
class PostgresBinaries:
    """The directory holding one installation's ``initdb``, ``pg_ctl``, ``postgres`` and ``createdb``."""

    directory: Path

    def tool(self, name: str) -> str:
        return str(self.directory / name)

    @property
    def version(self) -> str:
        """``postgres --version``'s version, e.g. ``15.18``."""
        output = subprocess.run([self.tool("postgres"), "--version"], capture_output=True, text=True, timeout=30)
        found = re.search(r"(\d+(?:\.\d+)+)", output.stdout)
        return found.group(1) if found else output.stdout.strip()


def _has_tools(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) and (directory / name).is_file() for name in TOOLS)


def _major_version(directory: Path) -> tuple[int, ...]:
    digits = re.findall(r"\d+", directory.parent.name)
    return tuple(int(part) for part in digits)


def find_binaries(search_path: str | None = None, bin_dirs: str = DEBIAN_BIN_DIRS) -> PostgresBinaries:
    """The server binaries: the directory of ``initdb`` on ``search_path`` (default ``$PATH``), or that symlink's
    target directory, else the newest ``bin_dirs`` match holding all of :data:`TOOLS`."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb", path=search_path)
    if on_path:
        candidates += [Path(on_path).parent, Path(on_path).resolve().parent]
    candidates += sorted((Path(found) for found in glob.glob(bin_dirs)), key=_major_version, reverse=True)
    for directory in candidates:
        if _has_tools(directory):
            return PostgresBinaries(directory)
    raise PostgresUnavailable(
        f"no PostgreSQL server binaries ({', '.join(TOOLS)}) on PATH or in {bin_dirs}: "
        "install the server package (Debian/Ubuntu: apt-get install postgresql)"
    )


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ThrowawayPostgres:
    """A running throwaway server. ``url`` is what a client connects to; ``stop()``/``start()``/``restart()``
    let fault tests take the server away and bring it back on the same port with the same data."""

    binaries: PostgresBinaries
    directory: Path
    port: int
    user: str = DEFAULT_USER
    database: str = DEFAULT_DATABASE
    host: str = "127.0.0.1"
    run_as: str | None = None
    _process_env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while the server runs, else None."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
        except (OSError, IndexError):
            return None
        return int(first) if first.strip().isdigit() else None

    def _run(self, args: Sequence[str], *, timeout: float, new_session: bool = False) -> subprocess.CompletedProcess:
        user_options = {"user": self.run_as, "group": pwd.getpwnam(self.run_as).pw_gid, "extra_groups": []}
        try:
            return subprocess.run(
                list(args),
                cwd=self.directory,  # the server's user may not be able to enter the caller's directory
                env=self._process_env,
                capture_output=True,
                text=True,
                timeout=timeout,
                start_new_session=new_session,
                **(user_options if self.run_as else {}),
            )
        except subprocess.TimeoutExpired:
            raise PostgresStartError(f"{Path(args[0]).name} {args[1]} did not finish within {timeout:g} s") from None

    def initdb(self, locale: str) -> None:
        result = self._run(
            [
                self.binaries.tool("initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                self.user,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                locale,
                "--no-sync",
                "--no-instructions",
            ],
            timeout=120,
        )
        if result.returncode != 0:
            raise PostgresStartError(
                f"initdb failed (exit {result.returncode}): {_tail(result.stderr or result.stdout)}"
            )

    def configure(self, settings: Mapping[str, str]) -> None:
        """Append ``settings`` to postgresql.conf (a later line wins over initdb's)."""
        lines = [f"{name} = '{str(value).replace(chr(39), chr(39) * 2)}'" for name, value in settings.items()]
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# throwaway test server\n" + "\n".join(lines) + "\n")

    def start(self) -> None:
        """Start the server on ``port`` and wait until it accepts connections."""
        log_seen = self._log_size()
        # A session of its own: a Ctrl-C at the terminal reaches this process, whose clean-up then stops the
        # server in order, instead of reaching the server too. And Ctrl-C waits until pg_ctl is done: interrupted
        # earlier, the server could still be starting, without the pid file the clean-up goes by.
        with _sigint_deferred():
            result = self._run(
                [
                    self.binaries.tool("pg_ctl"),
                    "start",
                    "--pgdata",
                    str(self.data_dir),
                    "--log",
                    str(self.log_path),
                    "--wait",
                    "--timeout",
                    str(START_TIMEOUT_S),
                    "-o",
                    f"-p {self.port}",
                ],
                timeout=START_TIMEOUT_S + 30,
                new_session=True,
            )
        if result.returncode != 0:
            raise PostgresStartError(
                f"the PostgreSQL server did not start on {self.host}:{self.port}: {_tail(self.log_since(log_seen))}"
            )

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server: ``immediate`` (default) ends it at once, like a crash (the next start recovers from
        its log); ``fast`` ends the sessions and shuts down cleanly. Kills it if pg_ctl cannot."""
        if mode not in ("immediate", "fast", "smart"):
            raise ValueError(f"pg_ctl stop mode must be immediate, fast or smart, not {mode!r}")
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(PostgresStartError):  # a stuck pg_ctl: the kill below ends the server
            self._run(
                [self.binaries.tool("pg_ctl"), "stop", "--pgdata", str(self.data_dir), "--mode", mode, "--wait"],
                timeout=60,
            )
        if _running(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, timeout=10)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def restart(self, mode: str = "fast") -> None:
        """Stop (``mode`` as for :meth:`stop`) and start again on the same port: open connections break, committed
        data stays."""
        self.stop(mode)
        self.start()

    def create_database(self) -> None:
        result = self._run(
            [
                self.binaries.tool("createdb"),
                "--host",
                str(self.directory),
                "--port",
                str(self.port),
                "--username",
                self.user,
                self.database,
            ],
            timeout=60,
        )
        if result.returncode != 0:
            raise PostgresStartError(f"createdb {self.database} failed: {_tail(result.stderr or result.stdout)}")

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int = 0) -> str:
        """The server log from byte ``offset`` on."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process; an exited one waiting to be reaped (a zombie) is not: the server was
    handed to init by pg_ctl, and some inits reap late."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)
    return state not in ("Z", "X")


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _server_user() -> str | None:
    """The system user to run the server as: ``postgres`` under root, else this process's own user (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and PostgreSQL refuses root: create a {SYSTEM_USER!r} system user "
            "(the server package does) or run the tests as a normal user"
        ) from None
    return SYSTEM_USER


def _clean_environment() -> dict[str, str]:
    """This process's environment without libpq's PG* variables, which would point the tools elsewhere."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PG")}


@contextlib.contextmanager
def throwaway_postgres(
    *,
    database: str = DEFAULT_DATABASE,
    user: str = DEFAULT_USER,
    timezone: str = DEFAULT_TIMEZONE,
    settings: Mapping[str, str] | None = None,
    locale: str = "C",
    binaries: PostgresBinaries | None = None,
) -> Iterator[ThrowawayPostgres]:
    """A fresh PostgreSQL server for the block; ``settings`` add to or override :data:`FAST_SETTINGS`
    (e.g. ``{"fsync": "on"}`` for a benchmark, ``{"max_connections": "200"}``)."""
    binaries = binaries or find_binaries()
    run_as = _server_user()
    directory = Path(tempfile.mkdtemp(prefix="zvt-ccxt-pg-"))
    server: ThrowawayPostgres | None = None
    try:
        if run_as:
            account = pwd.getpwnam(run_as)
            os.chown(directory, account.pw_uid, account.pw_gid)
        server = ThrowawayPostgres(
            binaries=binaries,
            directory=directory,
            port=0,
            user=user,
            database=database,
            run_as=run_as,
            _process_env=_clean_environment(),
        )
        server.initdb(locale)
        server.configure(
            {
                "listen_addresses": "127.0.0.1",
                "unix_socket_directories": str(directory),
                "timezone": timezone,
                **FAST_SETTINGS,
                **(settings or {}),
            }
        )
        _start_on_a_free_port(server)
        server.create_database()
        yield server
    finally:
        # the clean-up must finish even when a second Ctrl-C arrives while it runs
        with _sigint_deferred():
            try:
                if server is not None:
                    server.stop()
            finally:
                shutil.rmtree(directory, ignore_errors=True)


def _start_on_a_free_port(server: ThrowawayPostgres) -> None:
    for attempt in range(_START_ATTEMPTS):
        server.port = _free_port()
        log_seen = server._log_size()
        try:
            server.start()
            return
        except PostgresStartError:
            if attempt + 1 == _START_ATTEMPTS or not _PORT_TAKEN.search(server.log_since(log_seen)):
                raise


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold SIGINT back during the block and deliver it afterwards (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received and callable(previous):
        previous(signal.SIGINT, None)


__all__ = [
    "FAST_SETTINGS",
    "PostgresBinaries",
    "PostgresStartError",
    "PostgresUnavailable",
    "ThrowawayPostgres",
    "find_binaries",
    "throwaway_postgres",
]
