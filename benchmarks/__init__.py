"""Benchmarks of zvt-ccxt against its baselines and the machine's limits: ``python -m benchmarks`` (see README.md).

Not part of the test suite: figures are reported, never asserted.
"""
