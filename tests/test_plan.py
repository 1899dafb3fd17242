"""The planner, rule by rule, with no network: tables of (master, printer, journal) -> plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from link_sync.config import Config
from link_sync.core.model import PRINT_EXTENSIONS, LocalFile, RemoteEntry
from link_sync.core.planner import KEPT_EXCESS, KEPT_STALE, Plan, PlanRules, make_plan
from link_sync.engine.journal import JournalEntry

#: the config's default (the planner has none of its own)
STALE_AFTER: float = Config.model_fields["stale_after"].default

NOW = 1_800_000_000.0
BUDDY = PlanRules(stale_after=STALE_AFTER, case_insensitive=True, extensions=PRINT_EXTENSIONS)
PI = PlanRules(
    stale_after=STALE_AFTER,
    extensions=frozenset({".gcode", ".gc", ".g", ".gco"}),
    mkdir_before_upload=True,
)


def local(path: str, size: int = 100, mtime: float = NOW - 3600) -> LocalFile:
    return LocalFile(path, Path("/master") / path, size, int(mtime * 1e9))


def remote(
    path: str, size: int | None = 100, mtime: float | None = NOW - 1800, **kw: object
) -> RemoteEntry:
    return RemoteEntry(path, is_dir=False, size=size, mtime=mtime, **kw)  # type: ignore[arg-type]


def folder(path: str) -> RemoteEntry:
    return RemoteEntry(path, is_dir=True)


def ops(plan: Plan) -> list[tuple[str, str]]:
    return [(a.op, a.path) for a in plan.actions]


def test_missing_file_is_uploaded_and_nothing_else() -> None:
    plan = make_plan([local("a.gcode")], [], {}, BUDDY)
    assert ops(plan) == [("upload", "a.gcode")]


def test_excess_print_file_is_deleted_but_other_files_are_kept() -> None:
    plan = make_plan(
        [local("a.gcode")],
        [remote("a.gcode"), remote("old.bgcode"), remote("notes.txt", print_file=False)],
        {},
        PlanRules(stale_after=STALE_AFTER, extensions=PRINT_EXTENSIONS),
    )
    assert ops(plan) == [("delete", "old.bgcode")]


def test_no_delete_plans_no_deletes() -> None:
    rules = PlanRules(stale_after=STALE_AFTER, extensions=PRINT_EXTENSIONS, delete=False)
    plan = make_plan([], [remote("old.gcode")], {}, rules)
    assert ops(plan) == []


@pytest.mark.parametrize(
    ("remote_entry", "expected"),
    [
        (remote("a.gcode", size=99), [("replace", "a.gcode")]),  # size differs
        (remote("a.gcode", mtime=NOW - 7200), [("replace", "a.gcode")]),  # master newer by 1 h
        (remote("a.gcode", mtime=NOW - 3600 - 59), []),  # within stale_after
        (remote("a.gcode", mtime=NOW - 3000), []),  # printer copy newer
    ],
)
def test_staleness_from_size_and_timestamps(
    remote_entry: RemoteEntry, expected: list[tuple[str, str]]
) -> None:
    plan = make_plan(
        [local("a.gcode")],
        [remote_entry],
        {},
        PlanRules(stale_after=STALE_AFTER, extensions=PRINT_EXTENSIONS),
    )
    assert ops(plan) == expected


def test_replace_is_one_overwriting_upload_never_a_delete() -> None:
    plan = make_plan([local("a.gcode", size=5)], [remote("a.gcode", size=4)], {}, PI)
    assert [a.op for a in plan.actions] == ["replace"]
    assert plan.deletes == []


def test_buddy_listing_without_size_asks_for_the_size_only_when_undecided() -> None:
    files = [local("old.gcode"), local("new.gcode", mtime=NOW)]
    listing = [
        remote("old.gcode", size=None, mtime=NOW - 1800),  # printer newer: size decides
        remote("new.gcode", size=None, mtime=NOW - 7200),  # master newer: stale, no size needed
    ]
    plan = make_plan(files, listing, {}, BUDDY)
    assert plan.needs_stat == ["old.gcode"]
    final = make_plan(files, listing, {}, BUDDY, stat_results={"old.gcode": remote("old.gcode")})
    assert final.is_final
    assert ops(final) == [("replace", "new.gcode")]
    assert [c.local.path for c in final.confirmed] == ["old.gcode"]


def test_journal_vouches_for_an_unchanged_file_despite_clock_skew() -> None:
    file = local("a.gcode", mtime=NOW)
    # The printer's clock is an hour behind: by timestamps alone this looks stale.
    listing = [remote("a.gcode", size=None, mtime=NOW - 3600)]
    record = JournalEntry(
        path="a.gcode",
        local_size=file.size,
        local_mtime_ns=file.mtime_ns,
        content_hash="sha256:x",
        remote_mtime=NOW - 3600,
        remote_size=100,
    )
    plan = make_plan([file], listing, {"a.gcode": record}, BUDDY)
    assert plan.is_final and ops(plan) == []
    assert plan.unchanged == 1


def test_local_change_with_old_mtime_is_found_by_its_hash() -> None:
    file = local("a.gcode", mtime=NOW - 86400)  # restored from a backup: old mtime
    record = JournalEntry(
        path="a.gcode",
        local_size=100,
        local_mtime_ns=int((NOW - 3600) * 1e9),
        content_hash="sha256:old",
        remote_mtime=NOW - 1800,
        remote_size=100,
    )
    listing = [remote("a.gcode", size=None, mtime=NOW - 1800)]
    first = make_plan([file], listing, {"a.gcode": record}, BUDDY)
    assert first.needs_hash == [(file, "sha256")]
    changed = make_plan(
        [file],
        listing,
        {"a.gcode": record},
        BUDDY,
        local_hashes={("a.gcode", "sha256"): "sha256:new"},
    )
    assert ops(changed) == [("replace", "a.gcode")]
    touched = make_plan(
        [file],
        listing,
        {"a.gcode": record},
        BUDDY,
        local_hashes={("a.gcode", "sha256"): "sha256:old"},
    )
    assert ops(touched) == []


def test_printer_copy_changed_by_someone_else_falls_back_to_listing() -> None:
    file = local("a.gcode")
    record = JournalEntry("a.gcode", 100, file.mtime_ns, "sha256:x", NOW - 1800, 100)
    listing = [remote("a.gcode", size=50, mtime=NOW - 60)]  # re-uploaded by hand, other size
    plan = make_plan([file], listing, {"a.gcode": record}, PI)
    assert ops(plan) == [("replace", "a.gcode")]


def test_content_hash_in_listing_makes_comparison_exact() -> None:
    rules = PlanRules(stale_after=STALE_AFTER, extensions=PRINT_EXTENSIONS)
    file = local("a.gcode", mtime=NOW)  # newer by timestamps, but same content
    listing = [remote("a.gcode", mtime=NOW - 7200, content_hash="sha1:abc")]
    asked = make_plan([file], listing, {}, rules)
    assert asked.needs_hash == [(file, "sha1")]
    same = make_plan([file], listing, {}, rules, local_hashes={("a.gcode", "sha1"): "sha1:abc"})
    assert ops(same) == [] and len(same.confirmed) == 1
    other = make_plan([file], listing, {}, rules, local_hashes={("a.gcode", "sha1"): "sha1:def"})
    assert ops(other) == [("replace", "a.gcode")]


def test_matching_is_case_insensitive_on_fat_and_exact_on_the_pi() -> None:
    listing = [remote("Parts/Clip.GCODE", size=100, mtime=NOW), folder("Parts")]
    buddy = make_plan([local("parts/clip.gcode")], listing, {}, BUDDY)
    assert ops(buddy) == []
    assert buddy.unchanged == 1
    pi_listing = [remote("Parts/Clip.gcode"), folder("Parts")]
    pi = make_plan([local("parts/clip.gcode")], pi_listing, {}, PI)
    assert ("upload", "parts/clip.gcode") in ops(pi)
    assert ("delete", "Parts/Clip.gcode") in ops(pi)


def test_whole_components_are_compared_never_prefixes() -> None:
    # "prints2/x.gcode" must not count as a file in "prints".
    plan = make_plan(
        [local("prints/x.gcode")],
        [folder("prints2"), remote("prints2/x.gcode"), folder("prints"), remote("prints/x.gcode")],
        {},
        PI,
    )
    assert ops(plan) == [("delete", "prints2/x.gcode"), ("rmdir", "prints2")]


def test_folders_emptied_by_deletes_are_removed_deepest_first() -> None:
    listing = [
        folder("a"),
        folder("a/b"),
        remote("a/b/old.gcode"),
        remote("a/keep.gcode"),
        folder("c"),
        folder("c/d"),
        remote("c/d/old.gcode"),
        folder("empty-before"),
    ]
    plan = make_plan([local("a/keep.gcode")], listing, {}, PI)
    assert [a.path for a in plan.rmdirs] == ["a/b", "c/d", "c"]
    assert "empty-before" not in [a.path for a in plan.rmdirs]


def test_folder_keeping_a_non_print_file_is_not_removed() -> None:
    listing = [folder("a"), remote("a/old.gcode"), remote("a/readme.txt", print_file=False)]
    plan = make_plan([], listing, {}, PI)
    assert ops(plan) == [("delete", "a/old.gcode")]


def test_pi_gets_missing_folders_created_one_level_at_a_time() -> None:
    plan = make_plan([local("x/y/z/f.gcode")], [folder("x")], {}, PI)
    assert ops(plan) == [("mkdir", "x/y"), ("mkdir", "x/y/z"), ("upload", "x/y/z/f.gcode")]


def test_file_being_printed_is_never_replaced_or_deleted() -> None:
    rules = PlanRules(stale_after=STALE_AFTER, extensions=PRINT_EXTENSIONS, protected="job.gcode")
    plan = make_plan(
        [local("job.gcode", size=5)], [remote("job.gcode", size=4), remote("x.gcode")], {}, rules
    )
    assert ops(plan) == [("delete", "x.gcode")]
    assert [(k.path, k.reason) for k in plan.kept] == [("job.gcode", KEPT_STALE)]
    gone = make_plan([], [remote("job.gcode")], {}, rules)
    assert ops(gone) == []
    assert [(k.path, k.reason) for k in gone.kept] == [("job.gcode", KEPT_EXCESS)]


def test_file_being_printed_that_is_up_to_date_is_not_kept() -> None:
    rules = PlanRules(stale_after=STALE_AFTER, extensions=PRINT_EXTENSIONS, protected="job.gcode")
    plan = make_plan([local("job.gcode", size=5)], [remote("job.gcode", size=5)], {}, rules)
    assert ops(plan) == [] and plan.kept == [] and plan.unchanged == 1


def test_unsupported_file_type_is_skipped_not_sent() -> None:
    plan = make_plan([local("a.bgcode"), local("b.gcode")], [], {}, PI)
    assert ops(plan) == [("upload", "b.gcode")]
    assert [p.path for p in plan.skipped] == ["a.bgcode"]


def test_case_collision_in_master_is_refused_on_fat() -> None:
    plan = make_plan([local("A.gcode"), local("a.gcode"), local("b.gcode")], [], {}, BUDDY)
    assert ops(plan) == [("upload", "b.gcode")]
    assert sorted(p.path for p in plan.refused) == ["A.gcode", "a.gcode"]


def test_name_problems_are_refused_per_file() -> None:
    plan = make_plan(
        [local("ok.gcode"), local("bad?.gcode")],
        [],
        {},
        BUDDY,
        name_problems={"bad?.gcode": "forbidden character"},
    )
    assert ops(plan) == [("upload", "ok.gcode")]
    assert plan.refused[0].reason == "forbidden character"


def test_read_only_entries_are_never_touched() -> None:
    plan = make_plan([], [remote("ro.gcode", read_only=True)], {}, PI)
    assert ops(plan) == []


def test_nothing_is_deleted_below_an_unreadable_master_path() -> None:
    rules = PlanRules(stale_after=STALE_AFTER, extensions=PRINT_EXTENSIONS, unreadable=("nas",))
    listing = [folder("nas"), remote("nas/a.gcode"), remote("other.gcode")]
    plan = make_plan([], listing, {}, rules)
    assert ops(plan) == [("delete", "other.gcode")]


def test_a_job_path_with_a_storage_prefix_still_protects_its_file() -> None:
    from link_sync.core.model import RemoteEntry
    from link_sync.engine.paths import names_job, protected_path

    entry = RemoteEntry(path="job.gcode", is_dir=False, size=1, mtime=0.0)
    remote = [entry]
    for job in ("prints/job.gcode", "/PrusaLink gcodes/prints/job.gcode"):
        assert protected_path(job, remote, "prints", ci=False) == "job.gcode", job
    assert protected_path("other/job.gcode", remote, "prints", ci=False) is None
    assert not names_job("prints/xjob.gcode", "job.gcode")  # whole components only
    assert not names_job("job.gcode", "")
