"""Every example command line in ``zvt-ccxt --help``, in each subcommand's ``--help`` and in the README's tour
runs, offline, and exits 0: help and code cannot drift apart.

How each runs: one that names ``--replay CASSETTE`` is served by that cassette alone, from an empty store (what
the cassette was recorded from); a stream runs against the local websocket simulator for a second (``--duration
1`` is appended, and ``--metrics-port`` is given 0 so that a port taken on this machine cannot fail it); any
other runs against the local REST simulator, in a store holding a few days of what the examples read back
(okx and binance hourly BTC/USDT bars, binance BTC/USDT trades), from a scratch directory (export writes there).
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from zvt_ccxt.cli import main
from zvt_ccxt.cli.app import build_parser

from conftest import SIM_NOW

ROOT = Path(__file__).resolve().parents[1]


def _help_texts() -> dict[str, str]:
    parser = build_parser()
    texts = {"zvt-ccxt --help": parser.format_help()}
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))  # noqa: SLF001
    for name, subparser in commands.choices.items():
        texts[f"zvt-ccxt {name} --help"] = subparser.format_help()
    return texts


def _readme_tour() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = text.split("## A 30-second tour", 1)[1]
    return re.search(r"```bash\n(.*?)```", tour, re.DOTALL).group(1)


def _examples() -> list[tuple[str, list[str]]]:
    """(where it is shown, argv) for every line starting with ``zvt-ccxt `` in the help texts and the tour."""
    sources = {**_help_texts(), "README tour": _readme_tour()}
    found: dict[tuple[str, ...], str] = {}
    for source, text in sources.items():
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("zvt-ccxt ") and not line.startswith("zvt-ccxt COMMAND"):
                argv = shlex.split(line, comments=True)[1:]
                if argv and tuple(argv) not in found:
                    found[tuple(argv)] = source
    return [(source, list(argv)) for argv, source in found.items()]


EXAMPLES = _examples()


def test_every_command_shows_examples():
    sources = {source for source, _ in EXAMPLES}
    assert set(_help_texts()) <= sources  # an example in every help text, the top level's included
    assert "README tour" in sources


def _seed_store() -> None:
    """A few days of what the examples read back, recorded through the command from the REST simulator."""
    for argv in (
        ["record", "-e", "okx", "-s", "BTC/USDT", "--since", "3d"],
        ["record", "-e", "binance", "-s", "BTC/USDT", "--since", "3d"],
        ["record", "-e", "binance", "-s", "BTC/USDT", "--data", "trades", "--since", "2h"],
    ):
        assert main([*argv, "--progress", "none"]) == 0


def _offline_stream(argv: list[str]) -> list[str]:
    argv = list(argv)
    if "--metrics-port" in argv:
        argv[argv.index("--metrics-port") + 1] = "0"
    return [*argv, "--duration", "1"]


@pytest.mark.parametrize(("source", "argv"), EXAMPLES, ids=[f"{s}: {' '.join(a)}" for s, a in EXAMPLES])
def test_example_runs_offline(store, capsys, monkeypatch, tmp_path, request, source, argv):
    from zvt_ccxt_testkit import simulated, simulated_streams

    monkeypatch.chdir(tmp_path)
    if argv[0] == "migrate" and argv[argv.index("--to") + 1].startswith("postgresql://"):
        # the example's server is the session's throwaway one (that case skips without PostgreSQL binaries), empty
        from zvt_ccxt.config import DB_URL_ENV

        from conftest import empty_store

        url = request.getfixturevalue("postgres_url")
        argv = [*argv[:argv.index("--to") + 1], url, *argv[argv.index("--to") + 2:], "--fresh"]
        monkeypatch.setenv(DB_URL_ENV, url)
        empty_store()
        monkeypatch.delenv(DB_URL_ENV)
    if "--replay" in argv:
        code = main(argv)
    elif argv[0] == "stream":
        with simulated_streams(SIM_NOW):
            code = main(_offline_stream(argv))
    else:
        with simulated(SIM_NOW):
            _seed_store()
            capsys.readouterr()
            code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, f"`zvt-ccxt {' '.join(argv)}` (shown in {source}) exited {code}:\n{out[-2000:]}\n{err[-2000:]}"
    assert out.strip(), "an example that prints nothing"
    assert "error:" not in err and "FAILED" not in out
