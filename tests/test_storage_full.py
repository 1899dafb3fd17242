"""A printer short of space and a printer without a USB stick (issue 17).

The files link-sync exists to clean up (one-off prints no longer in the master)
must not block the uploads that would replace them: when a printer refuses an
upload for space, its planned excess goes first, and the refused upload is
tried again. When space still runs out, sending to that printer stops at once
with the shortfall named, instead of trying every remaining file.
"""

from __future__ import annotations

import time
from typing import Any

from link_sync.emulator import PrinterSpec

from sync_helpers import Master, SyncRunner

KB = 1000
ONE_OFFS = {f"old/one-off {i}.gcode": b"O" * (40 * KB) for i in range(4)}
NEW = {f"new {i}.gcode": bytes([65 + i]) * (30 * KB) for i in range(5)}


def fill(master: Master, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        master.write(path, data, mtime=time.time() - 3600)


def refused_for_space(printer: Any) -> int:
    return sum(1 for r in printer.requests if r.method == "PUT" and r.status == 507)


def mk4(name: str, **kw: Any) -> PrinterSpec:
    return PrinterSpec(name, profile="mk4", **kw)


async def test_full_stick_is_cleaned_and_filled_in_one_run(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, NEW)
    farm = await farm_factory([mk4("full", capacity=200 * KB, files=dict(ONE_OFFS))])

    result = await run_sync(farm)

    printer = farm["full"]
    assert result.exit_code == 0, result.to_json()
    assert printer.files() == NEW
    report = result.printers[0]
    assert report.status == "synced"
    assert sorted(a.path for a in report.actions if a.op == "delete" and a.ok) == sorted(ONE_OFFS)
    # One refusal started the clean-up; nothing else was refused.
    assert refused_for_space(printer) == 1


async def test_too_small_even_after_deletes_stops_and_names_the_shortfall(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, NEW)
    one_off = {"old/one-off.gcode": b"O" * (40 * KB)}
    farm = await farm_factory([mk4("small", capacity=100 * KB, files=dict(one_off))])

    result = await run_sync(farm)

    printer = farm["small"]
    assert result.exit_code == 1
    report = result.printers[0]
    assert report.status == "failed"
    # The one-off made room; three new files fit, two did not.
    assert "old/one-off.gcode" not in printer.files()
    assert len(printer.files()) == 3
    assert refused_for_space(printer) <= 2
    assert report.error is not None
    assert "storage full: 2 files (60.0 kB) not sent" in report.error, report.error
    not_sent = [a.path for a in report.actions if not a.ok]
    assert len(not_sent) == 2
    assert all("storage full" in (a.error or "") for a in report.actions if not a.ok)


async def test_small_files_and_replaces_are_not_starved_by_a_huge_file(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, {"0-huge.gcode": b"H" * (150 * KB), "a.gcode": b"a" * (20 * KB)})
    master.write("b.gcode", b"b" * (20 * KB))  # newer than the printer's copy: a replace
    farm = await farm_factory(
        [mk4("p", capacity=100 * KB, files={"b.gcode": b"old b" * 10, "x.gcode": b"x" * 50 * KB})]
    )

    result = await run_sync(farm)

    files = farm["p"].files()
    assert files["a.gcode"] == b"a" * (20 * KB)
    assert files["b.gcode"] == b"b" * (20 * KB)
    assert "0-huge.gcode" not in files
    assert "x.gcode" not in files  # excess, deleted to make room
    report = result.printers[0]
    assert result.exit_code == 1
    assert report.error is not None and "0-huge.gcode" in report.error
    assert "storage full: 1 file (150.0 kB) not sent" in report.error


async def test_max_delete_still_refuses_beyond_its_limit(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, NEW)
    farm = await farm_factory([mk4("full", capacity=200 * KB, files=dict(ONE_OFFS))])

    result = await run_sync(farm, max_delete=2)

    assert result.exit_code == 3
    assert result.printers[0].status == "skipped"
    assert farm["full"].files() == ONE_OFFS  # nothing changed


async def test_the_file_being_printed_is_never_deleted_to_make_room(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, NEW)
    printing = "old/one-off 0.gcode"
    farm = await farm_factory(
        [
            mk4(
                "busy",
                capacity=180 * KB,
                files=dict(ONE_OFFS),
                state="PRINTING",
                job_file=printing,
            )
        ]
    )

    result = await run_sync(farm, include_busy=True)

    files = farm["busy"].files()
    assert files[printing] == ONE_OFFS[printing]
    # Three one-offs made 120 kB of room next to the 40 kB print: four new files fit.
    assert sum(1 for path in files if path.startswith("new ")) == 4
    report = result.printers[0]
    assert report.status == "failed"
    assert refused_for_space(farm["busy"]) == 2
    assert report.error is not None and "storage full: 1 file (30.0 kB) not sent" in report.error


async def test_plan_warns_when_the_plan_does_not_fit(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    """The Pi's PrusaLink reports its free space: the plan says it will not fit."""
    fill(master, NEW)
    farm = await farm_factory(
        [PrinterSpec("pi", profile="mk3", api_key="pi-key-123", capacity=100 * KB)]
    )

    result = await run_sync(farm, dry_run=True)

    report = result.printers[0]
    warnings = " ".join(report.notes)
    assert "does not fit" in warnings, report.notes
    assert "150.0 kB" in warnings and "100.0 kB free" in warnings
    assert farm["pi"].files() == {}


async def test_a_printer_without_usb_stick_fails_alone_and_syncs_after_insert(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    fill(master, NEW)
    farm = await farm_factory([mk4("no-stick", usb=False), mk4("ok")])

    first = await run_sync(farm)

    by_name = {p.name: p for p in first.printers}
    assert first.exit_code == 1
    assert by_name["ok"].status == "synced"
    assert by_name["no-stick"].status == "failed"
    assert by_name["no-stick"].error == "no USB stick in the printer"
    # Nothing was listed or sent to a storage that is not there.
    paths = [r.path for r in farm["no-stick"].requests]
    assert not any(p.startswith("/api/v1/files") for p in paths), paths
    assert not any(r.method == "PUT" for r in farm["no-stick"].requests)

    farm["no-stick"].usb_insert()
    second = await run_sync(farm)

    assert second.exit_code == 0, second.to_json()
    assert farm["no-stick"].files() == NEW


async def test_status_says_the_usb_stick_is_missing(
    farm_factory: Any, master: Master, state_env: dict[str, str]
) -> None:
    import link_sync

    fill(master, NEW)
    farm = await farm_factory([mk4("no-stick", usb=False)])
    config = link_sync.Config(**farm.config(source=master.root))

    reports = await link_sync.status_async(config, state_dir=state_env["LINK_SYNC_STATE_DIR"])

    report = reports[0]
    assert report.reachable is True
    assert report.in_sync is not True  # unknown: nothing could be listed
    assert report.to_json()["error"] == "no USB stick in the printer"
