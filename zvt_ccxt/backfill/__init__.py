"""Shared machinery under the recorders: paging through history, candle validation, coverage, summaries."""
