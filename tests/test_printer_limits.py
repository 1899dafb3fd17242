"""Issue 29 (faults 1, 6, 7, 8, 12, 13): what a hostile or broken printer can make
link-sync read, store, wait for, or send elsewhere is bounded.

Each test puts one or more printers with one of the emulator's hostile fault modes
(`redirect`, `endless`, `huge`, `deep_json`, `drip`, `long_download`) into a farm of
healthy ones: the hostile printer fails alone with a clear error, the healthy ones
end synced (read back from their storage), and what the host spends is bounded.
The memory figures are measured on the CLI as a subprocess (`test_peak_memory_*`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import link_sync
from link_sync.backends import limits
from link_sync.commands.pull import PullRequest, pull_async
from link_sync.emulator import Fault, PrinterSpec
from link_sync.emulator.testing import BackgroundFarm
from link_sync.result import RunResult

from sync_helpers import FAST_RETRY, Master
from synced_check import assert_synced_printers_hold_the_master

KEY = "shared-farm-key"
MASTER = {
    "keep.gcode": b"G1 X1 ; keep\n" * 50,
    # big enough that the healthy printers are mid-upload while the hostile one fails
    "big.gcode": b"G1 X2 Y3 ; big\n" * 200_000,
}
#: the most `status` may take against a printer dripping a byte every 2 s (issue 29)
DRIP_STATUS_BOUND = 15.0
#: the most `status`/`sync` may hold in memory against endless or huge answers
PEAK_RSS_BOUND_MB = 300


def fill(master: Master) -> None:
    for path, data in MASTER.items():
        master.write(path, data, mtime=time.time() - 3600)


async def sync(
    farm: Any, master: Master, tmp_path: Path, config: dict[str, Any] | None = None
) -> RunResult:
    config = config or farm.config(source=str(master.root))
    result = await asyncio.wait_for(
        link_sync.sync_async(
            link_sync.Config(**config), state_dir=tmp_path / "state", retry=FAST_RETRY
        ),
        timeout=120,
    )
    assert_synced_printers_hold_the_master(result, farm, config)
    return result


def by_name(result: RunResult) -> dict[str, Any]:
    return {p.name: p for p in result.printers}


def assert_failed_alone(result: RunResult, farm: Any, bad: dict[str, str]) -> None:
    """Each printer of `bad` failed with its text; every other one is synced and
    holds the master."""
    printers = by_name(result)
    for name, text in bad.items():
        report = printers[name]
        assert report.status.value in {"failed", "unreachable"}, (name, report)
        assert text in (report.error or ""), (name, report.error)
    for name, report in printers.items():
        if name not in bad:
            assert report.status.value == "synced", (name, report.error)
            assert farm[name].files() == MASTER, name
    assert result.exit_code == 1


# -- 1: no redirect is followed ----------------------------------------------------------


async def test_a_redirect_never_takes_a_request_to_another_printer(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    fill(master)
    farm = await farm_factory(
        [
            PrinterSpec("victim", profile="mk3", api_key=KEY, files={"precious.gcode": b"P" * 99}),
            PrinterSpec("evil", profile="mk3", api_key=KEY, files={"extra.gcode": b"E"}),
            PrinterSpec("healthy", profile="mk3", api_key=KEY),
        ]
    )
    victim_file = f"{farm['victim'].url}/api/v1/files/local/precious.gcode"
    farm["evil"].add_fault(Fault("redirect", op="delete", count=None, location=victim_file))
    # The victim's only copy is not in the master: a sync of the victim alone keeps it
    # as long as the victim's destination is elsewhere.
    config = farm.config(source=str(master.root))
    for entry in config["printers"].values():
        entry.pop("api_key")
        entry.pop("password")
    config["defaults"] = {"api_key": KEY}
    config["printers"]["victim"]["destination"] = "/prints"
    config["printers"]["healthy"]["destination"] = "/prints"

    result = await sync(farm, master, tmp_path, config)

    assert farm["victim"].files()["precious.gcode"] == b"P" * 99
    assert not any(r.method == "DELETE" for r in farm["victim"].requests), (
        "a redirected DELETE reached the victim"
    )
    evil = by_name(result)["evil"]
    assert evil.status.value == "failed", evil
    shown = evil.error or " ".join(a.error or "" for a in evil.actions)
    assert "redirect (HTTP 307)" in shown and "link-sync follows none" in shown, shown
    assert "/api/v1/files/local/precious.gcode" in shown
    assert KEY not in json.dumps(result.to_json())
    for name in ("victim", "healthy"):
        assert by_name(result)[name].status.value == "synced", by_name(result)[name]
    assert farm["healthy"].files() == {f"prints/{k}": v for k, v in MASTER.items()}


async def test_a_redirect_to_a_download_writes_nothing(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    farm = await farm_factory(
        [
            PrinterSpec("evil", profile="mk3", api_key=KEY, files={"a.gcode": b"A" * 10}),
            PrinterSpec("healthy", files={"b.gcode": b"B" * 10}),
        ]
    )
    farm["evil"].add_fault(
        Fault("redirect", op="list", count=None, location="http://u:pw@127.0.0.2/x?token=t")
    )
    master.write("m.gcode", b"M")
    result = await pull_async(PullRequest(link_sync.Config(**farm.config(source=master.root))))
    evil = by_name(result)["evil"]
    assert "redirect (HTTP 307) to http://127.0.0.2/x;" in (evil.error or ""), evil.error
    assert "pw" not in (evil.error or "") and "token" not in (evil.error or "")
    assert master.files() == {"m.gcode": b"M", "b.gcode": b"B" * 10}


# -- 6, 12: answers are capped, deep JSON is a clear error --------------------------------


async def test_endless_huge_and_deep_answers_fail_their_printer_alone(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    fill(master)
    farm = await farm_factory(
        [
            PrinterSpec("endless-status", faults=[Fault("endless", op="status", count=None)]),
            PrinterSpec("huge-listing", faults=[Fault("huge", op="list", size=10**9, count=None)]),
            PrinterSpec(
                "endless-listing", profile="mk3", faults=[Fault("endless", op="list", count=None)]
            ),
            PrinterSpec("deep-status", faults=[Fault("deep_json", op="status", count=None)]),
            PrinterSpec(
                "deep-listing", profile="mk3", faults=[Fault("deep_json", op="list", count=None)]
            ),
            PrinterSpec("healthy-mk4"),
            PrinterSpec("healthy-mk3", profile="mk3"),
        ]
    )
    result = await sync(farm, master, tmp_path)
    assert_failed_alone(
        result,
        farm,
        {
            "endless-status": "larger than 4.0 MB",
            "huge-listing": "larger than 64.0 MB",
            "endless-listing": "larger than 64.0 MB",
            "deep-status": "nested too deeply",
            "deep-listing": "nested too deeply",
        },
    )


def test_deep_json_in_an_error_answer_is_read_as_text() -> None:
    """Error answers are read for their message: a deep one must not crash that either."""
    from multidict import CIMultiDict, CIMultiDictProxy

    from link_sync.backends.client import Response
    from link_sync.backends.http import error_message, parse_json

    deep = b"[" * 100_000 + b"]" * 100_000
    response = Response(500, "Internal Server Error", CIMultiDictProxy(CIMultiDict()), deep)
    assert error_message(response) == (b"[" * 200).decode()
    with pytest.raises(link_sync.errors.ProtocolError, match="nested too deeply"):
        parse_json(response, "read status")


async def test_listing_walks_are_bounded_in_depth_and_entries(
    farm_factory: Any, master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(master)
    chain = "/".join(["d"] * (limits.MAX_FOLDER_DEPTH + 2))
    farm = await farm_factory(
        [
            PrinterSpec("too-deep", profile="mk3", files={f"{chain}/x.gcode": b"x"}),
            PrinterSpec("too-many", files={f"junk/{i}.gcode": b"j" for i in range(120)}),
            PrinterSpec("healthy-mk4"),
            PrinterSpec("healthy-mk3", profile="mk3"),
        ]
    )
    # The entry bound is 250,000; a farm test lowers it (the walk counts the same way).
    monkeypatch.setattr(limits, "MAX_LISTED_ENTRIES", 100)
    result = await sync(farm, master, tmp_path)
    assert_failed_alone(
        result,
        farm,
        {
            "too-deep": f"folders nested more than {limits.MAX_FOLDER_DEPTH} levels deep",
            "too-many": "more than 100 entries",
        },
    )


# -- 8: small requests have an overall deadline --------------------------------------------


async def test_status_with_a_dripping_printer_ends_within_its_connect_timeout(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    fill(master)
    farm = await farm_factory(
        [
            PrinterSpec("drip", faults=[Fault("drip", op="status", seconds=2.0, count=None)]),
            PrinterSpec("healthy"),
        ]
    )
    config = link_sync.Config(**farm.config(source=str(master.root)))
    assert config.printers["drip"].connect_timeout == 10  # the default: nothing shortened
    started = time.monotonic()
    report = await asyncio.wait_for(link_sync.status_async(config, state_dir=tmp_path), 60)
    seconds = time.monotonic() - started
    rows = {r.name: r for r in report}
    assert seconds <= DRIP_STATUS_BOUND, f"status took {seconds:.1f} s"
    assert rows["drip"].reachable is False
    assert "sends too slowly" in (rows["drip"].error or ""), rows["drip"].error
    assert rows["healthy"].reachable is True
    print(f"status with a dripping printer: {seconds:.1f} s")


async def test_sync_with_a_dripping_printer_syncs_the_others(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    fill(master)
    farm = await farm_factory(
        [
            PrinterSpec("drip", faults=[Fault("drip", op="list", seconds=1.0, count=None)]),
            PrinterSpec("healthy-mk4"),
            PrinterSpec("healthy-mk3", profile="mk3"),
        ]
    )
    config = farm.config(source=str(master.root))
    for entry in config["printers"].values():
        entry["timeout"] = 3
    started = time.monotonic()
    result = await sync(farm, master, tmp_path, config)
    assert time.monotonic() - started < 30
    assert_failed_alone(result, farm, {"drip": "sends too slowly"})


# -- 7, 13: pull ---------------------------------------------------------------------------


async def test_pull_cuts_a_download_longer_than_listed(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    master.write("m.gcode", b"M")
    endless = Fault("long_download", count=None)
    farm = await farm_factory(
        [
            PrinterSpec(
                "long",
                profile="mk3",
                files={"ten.gcode": b"0123456789", "fine.gcode": b"F" * 5},
                faults=[endless],
            ),
            PrinterSpec("buddy-long", files={"tiny.gcode": b"t" * 10}),
            PrinterSpec("healthy", files={"other.gcode": b"O" * 7}),
        ]
    )
    longer = Fault("long_download", count=None, size=50 * limits.MB)
    farm["buddy-long"].add_fault(longer)
    result = await asyncio.wait_for(
        pull_async(PullRequest(link_sync.Config(**farm.config(source=master.root)))), 120
    )
    actions = {(p.name, a.path): a for p in result.printers for a in p.actions}
    for key in (("long", "ten.gcode"), ("long", "fine.gcode"), ("buddy-long", "tiny.gcode")):
        assert not actions[key].ok
        assert "sent more than" in (actions[key].error or ""), actions[key]
    assert actions[("healthy", "other.gcode")].ok
    assert master.files() == {"m.gcode": b"M", "other.gcode": b"O" * 7}
    assert not list(master.root.rglob("*.part")), "a partial download was left behind"
    assert result.exit_code == 1
    # What the printers managed to send bounds what pull read (the kernel buffers
    # the rest of the way): the listed size + 16 MB at most, per download.
    for fault in (endless, longer):
        per_download = fault.sent / fault.hits
        assert per_download <= 10 + 16 * limits.MB, per_download
        print(f"long download: {per_download / 1e6:.1f} MB sent per download of 10 bytes")


async def test_pull_a_name_too_long_for_this_computer_fails_alone(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    master.write("m.gcode", b"M")
    long_name = "n" * 10_000 + ".gcode"
    farm = await farm_factory(
        [
            PrinterSpec("pi", profile="mk3", files={long_name: b"L", "ok.gcode": b"OK"}),
            PrinterSpec("healthy", files={"other.gcode": b"O"}),
        ]
    )
    result = await pull_async(PullRequest(link_sync.Config(**farm.config(source=master.root))))
    actions = {a.path: a for p in result.printers for a in p.actions}
    assert not actions[long_name].ok
    assert "cannot be written here: File name too long" in (actions[long_name].error or "")
    assert len(actions[long_name].error or "") < 200  # the name is not repeated in it
    assert master.files() == {"m.gcode": b"M", "ok.gcode": b"OK", "other.gcode": b"O"}
    assert result.exit_code == 1


# -- bounded memory: the CLI as a subprocess ------------------------------------------------


MEASURE = """
import resource, subprocess, sys
cap = 2 * 1024 ** 3
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
done = subprocess.run([sys.executable, "-m", "link_sync", *sys.argv[1:]], preexec_fn=limit,
                      capture_output=True, text=True, timeout=180)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
sys.stdout.write(f"{done.returncode}\\n{peak}\\n{done.stdout}")
sys.stderr.write(done.stderr)
"""


@pytest.fixture(scope="module")
def hostile_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, Master]]:
    folder = tmp_path_factory.mktemp("hostile")
    master = Master(folder / "master")
    fill(master)
    specs = [
        PrinterSpec("endless-status", faults=[Fault("endless", op="status", count=None)]),
        PrinterSpec("endless-info", faults=[Fault("endless", op="info", count=None)]),
        PrinterSpec(
            "endless-listing", profile="mk3", faults=[Fault("endless", op="list", count=None)]
        ),
        PrinterSpec("huge-listing", faults=[Fault("huge", op="list", size=2 * 10**9, count=None)]),
        PrinterSpec("deep-status", faults=[Fault("deep_json", op="status", count=None)]),
        PrinterSpec("healthy-mk4"),
        PrinterSpec("healthy-mk3", profile="mk3"),
    ]
    with BackgroundFarm(specs) as farm:
        config = folder / "link-sync.yml"
        config.write_text(yaml.safe_dump(farm.config(source=str(master.root))))
        config.chmod(0o600)
        yield farm, config, master


@pytest.mark.parametrize("command", ["status", "sync"])
def test_peak_memory_against_endless_and_huge_answers(
    hostile_farm: tuple[Any, Path, Master], command: str, tmp_path: Path
) -> None:
    farm, config, _ = hostile_farm
    env = {**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, command, "-c", str(config), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    code, peak, document = done.stdout.split("\n", 2)
    assert "Traceback" not in done.stderr, done.stderr
    assert int(code) == 1, done.stdout + done.stderr
    peak_mb = float(peak)
    assert peak_mb <= PEAK_RSS_BOUND_MB, f"{command} peaked at {peak_mb:.0f} MB"
    rows = {p["name"]: p for p in json.loads(document)["printers"]}
    for name in ("endless-status", "endless-info", "endless-listing", "huge-listing"):
        assert "larger than" in json.dumps(rows[name]), rows[name]
    assert "nested too deeply" in json.dumps(rows["deep-status"])
    for name in ("healthy-mk4", "healthy-mk3"):
        row = rows[name]
        assert row.get("status", "synced") == "synced" and row.get("reachable", True), row
    if command == "sync":
        for name in ("healthy-mk4", "healthy-mk3"):
            assert farm[name].files() == MASTER
    print(f"{command} against endless and huge answers: peak RSS {peak_mb:.0f} MB")
