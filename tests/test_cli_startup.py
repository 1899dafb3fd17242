"""The command line starts at Python's own speed: what parsing arguments, `--version`
and `--help` need is all `link_sync.cli` imports; the engine (asyncio, pydantic,
httpx, rich, yaml, aiohttp) is imported by the command that runs. Facts about the
import graph, not timings (those are in bench/startup_bench.py)."""

from __future__ import annotations

import json
import subprocess
import sys

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
    # httpx._main alone is link_sync.backends.lean_httpx's stand-in, not httpx.
    return sorted(m for m in modules if m.split(".")[0] in HEAVY and m != "httpx._main")


def test_importing_the_cli_loads_no_engine() -> None:
    modules = modules_after("import link_sync.cli")
    assert heavy_in(modules) == []
    engine = {"link_sync.config", "link_sync._api", "link_sync.execute", "link_sync.report"}
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


def test_a_json_run_loads_no_terminal_ui() -> None:
    # `sync --json` / `plan --json` / `status` without a terminal need neither rich
    # nor httpx's own command-line client (rich + pygments).
    modules = modules_after(
        "import link_sync._api, link_sync.report, link_sync.backends.buddy, "
        "link_sync.backends.prusalink_pi, link_sync.backends.octoprint, "
        "link_sync.backends.moonraker"
    )
    assert "httpx" in modules
    assert sorted(m for m in modules if m.split(".")[0] in ("rich", "pygments")) == []


def test_httpx_own_command_line_still_works_after_link_sync_is_imported() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import link_sync.backends.http, httpx; httpx.main(['--help'])"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--method" in done.stdout
