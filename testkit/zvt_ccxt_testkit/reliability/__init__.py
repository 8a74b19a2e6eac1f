"""Reliability checks: faults injected into a local exchange, crashes, storage failures, hostile input, leaked secrets.

The fast versions run in ``tests/reliability``; ``python tools/reliability.py`` runs the long ones and writes
``RELIABILITY.md``. Everything talks to the local simulator (``zvt_ccxt_testkit.simulator``), never to a real host.
"""
