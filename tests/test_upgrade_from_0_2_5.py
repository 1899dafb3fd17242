"""Cron lines written for link-sync 0.2.5 keep working (issue 19).

Each test runs `link-sync` as a separate process with the original's documented
command line (`-c printers.yml -s DIR -d PATH [-p ...] [-x ...] [--ignore-state] [-g]`)
against an emulated farm described in the original's `printers.yml` format, and
checks what changed on the printers, the exit code and the hint on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from link_sync.emulator import Farm, PrinterSpec
from link_sync.emulator.testing import BackgroundFarm

MASTER = {"benchy.gcode": b"G28\nG1 X1\n" * 40, "parts/clip.gcode": b"G1 Y2\n" * 30}


@pytest.fixture
def farm() -> Iterator[Farm]:
    specs = [
        PrinterSpec("mk4-a", profile="mk4", files={"old.gcode": b"old", "notes.txt": b"keep"}),
        PrinterSpec("mk4-b", profile="mk4", files={"prints2/other.gcode": b"outside"}),
        PrinterSpec(
            "xl",
            profile="xl",
            files={"job.gcode": b"printing"},
            state="PRINTING",
            job_file="job.gcode",
        ),
    ]
    with BackgroundFarm(specs) as running:
        yield running


@pytest.fixture
def workdir(tmp_path: Path, farm: Farm) -> Path:
    """A folder with the original's printers.yml and a master folder `gcodes`."""
    seed = {
        p.name: {
            "printer_type": p.profile.printer_type,
            "host": p.url,
            "username": p.spec.username,
            "password": p.spec.password,
        }
        for p in farm
    }
    (tmp_path / "printers.yml").write_text(yaml.safe_dump(seed))
    (tmp_path / "printers.yml").chmod(0o600)  # it holds passwords
    for path, data in MASTER.items():
        target = tmp_path / "gcodes" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        os.utime(target, (time.time() - 3600, time.time() - 3600))
    return tmp_path


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINK_SYNC_STATE_DIR": str(workdir / "state"), "NO_COLOR": "1"}
    env.pop("LINK_SYNC_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "link_sync", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def print_files(farm: Farm, name: str) -> dict[str, bytes]:
    return {p: d for p, d in farm[name].files().items() if p.endswith(".gcode")}


def test_without_go_it_only_shows_what_it_would_do(farm: Farm, workdir: Path) -> None:
    before = {p.name: p.files() for p in farm}
    done = run(workdir, "-c", "printers.yml", "-s", "gcodes", "-d", "/usb/")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == (
        "link-sync: the 0.2.5 command line; this is "
        "'link-sync plan -c printers.yml -s gcodes --destination /usb/'"
    )
    assert "mk4-a: would upload benchy.gcode" in done.stdout
    assert "mk4-a: would delete old.gcode" in done.stdout
    assert {p.name: p.files() for p in farm} == before


def test_with_go_it_syncs_with_todays_rules(farm: Farm, workdir: Path) -> None:
    done = run(workdir, "-c", "printers.yml", "-s", "gcodes", "-d", "/usb/", "-g")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "'link-sync sync -c printers.yml -s gcodes --destination /usb/'" in done.stderr
    assert print_files(farm, "mk4-a") == MASTER  # old.gcode deleted
    assert farm["mk4-a"].files()["notes.txt"] == b"keep"  # only print files are deleted
    assert print_files(farm, "mk4-b") == MASTER
    assert print_files(farm, "xl") == {"job.gcode": b"printing"}  # busy: left alone
    assert "xl: busy (PRINTING), not synced" in done.stdout
    # printer_type is the model: routed by it, no "routing is off" warning
    assert "routing is off" not in done.stderr


def test_a_destination_folder_is_compared_by_whole_components(farm: Farm, workdir: Path) -> None:
    done = run(workdir, "-c", "printers.yml", "-s", "gcodes", "-d", "/usb/prints", "-g")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--destination /usb/prints'" in done.stderr
    assert print_files(farm, "mk4-b") == {
        "prints2/other.gcode": b"outside",  # not below /usb/prints: untouched
        **{f"prints/{path}": data for path, data in MASTER.items()},
    }
    assert farm["mk4-a"].files()["old.gcode"] == b"old"  # outside the destination


def test_printers_chosen_with_p_and_x_as_the_original_took_them(farm: Farm, workdir: Path) -> None:
    only = run(workdir, "-c", "printers.yml", "-s", "gcodes", "-d", "/usb/", "-p", "mk4-a", "-g")
    assert only.returncode == 0, only.stdout + only.stderr
    assert "sync -c printers.yml -s gcodes --destination /usb/ -p mk4-a'" in only.stderr
    assert print_files(farm, "mk4-a") == MASTER
    assert "benchy.gcode" not in print_files(farm, "mk4-b")

    # -x NAME [NAME ...]: all but these (argparse's nargs="*" took several names)
    others = run(workdir, "-s", "gcodes", "-d", "/usb/", "-x", "mk4-a", "xl", "-g", "--json")
    assert others.returncode == 0, others.stdout + others.stderr
    report = json.loads(others.stdout)
    assert [p["name"] for p in report["printers"]] == ["mk4-b"]
    assert print_files(farm, "mk4-b") == MASTER  # the whole storage is managed with -d /usb/


def test_ignore_state_includes_busy_printers_and_keeps_the_file_being_printed(
    farm: Farm, workdir: Path
) -> None:
    done = run(
        workdir,
        "-c",
        "printers.yml",
        "-s",
        "gcodes",
        "-d",
        "/usb/",
        "-p",
        "xl",
        "--ignore-state",
        "-g",
    )
    assert "--include-busy'" in done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert print_files(farm, "xl") == {"job.gcode": b"printing", **MASTER}
    assert "xl: note: kept job.gcode: being printed" in done.stdout


def test_quiet_silences_the_hint_and_an_empty_source_is_refused(farm: Farm, workdir: Path) -> None:
    (workdir / "empty").mkdir()
    done = run(workdir, "-c", "printers.yml", "-s", "empty", "-d", "/usb/", "-g", "-q")
    assert done.returncode == 3  # 0.2.5 deleted everything under -d here, and exited 0
    assert "0.2.5 command line" not in done.stderr
    assert "has no print files" in done.stderr
    assert farm["mk4-a"].files()["old.gcode"] == b"old"


def test_an_option_0_2_5_had_but_link_sync_lacks_is_one_clear_error(workdir: Path) -> None:
    done = run(workdir, "-c", "printers.yml", "-s", "gcodes", "-r", "/nas", "-g")
    assert done.returncode == 2
    assert "-r/--relative-to is not supported" in done.stderr
    assert "Traceback" not in done.stderr


def test_sync_and_plan_take_destination_as_the_configs_destination(
    farm: Farm, workdir: Path
) -> None:
    planned = run(workdir, "plan", "-s", "gcodes", "--destination", "/usb/prints", "-p", "mk4-b")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "mk4-b: would upload benchy.gcode" in planned.stdout
    assert "would delete" not in planned.stdout  # prints2/ is not below prints/
    assert "0.2.5" not in planned.stderr  # today's command line: no hint
    synced = run(workdir, "sync", "-s", "gcodes", "--destination", "prints", "-p", "mk4-b")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert print_files(farm, "mk4-b") == {
        "prints2/other.gcode": b"outside",
        **{f"prints/{path}": data for path, data in MASTER.items()},
    }
    bad = run(workdir, "sync", "-s", "gcodes", "--destination", "../up")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "link-sync: --destination '../up' must not contain '..'"
