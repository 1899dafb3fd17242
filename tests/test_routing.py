"""Model-aware routing (issue 11): every printer gets exactly the files it can print.

Pure parts (who the printer is, which files it does not get, the planner's handling of
them) are tested with tables; the engine against emulated mixed farms over loopback HTTP;
the target cache with a real SQLite journal.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from link_sync.config import Config
from link_sync.core.model import LocalFile, RemoteEntry
from link_sync.core.planner import PlanRules, make_plan
from link_sync.core.routing import (
    MasterTargets,
    identify_printer,
    not_wanted,
    unplaced,
)
from link_sync.core.targets import NO_TARGET, Target
from link_sync.engine.journal import Journal
from link_sync.engine.masters import read_master_targets
from link_sync.sample_gcode import prusaslicer_bgcode, prusaslicer_gcode

from sync_helpers import Master, SyncRunner

# -- who the printer is ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "model", "nozzle", "note"),
    [
        (dict(names_model=True, reported_model="MK4S", reported_nozzle=0.4), "MK4S", 0.4, None),
        (
            dict(names_model=True, reported_model="PrusaLink I3MK3S", reported_nozzle=None),
            "MK3S",
            None,
            None,
        ),
        # OctoPrint / Moonraker do not know the Prusa model: a profile name does not route
        (
            dict(names_model=False, reported_model="Original Prusa MK3S", reported_nozzle=None),
            None,
            None,
            "model unknown: routing is off for this printer, it gets every file "
            "(set model: in the config)",
        ),
        (
            dict(
                names_model=False,
                reported_model="Klipper",
                reported_nozzle=None,
                configured_model="MK3S",
            ),
            "MK3S",
            None,
            None,
        ),
        (
            dict(names_model=True, reported_model=None, reported_nozzle=0.4),
            None,
            0.4,
            "model unknown: routing is off for this printer, it gets every file (the printer "
            "does not say it; set model: in the config)",
        ),
        # the config overrides what the printer says, with a note
        (
            dict(
                names_model=True, reported_model="MK4S", reported_nozzle=0.4, configured_model="MK4"
            ),
            "MK4",
            0.4,
            "model: MK4 in the config, but the printer says it is MK4S; routing by "
            "the config (the printer still checks each file)",
        ),
        (
            dict(
                names_model=True, reported_model="MK4", reported_nozzle=0.4, configured_nozzle=0.6
            ),
            "MK4",
            0.6,
            "nozzle: 0.6 in the config, but the printer says 0.4 mm; routing by the "
            "config (the printer still checks each file)",
        ),
        (
            dict(
                names_model=True,
                reported_model="MK4",
                reported_nozzle=0.4,
                configured_model="MK4IS",
                configured_nozzle=0.4,
            ),
            "MK4",
            0.4,
            None,
        ),
    ],
)
def test_identify_printer(
    kwargs: dict[str, Any], model: str | None, nozzle: float | None, note: str | None
) -> None:
    identity = identify_printer(**kwargs)
    assert (identity.model, identity.nozzle) == (model, nozzle)
    assert list(identity.notes) == ([note] if note else [])


def _local(path: str) -> LocalFile:
    return LocalFile(path, Path("/master") / path, 100, 1)


def _targets(mapping: dict[str, Target]) -> MasterTargets:
    return MasterTargets({f"/master/{path}": target for path, target in mapping.items()})


#: the config's default (the planner has none of its own)
STALE_AFTER: float = Config.model_fields["stale_after"].default

FARM_TARGETS = {
    "mk4.gcode": Target("MK4", 0.4),
    "mk4s.gcode": Target("MK4S", 0.4),
    "mk4s-06.gcode": Target("MK4S", 0.6),
    "mini.bgcode": Target("MINI", 0.4),
    "any.gcode": NO_TARGET,
}


@pytest.mark.parametrize(
    ("model", "nozzle", "accept", "away"),
    [
        ("MK4S", 0.4, (), {"mk4.gcode", "mk4s-06.gcode", "mini.bgcode"}),
        ("MK4S", None, (), {"mk4.gcode", "mini.bgcode"}),
        ("MK4S", 0.4, ("MK4",), {"mk4s-06.gcode", "mini.bgcode"}),
        ("MK3.9", 0.4, (), {"mk4s.gcode", "mk4s-06.gcode", "mini.bgcode"}),
        ("MINI", 0.4, (), {"mk4.gcode", "mk4s.gcode", "mk4s-06.gcode"}),
        (None, 0.4, (), set()),  # unknown model: everything
    ],
)
def test_not_wanted(
    model: str | None, nozzle: float | None, accept: tuple[str, ...], away: set[str]
) -> None:
    files = [_local(p) for p in FARM_TARGETS]
    identity = identify_printer(
        names_model=True, reported_model=model, reported_nozzle=nozzle, accept=accept
    )
    result = not_wanted(files, _targets(FARM_TARGETS), identity)
    assert set(result) == away
    assert "any.gcode" not in result


def test_unplaced_files_are_warned_about() -> None:
    files = [_local(p) for p in FARM_TARGETS]
    targets = _targets(FARM_TARGETS)
    mk4s = identify_printer(names_model=True, reported_model="MK4S", reported_nozzle=0.4)
    mini = identify_printer(names_model=True, reported_model="MINI", reported_nozzle=0.4)
    warnings = unplaced(
        {"mk4s": files, "mini": files},
        {"mk4s": not_wanted(files, targets, mk4s), "mini": not_wanted(files, targets, mini)},
        targets,
    )
    assert warnings == [
        "no selected printer takes mk4.gcode (sliced for MK4): the farm has no printer for it",
        "no selected printer takes mk4s-06.gcode (sliced for MK4S): the farm has no printer for it",
    ]


# -- the planner -----------------------------------------------------------------------------


def test_plan_skips_files_not_wanted_and_deletes_them_as_excess_with_the_reason() -> None:
    local = [_local("mk4.gcode"), _local("mini.gcode"), _local("any.gcode")]
    remote = [RemoteEntry("mini.gcode", False, size=100, mtime=2.0)]
    plan = make_plan(
        local,
        remote,
        {},
        PlanRules(stale_after=STALE_AFTER, extensions=frozenset({".gcode"})),
        not_wanted={"mini.gcode": "sliced for MINI; this is an MK4"},
    )
    assert [(a.op, a.path) for a in plan.transfers] == [
        ("upload", "mk4.gcode"),
        ("upload", "any.gcode"),
    ]
    assert [(p.path, p.reason) for p in plan.skipped] == [
        ("mini.gcode", "sliced for MINI; this is an MK4")
    ]
    assert [(a.op, a.path, a.reason) for a in plan.deletes] == [
        ("delete", "mini.gcode", "sliced for MINI; this is an MK4")
    ]
    kept = make_plan(
        local,
        remote,
        {},
        PlanRules(stale_after=STALE_AFTER, extensions=frozenset({".gcode"}), delete=False),
        not_wanted={"mini.gcode": "sliced for MINI; this is an MK4"},
    )
    assert kept.deletes == []


# -- the target cache ------------------------------------------------------------------------


def _scan(master: Master) -> list[LocalFile]:
    out = []
    for path in sorted(master.root.rglob("*")):
        if path.is_file():
            st = path.stat()
            rel = path.relative_to(master.root).as_posix()
            out.append(LocalFile(rel, path, st.st_size, st.st_mtime_ns))
    return out


def test_targets_are_read_once_then_cached_by_path_size_and_mtime(
    master: Master, tmp_path: Path
) -> None:
    master.write("a.gcode", prusaslicer_gcode("MK4S", 0.4))
    master.write("b.bgcode", prusaslicer_bgcode("MINIIS", 0.6))
    master.write("c.gcode", b"G28\n")
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        first = read_master_targets(_scan(master), journal)
        assert (first.read, first.cached) == (3, 0)
        second = read_master_targets(_scan(master), journal)
        assert (second.read, second.cached) == (0, 3)
        assert second.targets == first.targets
        assert second.targets[str(master.root / "b.bgcode")] == Target(
            "MINI", 0.6, "bgcode metadata"
        )
        # A changed file is read again (same size, new mtime: the content may differ).
        path = master.write("a.gcode", prusaslicer_gcode("MK4S", 0.6))
        os.utime(path, (time.time() + 5, time.time() + 5))
        third = read_master_targets(_scan(master), journal)
        assert (third.read, third.cached) == (1, 2)
        assert third.targets[str(path)].nozzle == 0.6


def test_a_journal_of_schema_1_keeps_its_uploads_and_gains_the_target_cache(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE uploads (printer_key TEXT NOT NULL, path TEXT NOT NULL,
            local_size INTEGER NOT NULL, local_mtime_ns INTEGER NOT NULL, content_hash TEXT,
            remote_mtime REAL, remote_size INTEGER, uploaded_at REAL NOT NULL,
            PRIMARY KEY (printer_key, path)) WITHOUT ROWID;
        CREATE TABLE local_hashes (abspath TEXT NOT NULL PRIMARY KEY, size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL, content_hash TEXT NOT NULL) WITHOUT ROWID;
        INSERT INTO uploads VALUES ('p', 'a.gcode', 1, 2, 'sha256:x', 3.0, 1, 4.0);
        PRAGMA user_version = 1;
        """
    )
    db.close()
    with Journal.open(path) as journal:
        assert journal.warnings == []
        assert set(journal.entries("p")) == {"a.gcode"}
        files = [LocalFile("t.gcode", tmp_path / "t.gcode", 4, 5)]
        (tmp_path / "t.gcode").write_bytes(b'M862.3 P "MINI"\n')
        files = [LocalFile("t.gcode", tmp_path / "t.gcode", 16, 5)]
        assert read_master_targets(files, journal).read == 1
        assert read_master_targets(files, journal).cached == 1


# -- the engine, on emulated mixed farms -----------------------------------------------------

MIXED_PROFILES = {
    "mk4-01": "mk4",
    "mk4s-02": "mk4s",
    "mk39-03": "mk3.9",
    "mini-04": "mini",
    "xl-05": "xl",
    "core-06": "coreone",
    "mk3s-07": "mk3",
}

#: path -> content: several models, plain and binary, plus files that name no printer
MIXED_MASTER: dict[str, bytes] = {
    "benchy_MK4IS.gcode": prusaslicer_gcode("MK4IS", 0.4, seed=1),
    "benchy_MK4S.gcode": prusaslicer_gcode("MK4S", 0.4, seed=2),
    "parts/clip_MINIIS.gcode": prusaslicer_gcode("MINIIS", 0.4, seed=3),
    "parts/clip_MINIIS.bgcode": prusaslicer_bgcode("MINIIS", 0.4, seed=4),
    "parts/handle_XL5IS.bgcode": prusaslicer_bgcode("XL5IS", 0.4, seed=5),
    "parts/box_COREONE.gcode": prusaslicer_gcode("COREONE", 0.4, check="code", seed=6),
    "parts/hook_MK3S.gcode": prusaslicer_gcode("MK3S", 0.4, header_metadata=False, seed=7),
    "mmu/tower_MK4SMMU3.gcode": prusaslicer_gcode("MK4SMMU3", 0.4, seed=8),
    "calibration/first layer.gcode": b"; hand written\nG28\nG1 Z0.2\n" * 20,
    "any/plate.gcode": prusaslicer_gcode(None, None, check=None, seed=9),
}

#: which master files each model is meant to hold
EXPECTED = {
    "mk4": {"benchy_MK4IS.gcode"},
    "mk4s": {"benchy_MK4S.gcode", "mmu/tower_MK4SMMU3.gcode"},
    "mk3.9": {"benchy_MK4IS.gcode"},
    "mini": {"parts/clip_MINIIS.gcode", "parts/clip_MINIIS.bgcode"},
    "xl": {"parts/handle_XL5IS.bgcode"},
    "coreone": {"parts/box_COREONE.gcode"},
    "mk3": {"parts/hook_MK3S.gcode"},
}
TARGETLESS = {"calibration/first layer.gcode", "any/plate.gcode"}


def _spec(name: str, profile: str, **kw: Any) -> Any:
    from link_sync.emulator import PrinterSpec

    if profile == "mk3":
        kw.setdefault("api_key", "pi-key-123")
    return PrinterSpec(name, profile=profile, **kw)


def _fill(master: Master, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        master.write(path, data, mtime=time.time() - 3600)


def _writes(printer: Any) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in printer.requests if r.method in ("PUT", "DELETE", "POST")]


async def test_mixed_farm_each_printer_holds_exactly_its_wanted_set(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    _fill(master, MIXED_MASTER)
    farm = await farm_factory([_spec(n, p) for n, p in MIXED_PROFILES.items()])

    result = await run_sync(farm)

    assert result.exit_code == 0, result.to_json()
    for printer in farm:
        profile = printer.spec.profile
        wanted = EXPECTED[profile] | TARGETLESS
        assert set(printer.files()) == wanted, printer.name
        for path in wanted:
            assert printer.files()[path] == MIXED_MASTER[path]
        report = next(p for p in result.printers if p.name == printer.name)
        assert report.status == "synced"
        assert report.wanted_files == len(wanted)
        # every file it does not get is explained
        skipped = dict(report.skipped)
        assert set(skipped) == set(MIXED_MASTER) - wanted
        assert all(reason.startswith("sliced for ") for reason in skipped.values())
        assert printer.state != "ATTENTION"
    mk4 = next(p for p in result.printers if p.name == "mk4-01")
    assert dict(mk4.skipped)["parts/clip_MINIIS.gcode"] == "sliced for MINI; this is an MK4"
    assert not [w for w in result.warnings if "takes" in w]  # every file has a printer

    # --json: a `skipped` entry with the reason for each such file; the actions keep
    # the contract's op values only
    document = result.to_json()
    mini_json = next(p for p in document["printers"] if p["name"] == "mini-04")
    skipped_json = {s["path"]: s["reason"] for s in mini_json["skipped"]}
    assert skipped_json["benchy_MK4S.gcode"] == "sliced for MK4S; this is a MINI"
    contract_ops = {"upload", "replace", "delete", "mkdir", "rmdir"}
    assert all(a["op"] in contract_ops for p in document["printers"] for a in p["actions"])
    assert document["totals"]["uploaded"] == sum(
        len(EXPECTED[p] | TARGETLESS) for p in MIXED_PROFILES.values()
    )

    # a second run does nothing
    for printer in farm:
        printer.requests.clear()
    again = await run_sync(farm)
    assert again.exit_code == 0
    assert all(p.actions == [] for p in again.printers)
    assert all(_writes(printer) == [] for printer in farm)


async def test_a_file_for_another_model_on_the_printer_is_excess(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    """A master file not meant for the printer is deleted from it after the uploads, counted
    by --max-delete, and the plan says why."""
    _fill(master, MIXED_MASTER)
    mini_file = MIXED_MASTER["parts/clip_MINIIS.gcode"]
    farm = await farm_factory(
        [_spec("mk4-01", "mk4", files={"parts/clip_MINIIS.gcode": mini_file})]
    )

    planned = await run_sync(farm, dry_run=True)
    deletes = [(a.op, a.path, a.reason) for a in planned.printers[0].actions if a.op == "delete"]
    assert deletes == [("delete", "parts/clip_MINIIS.gcode", "sliced for MINI; this is an MK4")]

    refused = await run_sync(farm, max_delete=0)
    assert refused.exit_code == 3
    assert "parts/clip_MINIIS.gcode" in farm["mk4-01"].files()

    result = await run_sync(farm)
    assert result.exit_code == 0, result.to_json()
    assert set(farm["mk4-01"].files()) == EXPECTED["mk4"] | TARGETLESS
    order = [m for m, _ in _writes(farm["mk4-01"])]
    assert order.index("DELETE") > max(i for i, m in enumerate(order) if m == "PUT")


async def test_a_file_no_printer_takes_is_a_warning(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    _fill(master, {"a_MINIIS.gcode": MIXED_MASTER["parts/clip_MINIIS.gcode"], "b.gcode": b"G28\n"})
    farm = await farm_factory([_spec("mk4-01", "mk4"), _spec("xl-05", "xl")])
    result = await run_sync(farm)
    assert result.exit_code == 0
    assert [w for w in result.warnings if "chmod" not in w] == [
        "no selected printer takes a_MINIIS.gcode (sliced for MINI): the farm has no printer for it"
    ]
    assert all(set(p.files()) == {"b.gcode"} for p in farm)


async def test_status_shows_how_many_files_are_meant_for_each_printer(
    farm_factory: Any, master: Master, state_env: dict[str, str], tmp_path: Path
) -> None:
    import link_sync
    from link_sync.report import status_lines

    _fill(master, MIXED_MASTER)
    farm = await farm_factory([_spec("mini-04", "mini"), _spec("mk4s-02", "mk4s")])
    config = link_sync.Config(**farm.config(source=master.root))
    report = await link_sync.status_async(config, state_dir=state_env["LINK_SYNC_STATE_DIR"])
    rows = {row.name: row.to_json() for row in report}
    assert rows["mini-04"]["wanted_files"] == 4 and rows["mini-04"]["wanted_held"] == 0
    assert rows["mk4s-02"]["wanted_files"] == 4
    lines = status_lines(report)
    assert any(line.startswith("mini-04:") and "wanted=4, 4 to send" in line for line in lines)


# -- the printer's screen (the emulator's print preview is on, as on a real printer) --------


async def test_the_preview_each_upload_opens_shows_a_file_that_fits_the_printer(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    from link_sync.core.printer_models import fits
    from link_sync.core.targets import read_target

    _fill(master, MIXED_MASTER)
    farm = await farm_factory([_spec(n, p) for n, p in MIXED_PROFILES.items()], preview=True)
    result = await run_sync(farm)
    assert result.exit_code == 0, result.to_json()
    for printer in farm:
        if printer.spec.profile == "mk3":
            continue  # the Pi PrusaLink has no preview screen
        on_screen = printer.screen_file
        assert on_screen is not None, printer.name
        fit = fits(read_target(master.root / on_screen), printer.profile.model, 0.4)
        assert fit.ok, (printer.name, on_screen, fit.reason)
        assert printer.state == "IDLE"
    for printer in farm:
        printer.requests.clear()
    again = await run_sync(farm)
    assert again.exit_code == 0 and all(p.actions == [] for p in again.printers)
    # Someone presses Print on each preview: the firmware checks the file; none asks.
    for printer in farm:
        if printer.preview is not None:
            assert printer.press_print()
            assert printer.state == "PRINTING", (printer.name, printer.question)


@pytest.mark.parametrize("change", ["replace", "delete"])
async def test_a_file_open_on_the_screen_is_reported_not_retried(
    farm_factory: Any, master: Master, run_sync: SyncRunner, change: str
) -> None:
    """409 "File is busy" for the previewed file: one attempt, a clear report, exit 1;
    after Back on the printer's screen the next run completes."""
    _fill(master, {"a.gcode": MIXED_MASTER["benchy_MK4IS.gcode"]})
    farm = await farm_factory([_spec("mk4-01", "mk4")], preview=True)
    printer = farm["mk4-01"]
    await run_sync(farm)
    assert printer.screen_file == "a.gcode"
    if change == "replace":
        master.write("a.gcode", prusaslicer_gcode("MK4IS", 0.4, seed=42))
    else:
        master.remove("a.gcode")
        master.write("b.gcode", b"G28\n")
    printer.requests.clear()

    result = await run_sync(farm)

    report = result.printers[0]
    assert result.exit_code == 1 and report.status == "failed"
    done = "replaced" if change == "replace" else "deleted"
    failed = [a for a in report.actions if not a.ok]
    assert [(a.op, a.path, a.error) for a in failed] == [
        (
            change,
            "a.gcode",
            f"open on the printer's screen — it will be {done} once the screen is closed",
        )
    ]
    method = "PUT" if change == "replace" else "DELETE"
    tries = [r for r in printer.requests if r.method == method and r.path.endswith("/a.gcode")]
    assert len(tries) == 1  # not retried
    assert "a.gcode" in printer.files()

    printer.screen_back()
    healed = await run_sync(farm)
    assert healed.exit_code == 0, healed.to_json()
    if change == "replace":
        assert printer.files()["a.gcode"] == master.files()["a.gcode"]
    else:
        assert set(printer.files()) == {"b.gcode"}


async def test_a_printer_turning_attention_after_our_upload_is_reported_naming_its_screen(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    """Someone presses Print on a preview whose file asks a question (what the firmware does
    for a wrong-printer file): the run reports the printer's question, not 'busy'."""
    import asyncio

    _fill(
        master,
        {
            "a.gcode": MIXED_MASTER["benchy_MK4IS.gcode"],
            "z-big.gcode": b"G1 X1\n" * 60_000,
        },
    )
    farm = await farm_factory(
        [_spec("mk4-01", "mk4", rate=300_000, files={"old.gcode": b"G28\n"})], preview=True
    )
    printer = farm["mk4-01"]

    async def press_print_on_the_preview() -> None:
        while printer.screen_file is None:
            await asyncio.sleep(0.01)
        printer.start_print(printer.screen_file)
        printer.set_state("ATTENTION")

    presser = asyncio.create_task(press_print_on_the_preview())
    result = await run_sync(farm)
    await presser

    report = result.printers[0]
    assert result.exit_code == 1 and report.status == "failed"
    assert report.error is not None and "ATTENTION" in report.error
    assert "about a.gcode" in report.error
    assert "deletes postponed: the printer is ATTENTION" in report.notes
    assert "old.gcode" in printer.files()  # no deletes while it asks


async def test_the_printers_own_nozzle_routes(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    """Buddy printers tell their nozzle (/api/version, /api/v1/info): a 0.6 mm printer gets
    the 0.6 mm files of its model, a 0.4 mm printer the 0.4 mm ones."""
    _fill(
        master,
        {
            "b_0.4n.gcode": prusaslicer_gcode("MK4S", 0.4, seed=1),
            "b_0.6n.bgcode": prusaslicer_bgcode("MK4S", 0.6, seed=2),
            "any.gcode": b"G28\n",
        },
    )
    farm = await farm_factory([_spec("s04", "mk4s"), _spec("s06", "mk4s", nozzle_diameter=0.6)])
    result = await run_sync(farm)
    assert result.exit_code == 0, result.to_json()
    assert set(farm["s04"].files()) == {"b_0.4n.gcode", "any.gcode"}
    assert set(farm["s06"].files()) == {"b_0.6n.bgcode", "any.gcode"}
    s04 = next(p for p in result.printers if p.name == "s04")
    assert dict(s04.skipped) == {
        "b_0.6n.bgcode": "sliced for a 0.6 mm nozzle; this printer has 0.4 mm"
    }


async def test_plain_output_explains_every_file_a_printer_does_not_get(
    farm_factory: Any, master: Master, state_env: dict[str, str], tmp_path: Path
) -> None:
    import io

    import link_sync
    from link_sync.report import PlainLog

    _fill(master, MIXED_MASTER)
    farm = await farm_factory(
        [_spec("mini-04", "mini", files={"benchy_MK4S.gcode": MIXED_MASTER["benchy_MK4S.gcode"]})]
    )
    config = link_sync.Config(**farm.config(source=master.root))
    out = io.StringIO()
    await link_sync.plan_async(
        config,
        observer=PlainLog(out, dry_run=True),
        state_dir=state_env["LINK_SYNC_STATE_DIR"],
    )
    lines = out.getvalue().splitlines()
    for path in set(MIXED_MASTER) - EXPECTED["mini"] - TARGETLESS:
        target = "sliced for "
        assert any(line.startswith(f"mini-04: skip {path}: {target}") for line in lines), (
            path,
            lines,
        )
    assert "mini-04: would delete benchy_MK4S.gcode (sliced for MK4S; this is a MINI)" in lines


# -- the config keys: route, model, nozzle, accept -------------------------------------------


async def test_route_all_gives_every_printer_every_file(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    _fill(master, MIXED_MASTER)
    farm = await farm_factory([_spec("mk4-01", "mk4"), _spec("mini-04", "mini")])
    result = await run_sync(farm, config_extra={"route": "all"})
    assert result.exit_code == 0, result.to_json()
    for printer in farm:
        assert set(printer.files()) == set(MIXED_MASTER), printer.name
    assert all(p.skipped == [] for p in result.printers)


async def test_accept_takes_another_models_files(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    _fill(master, MIXED_MASTER)
    farm = await farm_factory([_spec("plain", "mk4s"), _spec("fan-compat", "mk4s")])
    result = await run_sync(farm, printer_extra={"fan-compat": {"accept": ["MK4"]}})
    assert result.exit_code == 0, result.to_json()
    assert set(farm["plain"].files()) == EXPECTED["mk4s"] | TARGETLESS
    assert set(farm["fan-compat"].files()) == EXPECTED["mk4s"] | EXPECTED["mk4"] | TARGETLESS


async def test_config_model_and_nozzle_override_what_the_printer_says(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    files = {
        "mini_0.4n.gcode": prusaslicer_gcode("MINIIS", 0.4, seed=1),
        "mini_0.6n.gcode": prusaslicer_gcode("MINIIS", 0.6, seed=2),
        "mk4_0.4n.gcode": prusaslicer_gcode("MK4IS", 0.4, seed=3),
    }
    _fill(master, files)
    # a Buddy MK4 (it tells its nozzle, not its model) and a Pi PrusaLink (it says MK3S)
    farm = await farm_factory([_spec("p", "mk4"), _spec("pi", "mk3")])
    result = await run_sync(
        farm,
        printer_extra={"p": {"model": "MINI", "nozzle": 0.6}, "pi": {"model": "MK4"}},
    )
    assert result.exit_code == 0, result.to_json()
    assert set(farm["p"].files()) == {"mini_0.6n.gcode"}
    assert set(farm["pi"].files()) == {"mk4_0.4n.gcode"}
    by_name = {p.name: p for p in result.printers}
    assert any("nozzle: 0.6 in the config" in n for n in by_name["p"].notes), by_name["p"].notes
    assert any("the printer says it is MK3S" in n for n in by_name["pi"].notes)


async def test_defaults_carry_the_routing_keys(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    _fill(master, MIXED_MASTER)
    farm = await farm_factory([_spec("a", "mk4s"), _spec("b", "mk4s")])
    result = await run_sync(farm, config_extra={"defaults": {"accept": ["MK4"]}})
    assert result.exit_code == 0, result.to_json()
    for printer in farm:
        assert set(printer.files()) == EXPECTED["mk4s"] | EXPECTED["mk4"] | TARGETLESS


async def test_an_accepted_file_asks_on_the_screen_when_printed_and_the_run_says_so(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    """`accept: [MK4]` on an MK4S: the MK4 file is sent, but the firmware asks before
    printing it. Someone presses Print on the preview during our run: the printer turns
    ATTENTION, and the run reports that question naming the file, not a busy printer."""
    import asyncio

    _fill(
        master,
        {
            "a_MK4IS.gcode": MIXED_MASTER["benchy_MK4IS.gcode"],
            "z-big.gcode": b"G1 X1\n" * 60_000,
        },
    )
    farm = await farm_factory(
        [_spec("mk4s-02", "mk4s", rate=300_000, files={"old.gcode": b"G28\n"})], preview=True
    )
    printer = farm["mk4s-02"]

    async def press_print_on_the_preview() -> None:
        while printer.preview is None:
            await asyncio.sleep(0.01)
        printer.press_print()

    presser = asyncio.create_task(press_print_on_the_preview())
    result = await run_sync(farm, printer_extra={"mk4s-02": {"accept": ["MK4"]}})
    await presser

    assert printer.state == "ATTENTION"
    assert printer.question == "sliced for MK4; this is an MK4S"
    report = result.printers[0]
    assert result.exit_code == 1 and report.status == "failed"
    assert report.error is not None and "about a_MK4IS.gcode" in report.error
    assert "old.gcode" in printer.files()  # no deletes while it asks


# -- the command line -----------------------------------------------------------------------


def test_cli_plan_on_a_terminal_and_sync_json_explain_the_files_a_printer_does_not_get(
    tmp_path: Path,
) -> None:
    import json
    import signal
    import subprocess
    import sys

    import pexpect
    import yaml

    from test_cli_output import ANSI, start_emulator

    process, _ = start_emulator(tmp_path, "--printers", "1", "--profile", "mini", "--no-preview")
    try:
        master = Master(tmp_path / "master")
        master.write("mk4.gcode", MIXED_MASTER["benchy_MK4IS.gcode"])
        master.write("mini.gcode", MIXED_MASTER["parts/clip_MINIIS.gcode"])
        config = yaml.safe_load((tmp_path / "emulated.yml").read_text())
        config["source"] = str(master.root)
        path = tmp_path / "link-sync.yml"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        env = {**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state")}
        env.pop("NO_COLOR", None)

        child = pexpect.spawn(
            sys.executable,
            ["-m", "link_sync", "plan", "-c", str(path)],
            env={**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
            cwd=str(tmp_path),
            encoding="utf-8",
            dimensions=(40, 120),
            timeout=60,
        )
        child.expect(pexpect.EOF)
        child.close()
        screen = " ".join(ANSI.sub("", child.before or "").split())
        assert child.exitstatus == 0, screen
        assert "note: skip mk4.gcode: sliced for MK4; this is a MINI" in screen

        done = subprocess.run(
            [sys.executable, "-m", "link_sync", "sync", "--json", "-c", str(path)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        printer = json.loads(done.stdout)["printers"][0]
        assert [(a["op"], a["path"]) for a in printer["actions"]] == [("upload", "mini.gcode")]
        assert printer["skipped"] == [
            {"path": "mk4.gcode", "reason": "sliced for MK4; this is a MINI"}
        ]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


async def test_buddy_printers_are_routed_by_the_configs_model(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    """A MINI and an MK4S answer as their firmware does: neither names its model. The
    config's `model:` routes PrusaSlicer's files to them; without it routing is off and
    each gets every file, with a note that says so."""
    files = {
        "mini/clip_0.4n_MINIIS.gcode": prusaslicer_gcode("MINIIS", 0.4, seed=11),
        "mk4s/bracket_0.4n_MK4S.gcode": prusaslicer_gcode("MK4IS", 0.4, firmware_model="MK4S"),
        "mk4s/hook_0.4n_MK4S.bgcode": prusaslicer_bgcode("MK4S", 0.4, seed=12),
        "calibration.gcode": b"G28\nG1 X10 Y10\n",  # names no printer: for all
    }
    _fill(master, files)
    farm = await farm_factory([_spec("mini-01", "mini"), _spec("mk4s-02", "mk4s")])
    config = farm.config()
    assert config["printers"]["mini-01"]["model"] == "MINI"
    assert config["printers"]["mk4s-02"]["model"] == "MK4S"

    result = await run_sync(farm)
    assert result.exit_code == 0, result.to_json()
    assert set(farm["mini-01"].files()) == {"mini/clip_0.4n_MINIIS.gcode", "calibration.gcode"}
    assert set(farm["mk4s-02"].files()) == {
        "mk4s/bracket_0.4n_MK4S.gcode",
        "mk4s/hook_0.4n_MK4S.bgcode",
        "calibration.gcode",
    }
    assert {p.name: p.model for p in result.printers} == {"mini-01": "MINI", "mk4s-02": "MK4S"}
    # the printers themselves never said it
    for printer in farm:
        version = [r for r in printer.requests if r.path == "/api/version" and r.status == 200]
        assert version and not any(r.path == "/api/v1/info" for r in printer.requests)


async def test_a_buddy_printer_without_model_gets_every_file(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    files = {
        "clip_MINIIS.gcode": prusaslicer_gcode("MINIIS", 0.4, seed=21),
        "bracket_MK4S.gcode": prusaslicer_gcode("MK4IS", 0.4, firmware_model="MK4S", seed=22),
    }
    _fill(master, files)
    farm = await farm_factory([_spec("mini-01", "mini")])
    result = await run_sync(farm, printer_extra={"mini-01": {"model": None}})
    assert result.exit_code == 0, result.to_json()
    assert set(farm["mini-01"].files()) == set(files)
    assert any("model unknown: routing is off" in n for n in result.printers[0].notes)
