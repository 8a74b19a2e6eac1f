"""All of zvt-ccxt's SQL: the rows of its tables, the reads and writes the rest of the package calls by name
with plain values, the coverage ledger, and the one seam that holds what differs per database.

- ``rows``: column lists, the stored time text, ccxt structures as rows (one mapping for REST and streams);
- ``writer``: ``upsert`` (rows), ``upsert_frame``, ``prepare_bars`` (columnar bars), one transaction a call;
- ``behind``: the recorder's write-behind thread;
- ``reads``: named reads of bars, trades, funding events and whole tables;
- ``entities``: the entity tables; ``coverage``: the ledger of requested windows;
- ``engines``: each schema's engine (zvt's), tuned by its dialect;
- ``dialect``: per-database settings, locking and bulk writes (SQLite today; ``sqlite_records`` is SQLite's
  bar path).
"""

from zvt_ccxt.store import behind, coverage, entities, reads, rows, writer

__all__ = ["behind", "coverage", "entities", "reads", "rows", "writer"]
