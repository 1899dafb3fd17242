"""The farm by file (core/file_states): each state from the planner's own verdicts, counts
per file across printers, and a file changed since a printer was read is unknown."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from link_sync.config import Config
from link_sync.core.file_states import (
    FileState,
    MasterFiles,
    PrinterFiles,
    build_entries,
    file_keys,
    placements,
    printer_files,
)
from link_sync.core.model import LocalFile, RemoteEntry
from link_sync.core.planner import PlanRules, make_plan
from link_sync.core.targets import Target

#: the config's default (the planner has none of its own)
STALE_AFTER: float = Config.model_fields["stale_after"].default

NOW = 1_700_000_000.0
RULES = PlanRules(stale_after=STALE_AFTER, extensions=frozenset({".gcode", ".bgcode"}))


def local(path: str, size: int = 100) -> LocalFile:
    return LocalFile(path, Path("/master") / path, size, int((NOW - 3600) * 1e9))


def remote(path: str, size: int = 100) -> RemoteEntry:
    return RemoteEntry(path, is_dir=False, size=size, mtime=NOW - 3000)


FILES = (
    local("held.gcode"),
    local("missing.gcode"),
    local("older.gcode", size=200),
    local("clip_MINI.gcode"),
    local("notes.stl"),
    local("bad:name.gcode"),
)
MINI_ONLY = {"clip_MINI.gcode": "sliced for MINI; this is an MK4"}


def mk4_plan() -> PrinterFiles:
    plan = make_plan(
        FILES,
        [remote("held.gcode"), remote("older.gcode", size=150)],
        {},
        RULES,
        name_problems={"bad:name.gcode": "the printer refuses ':' in names"},
        not_wanted=MINI_ONLY,
    )
    return printer_files(FILES, plan)


def test_each_state_comes_from_the_plan() -> None:
    known = mk4_plan()
    master = MasterFiles(Path("/master"), FILES, ["mk4"])
    entries = {e.key: e for e in build_entries([master], {"mk4": known}, {})}
    got = {key: placements(e, {"mk4": known}, {})["mk4"] for key, e in entries.items()}
    assert {k: str(p.state) for k, p in got.items()} == {
        "held.gcode": "held",
        "missing.gcode": "pending",
        "older.gcode": "stale",
        "clip_MINI.gcode": "not_wanted",
        "notes.stl": "refused",
        "bad:name.gcode": "refused",
    }
    assert got["clip_MINI.gcode"].reason == "sliced for MINI; this is an MK4"
    assert got["notes.stl"].reason == "this printer cannot store this file type"
    assert got["older.gcode"].reason == "older there (size differs)"
    assert got["held.gcode"].reason is None


def test_counts_add_up_over_printers_and_unread_ones_are_unknown() -> None:
    mk4 = mk4_plan()
    mini = printer_files(FILES, make_plan(FILES, [remote(f.path) for f in FILES], {}, RULES))
    master = MasterFiles(Path("/master"), FILES, ["mk4", "mk4-b", "mini", "gone"])
    printers = {"mk4": mk4, "mk4-b": mk4, "mini": mini, "gone": None}
    entries = {e.key: e for e in build_entries([master], printers, {})}
    assert entries["clip_MINI.gcode"].counts == {
        "held": 1,
        "pending": 0,
        "stale": 0,
        "not_wanted": 2,
        "refused": 0,
        "unknown": 1,
    }
    assert entries["held.gcode"].counts["held"] == 3
    for entry in entries.values():
        assert sum(entry.counts.values()) == 4
    gone = placements(entries["held.gcode"], printers, {"gone": "unreachable: timed out"})
    assert gone["gone"].state == FileState.UNKNOWN
    assert gone["gone"].reason == "unreachable: timed out"


def test_a_file_changed_since_the_plan_is_unknown_and_a_done_upload_is_held() -> None:
    known = mk4_plan()
    now = (replace(FILES[0], size=101), *FILES[1:])
    master = MasterFiles(Path("/master"), now, ["mk4"])
    entries = {e.key: e for e in build_entries([master], {"mk4": known}, {})}
    assert entries["held.gcode"].counts["unknown"] == 1
    assert placements(entries["held.gcode"], {"mk4": known}, {})["mk4"].state == "unknown"
    uploaded = known.after("missing.gcode", None)
    entries = {e.key: e for e in build_entries([master], {"mk4": uploaded}, {})}
    assert entries["missing.gcode"].counts["held"] == 1


def test_targets_are_shown_and_several_masters_are_named_from_their_common_folder() -> None:
    a = MasterFiles(Path("/farm"), (LocalFile("x.gcode", Path("/farm/x.gcode"), 1, 0),), ["p"])
    b = MasterFiles(
        Path("/farm/xl"), (LocalFile("x.gcode", Path("/farm/xl/x.gcode"), 2, 0),), ["q"]
    )
    assert [k for k, _, _ in file_keys([a, b])] == ["x.gcode", "xl/x.gcode"]
    entries = build_entries([a, b], {}, {"/farm/xl/x.gcode": Target("XL", 0.4, "M862.3")})
    assert [(e.key, e.target.model, e.counts["unknown"]) for e in entries] == [
        ("x.gcode", None, 1),
        ("xl/x.gcode", "XL", 1),
    ]
