"""freqtrade's ``download-data`` on the benchmark server, for ``benchmarks.peers_backfill``.

Runs in freqtrade's own virtualenv (``benchmarks/requirements-freqtrade.txt``, made by ``benchmarks.peers``) as
``python benchmarks/freqtrade_side.py ARGS_JSON OUT``. ``mode="inprocess"`` imports freqtrade first and times
``start_download_data`` alone (configuration, markets, download, files); ``mode="count"`` only reads what a
``freqtrade download-data`` command stored. Either way it counts, per pair, the candles in the asked range
(stored, missing, duplicated) from freqtrade's feather files, and writes the result to ``OUT`` as JSON.
It imports nothing from zvt-ccxt.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

MINUTE_MS = 60_000


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def download(argv: list[str]) -> dict:
    from freqtrade.commands import Arguments
    from freqtrade.commands.data_commands import start_download_data

    args = Arguments(argv).get_parsed_arg()
    cpu, started = _cpu(), time.perf_counter()
    start_download_data(args)
    return {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu}


def count(datadir: str, pairs: list[str], start_ms: int, end_ms: int) -> dict:
    import pandas as pd

    expected = (end_ms - start_ms) // MINUTE_MS
    per_pair = {}
    for pair in pairs:
        name = f"{pair.replace('/', '_')}-1m.feather"
        path = next((p for p in (Path(datadir) / name, Path(datadir) / "binance" / name) if p.exists()), None)
        if path is None:
            per_pair[pair] = {"stored": 0, "in_range": 0, "missing": expected, "duplicated": 0}
            continue
        frame = pd.read_feather(path)
        # whatever the stored resolution (ns, ms): milliseconds since the epoch
        ms = (pd.to_datetime(frame["date"], utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
        inside = ms[(ms >= start_ms) & (ms < end_ms)]
        per_pair[pair] = {
            "stored": int(len(frame)),
            "in_range": int(inside.nunique()),
            "missing": int(expected - inside.nunique()),
            "duplicated": int(len(inside) - inside.nunique()),
        }
    return {
        "expected": expected * len(pairs),
        "in_range": sum(p["in_range"] for p in per_pair.values()),
        "stored": sum(p["stored"] for p in per_pair.values()),
        "missing": sum(p["missing"] for p in per_pair.values()),
        "duplicated": sum(p["duplicated"] for p in per_pair.values()),
        "per_pair": per_pair,
    }


if __name__ == "__main__":
    arguments = json.loads(sys.argv[1])
    result: dict = {}
    if arguments["mode"] == "inprocess":
        result.update(download(arguments["argv"]))
    result.update(count(arguments["datadir"], arguments["pairs"], arguments["start_ms"], arguments["end_ms"]))
    import freqtrade

    result["version"] = freqtrade.__version__
    Path(sys.argv[2]).write_text(json.dumps(result))
