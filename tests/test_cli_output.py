"""What the operator and cron see: plain lines, --json for every command, init → plan,
and the live terminal UI driven in a real pseudo-terminal.

Every test runs `link-sync` as a separate process against `link-sync emulate`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest
import yaml

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Between words on a terminal: blanks, table borders and colour codes.
GAP = r"(?:[\s│┃|]|\x1b\[[0-9;?]*[A-Za-z])+"


def words(*parts: str) -> str:
    """A pattern matching `parts` in order on one screen line, whatever styling is between."""
    return GAP.join(parts)


@dataclass
class Emulator:
    config: Path
    printers: dict[str, str]  # name -> url
    env: dict[str, str]
    cwd: Path


def start_emulator(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    out = tmp_path / "emulated.yml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "link_sync",
            "emulate",
            "--port",
            "0",
            "--config-out",
            str(out),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    printers: dict[str, str] = {}
    wanted = int(args[args.index("--printers") + 1]) if "--printers" in args else 3
    while len(printers) < wanted:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(
                "emulator exited: " + (process.stderr.read() if process.stderr else "")
            )
        name, url, _profile = line.split()
        printers[name] = url
    return process, printers


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    process, printers = start_emulator(tmp_path, "--printers", "2", "--rate", "400k")
    master = tmp_path / "master"
    (master / "parts").mkdir(parents=True)
    (master / "benchy.gcode").write_bytes(b"G1 X1\n" * 40_000)
    (master / "parts" / "clip.gcode").write_bytes(b"G1 Y1\n" * 30_000)
    emulated = yaml.safe_load((tmp_path / "emulated.yml").read_text())
    emulated["source"] = str(master)
    config = tmp_path / "link-sync.yml"
    config.write_text(yaml.safe_dump(emulated))
    config.chmod(0o600)
    env = {**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")}
    env.pop("NO_COLOR", None)
    try:
        yield Emulator(config, printers, env, tmp_path)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def run(
    emulator: Emulator, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "link_sync", *args, "-c", str(emulator.config)],
        capture_output=True,
        text=True,
        env=env or emulator.env,
        cwd=emulator.cwd,
        timeout=120,
    )


def test_plain_output_is_one_greppable_line_per_action(emulator: Emulator) -> None:
    done = run(emulator, "sync")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert not ANSI.search(done.stdout)
    for name in emulator.printers:
        assert f"{name}: uploaded benchy.gcode (240.0 kB)" in lines
        assert f"{name}: uploaded parts/clip.gcode (180.0 kB)" in lines
        assert any(
            re.fullmatch(rf"{name}: synced: 2 uploaded \(420\.0 kB, [\d.]+ s\)", line)
            for line in lines
        )
    assert "Traceback" not in done.stderr


def test_quiet_prints_nothing_when_all_is_well(emulator: Emulator) -> None:
    done = run(emulator, "sync", "-q")
    assert done.returncode == 0
    assert done.stdout == ""


def test_json_of_sync_plan_status_and_pull(emulator: Emulator, tmp_path: Path) -> None:
    plan = json.loads(run(emulator, "plan", "--json").stdout)
    assert plan["dry_run"] is True and plan["ok"] is True
    assert {p["status"] for p in plan["printers"]} == {"planned"}
    assert plan["totals"]["uploaded"] == 4  # in a plan, totals count what would be done
    assert sorted(a["op"] for a in plan["printers"][0]["actions"]) == ["upload", "upload"]

    synced = run(emulator, "sync", "--json")
    document = json.loads(synced.stdout)
    assert synced.returncode == 0
    assert set(document) >= {"ok", "dry_run", "printers", "totals"}
    assert document["totals"] == {
        "uploaded": 4,
        "replaced": 0,
        "deleted": 0,
        "bytes": 2 * 420_000,
        "failed": 0,
    }
    printer = document["printers"][0]
    assert set(printer) >= {"name", "host", "state", "status", "actions", "error"}
    assert set(printer["actions"][0]) >= {"op", "path", "bytes", "ok", "error"}

    status = json.loads(run(emulator, "status", "--json").stdout)
    assert [p["in_sync"] for p in status["printers"]] == [True, True]
    assert all(p["reachable"] and p["managed_files"] == 2 for p in status["printers"])

    # the printers hold only master files now: --into copies what pull would, nothing
    into = tmp_path / "pulled"
    pulled = json.loads(run(emulator, "pull", "--json", "--into", str(into)).stdout)
    assert pulled["ok"] is True
    assert [a for p in pulled["printers"] for a in p["actions"]] == []
    assert not into.exists() or not any(into.iterdir())


def test_init_writes_a_config_that_plan_accepts(emulator: Emulator, tmp_path: Path) -> None:
    config = tmp_path / "fresh" / "link-sync.yml"
    config.parent.mkdir()
    hosts = [f"-p{name}={url.removeprefix('http://')}" for name, url in emulator.printers.items()]
    master = tmp_path / "master"
    made = subprocess.run(
        [sys.executable, "-m", "link_sync", "init", str(config), "-s", str(master), *hosts],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    text = config.read_text()
    assert "${FARM_PASSWORD}" in text and "password_file" in text
    env = {**emulator.env, "FARM_PASSWORD": "maker-pass"}
    planned = subprocess.run(
        [sys.executable, "-m", "link_sync", "plan", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert planned.returncode == 0, planned.stderr
    assert {p["status"] for p in json.loads(planned.stdout)["printers"]} == {"planned"}
    again = subprocess.run(
        [sys.executable, "-m", "link_sync", "init", str(config)], capture_output=True, text=True
    )
    assert again.returncode == 2 and "already exists" in again.stderr


def test_example_config_of_init_is_valid(tmp_path: Path) -> None:
    config = tmp_path / "link-sync.yml"
    subprocess.run(
        [sys.executable, "-m", "link_sync", "init", str(config)], check=True, capture_output=True
    )
    from link_sync.config import load_config

    loaded = load_config(
        config,
        cwd=tmp_path,
        environ={"FARM_PASSWORD": "a", "MK3_DIGEST_PASSWORD": "b", "MK3_API_KEY": "c"},
    )
    assert list(loaded.printers) == ["mk4-01", "xl-01", "mk3s-01"]


def test_live_progress_and_summary_in_a_terminal(emulator: Emulator) -> None:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "link_sync", "sync", "-c", str(emulator.config)],
        env={**emulator.env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
        cwd=str(emulator.cwd),
        encoding="utf-8",
        dimensions=(40, 120),
        timeout=60,
    )
    # While uploading: the live table with a row per printer, bytes done / total and a rate.
    child.expect(words("printer", "state", "file", "progress", "rate", "ETA"))
    child.expect(r"uploading")
    child.expect(r"[\d.]+ kB / 420\.0 kB")
    child.expect(r"[\d.]+ kB/s")
    # At the end: the summary table.
    child.expect(words("uploaded", "replaced", "deleted", "failed", "bytes"))
    child.expect(words("mk4-1", "synced", "2", "0", "0", "0", r"420\.0 kB"))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    screen = ANSI.sub("", child.before or "")
    assert "Traceback" not in screen


def test_no_color_gives_plain_lines_even_in_a_terminal(emulator: Emulator) -> None:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "link_sync", "sync", "-c", str(emulator.config)],
        env={**emulator.env, "NO_COLOR": "1", "TERM": "xterm"},
        cwd=str(emulator.cwd),
        encoding="utf-8",
        timeout=60,
    )
    child.expect(r"mk4-1: uploaded benchy\.gcode")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_every_command_help_shows_examples() -> None:
    for command in ("sync", "plan", "status", "pull", "init", "demo"):
        shown = subprocess.run(
            [sys.executable, "-m", "link_sync", command, "--help"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "Example" in shown.stdout, command


def test_shell_completion_is_available() -> None:
    completion = subprocess.run(
        [sys.executable, "-m", "link_sync"],
        capture_output=True,
        text=True,
        env={**os.environ, "_LINK_SYNC_COMPLETE": "bash_source"},
    )
    assert "complete" in completion.stdout and "link-sync" in completion.stdout.replace("_", "-")
