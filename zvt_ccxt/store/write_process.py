"""A stream's writes in a forked process of their own, awaited from the event loop.

In the process that reads the sockets, a write thread and the event loop share one GIL: every time SQLite or
psycopg hands it back (each row stepped, each commit), the write waits for the loop to let go, and the loop waits
for the write. At a few thousand messages a second that made a row's commit wait tens of milliseconds in the
tail for a write that needs two or three of CPU. Forked, the writes have an interpreter (and a core) of their
own; what crosses is a pickled batch of plain row tuples and a one-line answer.

The process runs one request at a time: ``upsert_many`` rows (``store.writer``) or save ledger windows
(``store.coverage.save_many``). Names, not functions, cross the pipe; ``operation`` looks a name up when its write
runs, in the child or in the thread of a writer without a process. A write that fails raises in the caller as
it would have in a thread (a ``StorageError`` stays one); a process that died (killed, out of memory) fails its
request with a ``StorageError``, and the next request forks a new one, so the caller's retry goes on. The child
ignores SIGINT and SIGTERM: the stream they stop still sends its final flush, and the child ends when its pipe
closes (``close()``, or the parent's exit).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from zvt_ccxt.errors import StorageError

#: what the child runs, by name: (module, function), looked up at each request
OPERATIONS = {
    "upsert_many": ("zvt_ccxt.store.writer", "upsert_many"),
    "save_ledger": ("zvt_ccxt.store.coverage", "save_many"),
}


def operation(name: str) -> Callable[..., Any]:
    """The function of the write named ``name``, looked up now (in whichever process or thread runs it)."""
    import importlib

    if name not in OPERATIONS:
        raise ValueError(f"no store operation named {name!r}; the write process runs {', '.join(OPERATIONS)}")
    module, function = OPERATIONS[name]
    return getattr(importlib.import_module(module), function)


class WriteProcess:
    """Runs store writes in a forked child, one at a time; ``await run(name, *args)`` returns the write's result."""

    def __init__(self) -> None:
        self._process: Any = None  # multiprocessing's forked Process
        self._connection: Connection | None = None
        self._busy = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Fork the child now, if it is not running, rather than at the first write: forking a process of a few
        hundred MB and the copy-on-write faults after it would otherwise delay the first rows."""
        if self._connection is None:
            self._start()

    async def run(self, name: str, *args: Any) -> Any:
        operation(name)  # an unknown name is refused here, before anything crosses
        async with self._busy:
            connection = self._connection if self._connection is not None else self._start()
            try:
                connection.send((name, args))
                ok, value = await _answer(connection)
            except (EOFError, OSError) as error:
                exit_code = self._discard()
                raise StorageError(f"the stream's write process exited (code {exit_code}) during a write") from error
        if ok:
            return value
        raise value

    def close(self) -> None:
        """End the child once it has finished what it is doing (its pipe closes; it exits at the end of it)."""
        process = self._process
        self._discard(wait=True)
        if process is not None and process.is_alive():  # pragma: no cover - the child exits on EOF
            process.kill()

    def _start(self) -> Connection:
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(target=_serve, args=(theirs, ours), daemon=True, name="zvt-ccxt-writes")
        process.start()
        theirs.close()
        self._process, self._connection = process, ours
        return ours

    def _discard(self, wait: bool = False) -> int | None:
        """Forget the child (the next request forks a new one); its exit code when it has exited."""
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            connection.close()
        if process is None:
            return None
        process.join(timeout=10 if wait else 1)
        return process.exitcode


async def _answer(connection: Connection) -> tuple[bool, Any]:
    """The child's answer, received when the pipe is readable: the loop goes on meanwhile."""
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    descriptor = connection.fileno()

    def wake() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(descriptor, wake)
    try:
        await readable
    finally:
        loop.remove_reader(descriptor)
        # a loop may leave a descriptor it watched non-blocking (uvloop's does); the pipe's reads and writes are
        # blocking ones: a batch larger than the pipe's buffer would fail half-sent, and end the child
        os.set_blocking(descriptor, True)
    return connection.recv()


def _serve(connection: Connection, parents_end: Connection) -> None:  # pragma: no cover - runs in the child
    """The child: run each request and answer it, until the pipe closes."""
    parents_end.close()
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)  # the parent's event loop reads that descriptor: a signal here is not its signal
    from zvt_ccxt.store import processes

    processes.forget_inherited_connections()
    while True:
        try:
            name, args = connection.recv()
        except (EOFError, OSError):
            return
        try:
            connection.send(_perform(name, args))
        except (BrokenPipeError, OSError):  # the parent let go of the pipe meanwhile: nobody is waiting
            return


def _perform(name: str, args: Sequence[Any]) -> tuple[bool, Any]:
    try:
        return True, operation(name)(*args)
    except Exception as error:  # noqa: BLE001 - the caller raises it, as it would have from a thread
        return False, _portable(error)


def _portable(error: Exception) -> Exception:
    """``error`` if it survives a pickle round trip, else a RuntimeError naming it."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(f"{type(error).__name__}: {error}")
