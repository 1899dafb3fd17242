"""The sync engine against emulated farms over real HTTP on loopback.

Each test states one rule of the sync-engine issue and checks it on the
printers' storage and in the requests they received.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

import link_sync
from link_sync.emulator import Fault
from link_sync.engine.printer_locks import PrinterLocks
from link_sync.errors import SafetyRefusal

from sync_helpers import Master, SyncRunner, fill, spec

BUDDY_PROFILES = ["mk4", "mk4s", "mk3.5", "mk3.9", "xl", "mini", "coreone"]
ALL_PROFILES = [*BUDDY_PROFILES, "mk3"]

NESTED = {
    "benchy.gcode": b"G28\nG1 X10\n" * 50,
    "Parts/cable clip 3x.GCODE": b"G1 Y2\n" * 80,
    "Parts/Türgriff links.bgcode": b"GCDE" + b"\x01" * 300,
    "customers/ACME order 1042/bracket v3.gcode": b"G1 Z0.2\n" * 40,
    "calibration/first_layer.g": b"M104 S215\n" * 10,
}


def file_gets(printer: Any) -> list[str]:
    """Per-file GETs (not folder listings) the printer received."""
    return [
        r.path
        for r in printer.requests
        if r.method == "GET" and r.path.startswith("/api/v1/files/") and not r.path.endswith("/")
    ]


def writes(printer: Any) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in printer.requests if r.method in ("PUT", "DELETE", "POST")]


async def test_nested_master_reaches_every_profile_exactly(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, NESTED)
    farm = await farm_factory([spec(f"p-{p}", p) for p in ALL_PROFILES])
    result = await run_sync(farm)

    assert result.exit_code == 0, result.to_json()
    for printer in farm:
        expected = dict(NESTED)
        if printer.spec.profile == "mk3":
            # The Pi knows no binary G-code: reported as skipped, never sent.
            del expected["Parts/Türgriff links.bgcode"]
            report = next(p for p in result.printers if p.name == printer.name)
            assert [path for path, _ in report.skipped] == ["Parts/Türgriff links.bgcode"]
        assert printer.files() == expected, printer.name
    assert {p.status for p in result.printers} == {"synced"}


async def test_second_run_does_nothing_and_asks_no_file_on_buddy(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, NESTED)
    farm = await farm_factory([spec("mk4", "mk4"), spec("pi", "mk3")])
    await run_sync(farm)
    for printer in farm:
        printer.requests.clear()

    again = await run_sync(farm)

    assert again.exit_code == 0
    assert all(p.actions == [] for p in again.printers)
    assert again.totals() == {"uploaded": 0, "replaced": 0, "deleted": 0, "bytes": 0, "failed": 0}
    for printer in farm:
        assert writes(printer) == []
    assert file_gets(farm["mk4"]) == []  # the journal vouched for every file


async def test_journal_outlasts_clock_skew_and_the_fat_seconds_bug(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    # Master files written "now"; printers whose clocks are an hour behind
    # would look stale by timestamps alone on every run.
    for path, data in NESTED.items():
        master.write(path, data)
    farm = await farm_factory(
        [spec("behind", clock_offset=-3600), spec("bug", fat_seconds_bug=True)]
    )
    await run_sync(farm)
    for printer in farm:
        printer.requests.clear()
    again = await run_sync(farm)
    assert all(p.actions == [] for p in again.printers)
    assert all(writes(p) == [] for p in farm)


async def test_stale_file_is_replaced_by_one_overwriting_upload(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"a.gcode": b"G1 X1\n" * 10})
    farm = await farm_factory([spec("mk4"), spec("pi", "mk3")])
    await run_sync(farm)
    master.write("a.gcode", b"G1 X2\n" * 11)
    for printer in farm:
        printer.requests.clear()

    result = await run_sync(farm)

    assert result.totals()["replaced"] == 2
    for printer in farm:
        assert printer.files() == {"a.gcode": b"G1 X2\n" * 11}
        puts = [r for r in printer.requests if r.method == "PUT"]
        assert len(puts) == 1 and puts[0].headers.get("Overwrite") == "?1"
        assert not [r for r in printer.requests if r.method == "DELETE"]


async def test_local_change_with_old_mtime_is_detected_by_hash(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    old = time.time() - 86400
    master.write("a.gcode", b"G1 X1\n", mtime=old)
    farm = await farm_factory([spec("mk4")])
    await run_sync(farm)
    # Restored from a backup: same size, different content, an even older mtime.
    master.write("a.gcode", b"G1 X9\n", mtime=old - 86400)
    result = await run_sync(farm)
    assert [(a.op, a.path) for a in result.printers[0].actions] == [("replace", "a.gcode")]
    assert farm["mk4"].files() == {"a.gcode": b"G1 X9\n"}


async def test_files_already_on_the_printer_are_recognised_without_upload(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"a.gcode": b"G1\n" * 20}, age=7200)
    # Put there by hand an hour after the master file was written: same size.
    farm = await farm_factory([spec("mk4", files={"a.gcode": b"G1\n" * 20})])
    result = await run_sync(farm)
    assert result.printers[0].actions == []
    assert file_gets(farm["mk4"]) == ["/api/v1/files/usb/a.gcode"]  # one size check, once
    farm["mk4"].requests.clear()
    await run_sync(farm)
    assert file_gets(farm["mk4"]) == []


async def test_excess_deleted_after_uploads_other_files_and_outside_untouched(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"new.gcode": b"G1\n" * 10})
    farm = await farm_factory(
        [
            spec(
                "pi",
                "mk3",
                files={
                    "prints/old.gcode": b"old",
                    "prints/notes.txt": b"keep me",
                    "prints2/other.gcode": b"outside",
                    "top.gcode": b"outside too",
                },
            )
        ]
    )
    result = await run_sync(farm, config_extra={"destination": "/prints"})

    assert result.exit_code == 0, result.to_json()
    assert farm["pi"].files() == {
        "prints/new.gcode": b"G1\n" * 10,
        "prints/notes.txt": b"keep me",
        "prints2/other.gcode": b"outside",
        "top.gcode": b"outside too",
    }
    order = [m for m, _ in writes(farm["pi"])]
    assert order.index("DELETE") > order.index("PUT")  # deletes only after uploads


async def test_folders_emptied_by_deletes_are_removed(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"keep/a.gcode": b"G1\n"})
    files = {"keep/a.gcode": b"G1\n", "gone/deep/x.gcode": b"x", "gone/y.gcode": b"y"}
    farm = await farm_factory([spec("mk4", files=files), spec("pi", "mk3", files=files)])
    result = await run_sync(farm)
    assert result.exit_code == 0, result.to_json()
    for printer in farm:
        assert printer.files() == {"keep/a.gcode": b"G1\n"}
        assert printer.entry("gone") is None, printer.name
        ops = [
            (a.op, a.path)
            for a in next(r for r in result.printers if r.name == printer.name).actions
        ]
        assert ("rmdir", "gone/deep") in ops and ("rmdir", "gone") in ops


async def test_busy_printer_is_skipped_by_default(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"a.gcode": b"G1\n"})
    farm = await farm_factory(
        [
            spec("busy", files={"job.gcode": b"J"}, state="PRINTING", job_file="job.gcode"),
            spec("idle"),
        ]
    )
    result = await run_sync(farm)
    statuses = {p.name: p.status for p in result.printers}
    assert statuses == {"busy": "busy", "idle": "synced"}
    assert result.exit_code == 0
    assert writes(farm["busy"]) == []
    assert farm["busy"].files() == {"job.gcode": b"J"}


async def test_include_busy_never_touches_the_file_being_printed(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"job.gcode": b"new version\n", "a.gcode": b"G1\n"}, age=60)
    files = {"job.gcode": b"old", "excess.gcode": b"x"}
    farm = await farm_factory(
        [
            spec("mk4", files=files, state="PRINTING", job_file="job.gcode"),
            spec("pi", "mk3", files=files, state="PRINTING", job_file="job.gcode"),
        ]
    )
    result = await run_sync(farm, include_busy=True)
    assert result.exit_code == 0, result.to_json()
    for printer in farm:
        assert printer.files() == {"job.gcode": b"old", "a.gcode": b"G1\n"}, printer.name
    for report in result.printers:
        assert report.status == "busy", report.to_json()  # not in line: the stale job file
        assert [path for path, _ in report.kept] == ["job.gcode"]


@pytest.mark.parametrize("profile", ["mk4", "mk3"])
@pytest.mark.parametrize("state", ["FINISHED", "STOPPED"])
async def test_last_print_file_that_is_stale_is_replaced_once_the_print_is_over(
    farm_factory: Any, master: Master, run_sync: SyncRunner, state: str, profile: str
) -> None:
    # The print is over (done, or stopped): its file is an ordinary file again. The
    # emulator does what the firmware does: a Buddy's screen still shows the print
    # and refuses an overwrite of its file until an upload opens another preview.
    fill(master, {"a.gcode": b"G1 X1\n" * 5000, "b.gcode": b"G1\n"})
    farm = await farm_factory(
        [spec("p", profile, files={"a.gcode": b"G1\n" * 250}, state=state, job_file="a.gcode")],
        preview=True,
    )
    result = await run_sync(farm)
    report = result.printers[0]
    assert report.status == "synced", report.to_json()
    assert result.exit_code == 0
    assert sorted((a.op, a.path) for a in report.actions) == [
        ("replace", "a.gcode"),
        ("upload", "b.gcode"),
    ]
    assert report.kept == [] and report.notes == []
    assert farm["p"].files() == {"a.gcode": b"G1 X1\n" * 5000, "b.gcode": b"G1\n"}
    # the new file goes first: on a Buddy its upload leaves the finished print's screen
    puts = [r.path.rsplit("/", 1)[-1] for r in farm["p"].requests if r.method == "PUT"]
    assert puts == ["b.gcode", "a.gcode"]


@pytest.mark.parametrize("profile", ["mk4", "mk3"])
@pytest.mark.parametrize("state", ["FINISHED", "STOPPED"])
async def test_last_print_file_no_longer_in_the_master_is_deleted_once_the_print_is_over(
    farm_factory: Any, master: Master, run_sync: SyncRunner, state: str, profile: str
) -> None:
    fill(master, {"b.gcode": b"G1\n"})
    farm = await farm_factory(
        [spec("p", profile, files={"a.gcode": b"old job"}, state=state, job_file="a.gcode")],
        preview=True,
    )
    result = await run_sync(farm)
    report = result.printers[0]
    assert report.status == "synced", report.to_json()
    assert result.exit_code == 0
    assert ("delete", "a.gcode") in [(a.op, a.path) for a in report.actions]
    assert farm["p"].files() == {"b.gcode": b"G1\n"}


async def test_include_busy_keeps_a_stale_file_being_printed_and_says_so(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"a.gcode": b"G1 X1\n" * 5000, "b.gcode": b"G1\n"})
    farm = await farm_factory(
        [spec("mk4", files={"a.gcode": b"G1\n" * 250}, state="PRINTING", job_file="a.gcode")],
        preview=True,
    )
    result = await run_sync(farm, include_busy=True)
    report = result.printers[0]
    assert report.status == "busy", report.to_json()
    assert result.exit_code == 0
    assert report.notes == [
        "kept a.gcode: being printed; the master's version goes on after the print"
    ]
    assert farm["mk4"].files() == {"a.gcode": b"G1\n" * 250, "b.gcode": b"G1\n"}
    # the print ends and someone takes the part off: the next run replaces the file
    farm["mk4"].set_state("FINISHED")
    farm["mk4"].screen_back()
    after = await run_sync(farm)
    assert after.printers[0].status == "synced", after.to_json()
    assert farm["mk4"].files() == {"a.gcode": b"G1 X1\n" * 5000, "b.gcode": b"G1\n"}


async def test_include_busy_with_an_up_to_date_file_being_printed_is_synced(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"a.gcode": b"G1\n" * 250, "b.gcode": b"G1\n"})
    farm = await farm_factory(
        [spec("mk4", files={"a.gcode": b"G1\n" * 250}, state="PRINTING", job_file="a.gcode")]
    )
    result = await run_sync(farm, include_busy=True)
    report = result.printers[0]
    assert report.status == "synced", report.to_json()
    assert result.exit_code == 0
    assert report.kept == [] and report.notes == []
    assert [(a.op, a.path) for a in report.actions] == [("upload", "b.gcode")]


@pytest.mark.parametrize("up_to_date", [True, False])
async def test_plan_and_status_agree_with_sync_on_in_sync(
    farm_factory: Any,
    master: Master,
    run_sync: SyncRunner,
    tmp_path: Path,
    state_env: dict[str, str],
    up_to_date: bool,
) -> None:
    import link_sync

    fill(master, {"a.gcode": b"G1\n" * 250 if up_to_date else b"G1 X1\n" * 5000})
    farm = await farm_factory(
        [spec("mk4", files={"a.gcode": b"G1\n" * 250}, state="PRINTING", job_file="a.gcode")]
    )
    planned = await run_sync(farm, include_busy=True, dry_run=True)
    # the config run_sync uses
    config = link_sync.Config(**farm.config(source=master.root))
    status = await link_sync.status_async(config, state_dir=state_env["LINK_SYNC_STATE_DIR"])
    synced = await run_sync(farm, include_busy=True)

    in_sync = synced.printers[0].status == "synced"
    assert in_sync is up_to_date, synced.to_json()
    assert status[0].in_sync is in_sync
    plan = planned.printers[0]
    assert plan.status == "planned" and plan.actions == []
    assert bool(plan.kept) is not in_sync


async def test_printer_that_starts_printing_mid_run_gets_no_deletes(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"big.gcode": b"G1\n" * 20000})
    farm = await farm_factory([spec("mk4", rate=200_000, files={"old.gcode": b"o"})])

    async def start_printing_soon() -> None:
        await asyncio.sleep(0.1)
        farm["mk4"].start_print("old.gcode")

    starter = asyncio.create_task(start_printing_soon())
    result = await run_sync(farm)
    await starter
    assert "old.gcode" in farm["mk4"].files()
    assert "big.gcode" in farm["mk4"].files()
    assert any("deletes postponed" in n for n in result.printers[0].notes)


@pytest.mark.parametrize("how", ["missing", "empty"])
async def test_missing_or_empty_source_is_refused_before_contact(
    farm_factory: Any, master: Master, run_sync: SyncRunner, how: str
) -> None:
    farm = await farm_factory([spec("mk4", files={"a.gcode": b"keep"})])
    if how == "missing":
        master.root.rmdir()
    else:
        master.write("readme.txt", "not a print file")
    with pytest.raises(SafetyRefusal):
        await run_sync(farm)
    assert farm["mk4"].requests == []
    assert farm["mk4"].files() == {"a.gcode": b"keep"}


async def test_allow_empty_empties_the_managed_folder(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    farm = await farm_factory([spec("mk4", files={"a.gcode": b"x"})])
    result = await run_sync(farm, allow_empty=True)
    assert result.exit_code == 0
    assert farm["mk4"].files() == {}


async def test_max_delete_refuses_that_printer_only(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"a.gcode": b"G1\n"})
    many = {f"old{i}.gcode": b"x" for i in range(5)}
    farm = await farm_factory([spec("many", files=many), spec("few", files={"old.gcode": b"x"})])
    result = await run_sync(farm, max_delete=3)
    statuses = {p.name: p.status for p in result.printers}
    assert statuses == {"many": "skipped", "few": "synced"}
    assert result.exit_code == 3
    assert farm["many"].files() == many  # nothing changed at all
    assert writes(farm["many"]) == []


async def test_a_printer_another_run_holds_is_skipped_naming_it(
    farm_factory: Any, master: Master, run_sync: SyncRunner, state_env: dict[str, str]
) -> None:
    fill(master, {"a.gcode": b"G1\n"})
    farm = await farm_factory([spec("mk4"), spec("free")])
    state = Path(state_env["LINK_SYNC_STATE_DIR"])
    config = link_sync.Config(**farm.config(source=str(master.root)))
    with PrinterLocks(state, command="watch") as other:
        assert other.take([config.printers["mk4"]]) == {}
        result = await run_sync(farm)
        mk4_requests = list(farm["mk4"].requests)
        planned = await link_sync.plan_async(config, state_dir=state)
    # a plan changes nothing: it takes no lock and sees the held printer too
    assert {p.name: p.status for p in planned.printers} == {"mk4": "planned", "free": "planned"}
    statuses = {p.name: p.status for p in result.printers}
    assert statuses == {"mk4": "skipped", "free": "synced"}
    assert [p.name for p in result.printers] == ["mk4", "free"]  # the selection's order
    held = result.printers[0].error or ""
    assert held.startswith(f"locked by link-sync watch, pid {os.getpid()}")
    assert "(started 20" in held
    assert result.exit_code == 3
    assert mk4_requests == []  # the sync never contacted it
    assert "a.gcode" in farm["free"].files()


async def test_wrong_password_fails_that_printer_and_others_sync(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"a.gcode": b"G1\n"})
    farm = await farm_factory([spec("good"), spec("bad"), spec("pi", "mk3")])
    result = await run_sync(
        farm,
        printer_extra={"bad": {"password": "Zq-bad-pw-77"}, "pi": {"api_key": "Zq-bad-key-77"}},
    )
    by_name = {p.name: p for p in result.printers}
    assert by_name["good"].status == "synced"
    for name in ("bad", "pi"):
        assert by_name[name].status == "failed"
        assert "wrong password or API key" in (by_name[name].error or "")
    assert result.exit_code == 1
    assert "Zq-bad" not in str(result.to_json())  # the secret itself is never shown


async def test_offline_printer_is_unreachable_and_never_delays_the_others(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"a.gcode": b"G1\n"})
    farm = await farm_factory([spec("up"), spec("down")])
    farm["down"].go_offline()
    started = time.monotonic()
    result = await run_sync(farm)
    by_name = {p.name: p for p in result.printers}
    assert by_name["up"].status == "synced"
    assert by_name["down"].status == "unreachable"
    assert result.exit_code == 1
    assert time.monotonic() - started < 10


async def test_transient_errors_are_retried_and_the_upload_verified(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"a.gcode": b"G1\n" * 100})
    faults = [
        Fault("status", op="upload", status=409, count=1),  # another transfer in progress
        Fault("status", op="upload", status=503, count=1),
        Fault("reset", op="upload", after_bytes=0.5, count=1),
    ]
    farm = await farm_factory([spec("mk4", faults=faults)])
    result = await run_sync(farm)
    assert result.exit_code == 0, result.to_json()
    assert farm["mk4"].files() == {"a.gcode": b"G1\n" * 100}


async def test_refused_names_fail_per_file_and_the_rest_goes_on(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"ok.gcode": b"G1\n", "what?.gcode": b"G1\n", ("x" * 170) + ".gcode": b"G1\n"})
    farm = await farm_factory([spec("mk4")])
    result = await run_sync(farm)
    report = result.printers[0]
    assert farm["mk4"].files() == {"ok.gcode": b"G1\n"}
    failed = sorted(a.path for a in report.actions if not a.ok)
    assert failed == sorted(["what?.gcode", ("x" * 170) + ".gcode"])
    assert report.status == "failed" and result.exit_code == 1
    assert not [r for r in farm["mk4"].requests if r.status in (404, 414)]  # never sent


async def test_case_collision_in_master_is_refused_on_fat_only(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"A.gcode": b"upper", "a.gcode": b"lower", "b.gcode": b"b"})
    farm = await farm_factory([spec("mk4"), spec("pi", "mk3")])
    result = await run_sync(farm)
    assert farm["mk4"].files() == {"b.gcode": b"b"}
    assert farm["pi"].files() == {"A.gcode": b"upper", "a.gcode": b"lower", "b.gcode": b"b"}
    assert {p.name: p.status for p in result.printers} == {"mk4": "failed", "pi": "synced"}


async def test_dry_run_changes_nothing(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"a.gcode": b"G1\n"})
    farm = await farm_factory([spec("mk4", files={"old.gcode": b"x"})])
    result = await run_sync(farm, dry_run=True)
    assert result.dry_run and result.printers[0].status == "planned"
    assert [(a.op, a.path) for a in result.printers[0].actions] == [
        ("upload", "a.gcode"),
        ("delete", "old.gcode"),
    ]
    assert writes(farm["mk4"]) == []
    assert farm["mk4"].files() == {"old.gcode": b"x"}


async def test_seed_config_format_of_the_original_tool_is_read(
    farm_factory: Any, master: Master, tmp_path: Any, state_env: dict[str, str]
) -> None:
    import yaml

    import link_sync
    from link_sync.config import with_source

    fill(master, {"a.gcode": b"G1\n"})
    farm = await farm_factory([spec("mk4")])
    seed = {
        "mk4": {
            "printer_type": "MK4",
            "host": farm["mk4"].url,
            "username": "maker",
            "password": "maker-pass",
        }
    }
    path = tmp_path / "printers.yml"
    path.write_text(yaml.safe_dump(seed))
    config = with_source(link_sync.load_config(path, environ=state_env), master.root)
    result = await link_sync.sync_async(config, state_dir=state_env["LINK_SYNC_STATE_DIR"])
    assert result.exit_code == 0, result.to_json()
    assert farm["mk4"].files() == {"a.gcode": b"G1\n"}


async def test_pi_folders_are_created_one_level_at_a_time_and_lag_is_tolerated(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"a/b/c/deep.gcode": b"G1\n"})
    farm = await farm_factory([spec("pi", "mk3", listing_lag=0.3)])
    result = await run_sync(farm)
    assert result.exit_code == 0, result.to_json()
    folders = [r.path for r in farm["pi"].requests if r.headers.get("Create-Folder") == "?1"]
    assert folders == [
        "/api/v1/files/local/a",
        "/api/v1/files/local/a/b",
        "/api/v1/files/local/a/b/c",
    ]
    assert farm["pi"].files() == {"a/b/c/deep.gcode": b"G1\n"}


async def test_pi_destination_folder_is_created_level_by_level_before_its_contents(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    # A missing destination must not be made by the first sub-folder's PUT
    # (two new levels at once: PrusaLink 0.8.1 would never list what goes inside).
    fill(master, {"a/deep.gcode": b"G1\n"})
    farm = await farm_factory([spec("pi", "mk3")])
    result = await run_sync(farm, config_extra={"destination": "/farm/prints"})
    assert result.exit_code == 0, result.to_json()
    folders = [r.path for r in farm["pi"].requests if r.headers.get("Create-Folder") == "?1"]
    assert folders == [
        "/api/v1/files/local/farm",
        "/api/v1/files/local/farm/prints",
        "/api/v1/files/local/farm/prints/a",
    ]
    assert farm["pi"].files() == {"farm/prints/a/deep.gcode": b"G1\n"}
    # the destination is not an action of the plan: only the master's folder is reported
    assert [(a.op, a.path) for a in result.printers[0].actions] == [
        ("mkdir", "a"),
        ("upload", "a/deep.gcode"),
    ]


async def test_pi_run_ends_only_when_its_deletes_are_out_of_the_listing(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    # The Pi lists a deleted file for up to ~1 s more; a run straight after
    # must not see it (and "delete" it) again.
    fill(master, {"keep.gcode": b"G1\n"})
    files = {"keep.gcode": b"G1\n", "gone.gcode": b"G0\n"}
    farm = await farm_factory([spec("pi", "mk3", files=files, listing_lag=0.5)])
    first = await run_sync(farm)
    assert first.exit_code == 0, first.to_json()
    assert [(a.op, a.path) for a in first.printers[0].actions] == [("delete", "gone.gcode")]
    second = await run_sync(farm)
    assert second.exit_code == 0, second.to_json()
    assert second.printers[0].actions == []
