"""The command line starts at Python's own speed: what parsing arguments, `--version`
and `--help` need is all `link_sync.cli` imports; the engine (asyncio, pydantic,
httpx, rich, yaml, aiohttp) is imported by the command that runs. Facts about the
import graph, not timings (those are in bench/startup_bench.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("asyncio", "httpx", "httpcore", "rich", "pydantic", "yaml", "aiohttp", "logging")


def modules_after(code: str) -> set[str]:
    """Top-level and link_sync modules loaded by a fresh interpreter running `code`."""
    script = (
        "import sys\n"
        f"{code}\n"
        "import json\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.__stderr__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_importing_the_cli_loads_no_engine() -> None:
    modules = modules_after("import link_sync.cli")
    assert heavy_in(modules) == []
    engine = {"link_sync.config", "link_sync._api", "link_sync.engine.session", "link_sync.report"}
    assert engine & modules == set()


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["sync", "--help"]])
def test_version_and_help_load_no_engine(args: list[str]) -> None:
    code = (
        "from link_sync.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exit:\n"
        "    assert exit.code in (0, None), exit.code\n"
    )
    modules = modules_after(code)
    assert "link_sync.cli" in modules
    assert heavy_in(modules) == []
    assert "link_sync.watch.cli" not in modules
    assert "link_sync.emulator.cli" not in modules


def test_the_help_lines_of_lazy_commands_are_their_own() -> None:
    import importlib

    import click

    from link_sync.cli import LazyGroup, main

    for target, summary in LazyGroup.lazy.values():
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert command.help is not None
        assert command.help.split("\n\n")[0].strip() == summary
    listing = main.get_help(click.Context(main, info_name="link-sync"))
    assert "Serve emulated PrusaLink printers on 127.0.0.1" in listing
    assert "Stay running: sync each printer" in listing


def test_a_command_still_imports_what_it_needs_when_it_runs() -> None:
    # The lazy imports are real: a command that runs gets its engine (here: a config
    # error raised by the config module, exit 2, no traceback).
    done = subprocess.run(
        [sys.executable, "-m", "link_sync", "plan", "-c", "/nonexistent/link-sync.yml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("link-sync: ")


def test_a_json_run_loads_no_terminal_ui_and_no_second_http_client() -> None:
    # `sync --json` / `plan --json` / `status` without a terminal need no rich, and the
    # printers' client is aiohttp alone (httpx is only the tests' own client).
    modules = modules_after(
        "import link_sync._api, link_sync.report, link_sync.backends.buddy, "
        "link_sync.backends.prusalink_pi, link_sync.backends.octoprint, "
        "link_sync.backends.moonraker"
    )
    assert "aiohttp" in modules
    top = {m.split(".")[0] for m in modules}
    assert top & {"rich", "pygments", "httpx", "httpcore", "anyio", "h11"} == set()


GC_SPY = """
import gc, sys
import link_sync._api, link_sync.commands.init, link_sync.commands.selection
from link_sync._process import RUN_GC_THRESHOLDS
from link_sync import cli
from link_sync.errors import LinkSyncError

seen = []
def spy(module, name, raises=None):
    real = getattr(module, name)
    def record(*args, **kwargs):
        seen.append((name, gc.isenabled()))
        if raises:
            raise LinkSyncError("stop here")
        return real(*args, **kwargs)
    setattr(module, name, record)

class BackendImport:  # notes when the printers' backend module is imported
    def find_spec(self, name, path=None, target=None):
        if name == "link_sync.backends.prusalink":
            seen.append(("import backend", gc.isenabled()))
        return None

sys.meta_path.insert(0, BackendImport())
spy(link_sync.commands.selection, "load_config")
spy(link_sync._api, "run_async", raises=True)
spy(link_sync.commands.init, "write_config")
sys.argv = ["link-sync", *sys.argv[1:]]
try:
    if sys.argv[1] == "-m":  # as `python -m link_sync` runs it
        del sys.argv[1]
        import runpy
        runpy.run_module("link_sync", run_name="__main__")
    else:
        cli.run()
except SystemExit:
    pass
spaced = gc.get_threshold() == RUN_GC_THRESHOLDS
print(seen, gc.isenabled(), gc.get_freeze_count() > 0, spaced, file=sys.__stderr__)
"""


def gc_seen(tmp_path: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", GC_SPY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    return done.stderr.strip().splitlines()[-1]


def test_the_console_script_holds_off_the_garbage_collector_only_while_starting(
    tmp_path: Path,
) -> None:
    # plan: no collections while the engine and the config load; collection is back
    # (start-up objects frozen out of its way) before the run starts.
    config = tmp_path / "link-sync.yml"
    config.write_text(f"source: {tmp_path}\nprinters:\n  p1:\n    host: 127.0.0.1:9\n")
    # The printers' backend (with the HTTP client library) is imported before too.
    # The run itself collects its young generation less often (the process is ours).
    expected = (
        "[('load_config', False), ('import backend', False), ('run_async', True)] True True True"
    )
    assert gc_seen(tmp_path, "plan", "-c", str(config)) == expected
    assert gc_seen(tmp_path, "-m", "plan", "-c", str(config)) == expected
    # Any other command collects from its start.
    seen = gc_seen(tmp_path, "init", str(tmp_path / "new.yml"))
    assert seen == "[('write_config', True)] True True False"


def test_main_called_in_process_leaves_the_garbage_collector_alone(tmp_path: Path) -> None:
    import gc

    from click.testing import CliRunner

    from link_sync.cli import main

    frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()
    result = CliRunner().invoke(main, ["init", str(tmp_path / "new.yml")])
    assert result.exit_code == 0, result.output
    # A plan (the console script would space the collector's passes for it); the
    # printer's port is closed, so it ends at once, unreachable.
    config = tmp_path / "link-sync.yml"
    config.write_text(f"source: {tmp_path}\nprinters:\n  p1:\n    host: 127.0.0.1:9\n")
    (tmp_path / "a.gcode").write_text("G1\n")
    env = {"LINK_SYNC_STATE_DIR": str(tmp_path / "state")}
    result = CliRunner().invoke(main, ["plan", "-c", str(config), "-q"], env=env)
    assert result.exit_code == 1, result.output
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    assert gc.get_threshold() == thresholds


def test_the_console_script_is_run() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["link-sync"] == "link_sync.cli:run"


#: Never needed by `plan --json` before it asks its first printer (or at all).
NOT_ON_THE_PLAN_PATH = (
    "rich",
    "pygments",
    "tomllib",  # a YAML config needs no TOML parser
    "platformdirs",  # $LINK_SYNC_STATE_DIR names the state folder
    "aiohttp.web",
    "watchfiles",
    "watchdog",
    "link_sync.watch",
    "link_sync.web",
    "link_sync.emulator",
    "link_sync.demo",
    "link_sync.sample_gcode",
    "link_sync.commands.pull",
)

FIRST_REQUEST = """
import json, os, runpy, socket, sys

def first_request(sock, address):
    print(json.dumps(sorted(sys.modules)), file=sys.__stderr__, flush=True)
    os._exit(0)

socket.socket.connect = first_request
sys.argv = ["link-sync", *sys.argv[1:]]
runpy.run_module("link_sync", run_name="__main__")
"""


def test_plan_reaches_its_first_request_without_loading_what_it_does_not_use(
    tmp_path: Path,
) -> None:
    master = tmp_path / "master"
    master.mkdir()
    (master / "a.gcode").write_text("G28\n")
    config = tmp_path / "link-sync.yml"
    config.write_text(f"source: {master}\nprinters:\n  p1:\n    host: 127.0.0.1:9\n")
    done = subprocess.run(
        [sys.executable, "-c", FIRST_REQUEST, "plan", "-c", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")},
    )
    modules = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert "link_sync.backends.prusalink" in modules  # it did get as far as the printer
    loaded = sorted(
        module
        for module in modules
        for unwanted in NOT_ON_THE_PLAN_PATH
        if module == unwanted or module.startswith(unwanted + ".")
    )
    assert loaded == []
