"""What a worker process sets up before its first job: the shared budgets of its egress address, and the address.

A worker's egress is ``ZVT_CCXT_EGRESS`` in its environment (``dask worker ...`` started with it set): a local
source address to bind every exchange connection to (``127.0.0.2``, an address of one of the machine's network
interfaces), or a proxy URL (``http://10.0.0.5:3128``, ``socks5://...``). Unset, the worker uses the machine's
default route, and its budget is that of ``DEFAULT_EGRESS`` in the shared store: give each machine its own
egress name (its public address) when several machines record without binding, so their budgets stay apart.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

from distributed import WorkerPlugin
from requests.adapters import HTTPAdapter

from zvt_ccxt.cluster.budget import DEFAULT_EGRESS, budgets_for

EGRESS_VARIABLE = "ZVT_CCXT_EGRESS"
#: proxy URL schemes and the ccxt attribute each goes to
_PROXY_ATTRIBUTES = {"http": "httpProxy", "https": "httpsProxy", "socks5": "socksProxy", "socks5h": "socksProxy"}

_configured: str | None = None
_lock = threading.Lock()
_hooks = contextlib.ExitStack()


def egress_of_environment() -> str:
    return os.environ.get(EGRESS_VARIABLE, "").strip() or DEFAULT_EGRESS


def configure(egress: str | None = None) -> str:
    """Make this process spend the shared budgets of ``egress`` (default: as configured before, else
    ``ZVT_CCXT_EGRESS``) and, when it names an address or proxy, send every exchange request through it.
    Idempotent; returns the egress."""
    global _configured
    egress = egress or _configured or egress_of_environment()
    with _lock:
        if _configured == egress:
            return egress
        _import_store()
        from zvt_ccxt.exchange import limiter
        from zvt_ccxt.exchange.client import client_hook

        _hooks.close()
        if egress != DEFAULT_EGRESS:
            _hooks.enter_context(client_hook(egress_hook(egress)))
        limiter.use_budgets(budgets_for(egress))
        _configured = egress
    return egress


@contextlib.contextmanager
def spending_shared_budget(egress: str | None = None):
    """Within the block this process (the driver, planning) spends the shared budgets too, then its own again."""
    from zvt_ccxt.exchange import limiter

    if _configured is not None:  # a worker's process: it spends them anyway
        yield
        return
    _import_store()
    limiter.use_budgets(budgets_for(egress or egress_of_environment()))
    try:
        yield
    finally:
        limiter.use_budgets(None)


def _import_store() -> None:
    """Import zvt and the schemas (the budget's too) as one of several processes sharing the store."""
    from zvt_ccxt._zvt import home_lock
    from zvt_ccxt.store.processes import keeping_journal_mode
    from zvt_ccxt.store.registration import reading_one_table

    with keeping_journal_mode(), home_lock(), reading_one_table():
        import zvt_ccxt.domain  # noqa: F401
        import zvt_ccxt.domain.budget  # noqa: F401


def egress_hook(egress: str) -> Callable[[Any], None]:
    """A client hook sending a ccxt client's requests from local address ``egress`` or through proxy ``egress``."""
    scheme = egress.split("://", 1)[0].lower() if "://" in egress else None
    if scheme is not None and scheme not in _PROXY_ATTRIBUTES:
        raise ValueError(f"egress {egress!r}: a proxy URL must start with {', '.join(_PROXY_ATTRIBUTES)}://")

    def hook(exchange: Any) -> None:
        if scheme is not None:
            setattr(exchange, _PROXY_ATTRIBUTES[scheme], egress)
            return
        adapter = _SourceAddressAdapter(egress)
        exchange.session.mount("http://", adapter)
        exchange.session.mount("https://", adapter)

    return hook


class _SourceAddressAdapter(HTTPAdapter):
    """Connections opened from one local address (the kernel picks the port)."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.source_address = (address, 0)
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = self.source_address
        super().init_poolmanager(*args, **kwargs)


class WorkerSetup(WorkerPlugin):
    """Runs ``setup()`` (a picklable callable) in every worker, including workers that join or restart later:
    what a job needs in its process beyond the package (test doubles, a frozen clock, logging)."""

    def __init__(self, setup: Callable[[], object], name: str = "zvt-ccxt-setup") -> None:
        self._setup = setup
        self.name = name

    def setup(self, worker: Any) -> None:
        _import_store()  # first, as one of the processes sharing the store, whatever the set-up imports
        self._setup()
