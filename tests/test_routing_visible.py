"""Routing is never off in silence (issue 26, item 4): every printer entry of `plan`,
`sync` and `status --json` says `routing` ("model", "all" or "off"), and the plain
output ends with one warning naming every printer whose routing is off.

`link-sync` runs as a separate process against an emulated farm on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from link_sync.emulator import PrinterSpec
from link_sync.emulator.testing import BackgroundFarm
from link_sync.sample_gcode import prusaslicer_gcode


@pytest.fixture
def farm() -> Iterator[Any]:
    # an MK4 whose config names its model, a MINI and an XL whose configs do not (Buddy
    # firmware does not say it), and the Pi's MK3S (its PrusaLink names its model)
    specs = [
        PrinterSpec("mk4-01"),
        PrinterSpec("mini-02", profile="mini"),
        PrinterSpec("xl-03", profile="xl"),
        PrinterSpec("mk3s-04", profile="mk3"),
    ]
    with BackgroundFarm(specs) as running:
        yield running


def write_config(tmp_path: Path, farm: Any, **top: Any) -> Path:
    master = tmp_path / "master"
    master.mkdir(exist_ok=True)
    (master / "mk4.gcode").write_bytes(prusaslicer_gcode("MK4", 0.4))
    (master / "mini.gcode").write_bytes(prusaslicer_gcode("MINI", 0.4))
    config = farm.config(source=str(master))
    del config["printers"]["mini-02"]["model"]
    del config["printers"]["xl-03"]["model"]
    config.update(top)
    path = tmp_path / "link-sync.yml"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def link_sync(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run(
        [sys.executable, "-m", "link_sync", *args, "-c", str(tmp_path / "link-sync.yml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def routing(document: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["routing"] for p in document["printers"]}


EXPECTED = {"mk4-01": "model", "mini-02": "off", "xl-03": "off", "mk3s-04": "model"}
WARNING = (
    "link-sync: warning: routing is off for mini-02, xl-03: their models are unknown, so they get "
    "every file; set model: for each in the config"
)


def test_plan_and_status_json_say_how_each_printer_is_routed(tmp_path: Path, farm: Any) -> None:
    write_config(tmp_path, farm)
    plan = link_sync(tmp_path, "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    document = json.loads(plan.stdout)
    assert routing(document) == EXPECTED
    # the printers whose routing is off get every file; the routed ones only theirs
    uploads = {p["name"]: sorted(a["path"] for a in p["actions"]) for p in document["printers"]}
    assert uploads["mini-02"] == ["mini.gcode", "mk4.gcode"]
    assert uploads["mk4-01"] == ["mk4.gcode"]
    assert WARNING.removeprefix("link-sync: warning: ") in document["warnings"]

    status = link_sync(tmp_path, "status", "--json")
    assert routing(json.loads(status.stdout)) == EXPECTED


def test_route_all_says_all_and_warns_of_nothing(tmp_path: Path, farm: Any) -> None:
    write_config(tmp_path, farm, route="all")
    plan = link_sync(tmp_path, "plan", "--json")
    document = json.loads(plan.stdout)
    assert set(routing(document).values()) == {"all"}
    assert not any("routing is off" in w for w in document["warnings"])
    assert "routing is off" not in plan.stderr


def test_plain_output_ends_with_one_warning_naming_every_printer_routed_off(
    tmp_path: Path, farm: Any
) -> None:
    write_config(tmp_path, farm)
    for command in ("plan", "sync", "status"):
        done = link_sync(tmp_path, command)
        assert done.returncode == 0, done.stderr
        lines = done.stderr.splitlines()
        assert lines[-1] == WARNING, (command, lines)
        assert sum("routing is off for" in line for line in lines) == 1
    sync = json.loads(link_sync(tmp_path, "sync", "--json").stdout)
    assert routing(sync) == EXPECTED


def test_one_printer_routed_off_is_named_alone(tmp_path: Path, farm: Any) -> None:
    write_config(tmp_path, farm)
    done = link_sync(tmp_path, "plan", "-p", "xl-03", "-p", "mk4-01")
    assert done.stderr.splitlines()[-1] == (
        "link-sync: warning: routing is off for xl-03: its model is unknown, so it gets "
        "every file; set model: for it in the config"
    )
    quiet = link_sync(tmp_path, "plan", "-p", "mk4-01")
    assert "routing is off" not in quiet.stderr


def test_the_pi_prusalinks_model_is_shown_by_its_firmware_name(tmp_path: Path, farm: Any) -> None:
    """The Pi PrusaLink reports itself as 'PrusaLink I3MK3S'; status (plain and --json),
    sync --json and the page's /api/printers show the model routing reads: MK3S."""
    import link_sync as api
    from link_sync.watch.observer import FarmObserver
    from link_sync.watch.state import FarmState

    path = write_config(tmp_path, farm)
    status = link_sync(tmp_path, "status")
    assert status.returncode == 0, status.stderr
    line = next(x for x in status.stdout.splitlines() if x.startswith("mk3s-04:"))
    assert " model=MK3S " in line, line
    assert "PrusaLink" not in status.stdout
    shown = {
        p["name"]: p["model"]
        for p in json.loads(link_sync(tmp_path, "status", "--json").stdout)["printers"]
    }
    assert shown == {"mk4-01": "MK4", "mini-02": None, "xl-03": None, "mk3s-04": "MK3S"}
    synced = json.loads(link_sync(tmp_path, "sync", "--json").stdout)
    assert {p["name"]: p["model"] for p in synced["printers"]}["mk3s-04"] == "MK3S"

    config = api.load_config(path)
    page = FarmState([(name, "h") for name in config.printers])
    api.sync(config, observer=FarmObserver(page), state_dir=str(tmp_path / "state"))
    assert page.view_json(page.printers["mk3s-04"])["model"] == "MK3S"
