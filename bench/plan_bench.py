"""Target 5: CPU of scanning a 100,000-file master and planning it against 100,000 entries.

Run through `python bench/farm_bench.py plan`. Measures, in this process, with
`time.process_time()` (CPU, not wall): `scan_source` of a real folder tree, the
journal's read of 100,000 rows, and `make_plan` in three cases:

- `journal`: every file vouched for by the journal (a re-run: the common case),
- `sizes`: no journal, the listing carries sizes (PrusaLink on the Pi),
- `buddy-first`: no journal, no sizes (Buddy): the first pass that asks for sizes.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from link_sync.config import Config
from link_sync.core.model import LocalFile, RemoteEntry
from link_sync.core.planner import PlanRules, make_plan, path_key
from link_sync.engine.journal import Journal, JournalEntry
from link_sync.engine.scan import scan_source

#: the config's default (the planner has none of its own)
STALE_AFTER: float = Config.model_fields["stale_after"].default

BUDDY = PlanRules(
    stale_after=STALE_AFTER, case_insensitive=True, extensions=frozenset({".gcode", ".bgcode"})
)


def make_tree(root: Path, files: int, folders: int) -> Path:
    """`files` small G-code files in `folders` folders (kept between runs: it is slow)."""
    marker = root / f".complete-{files}-{folders}"
    if marker.exists():
        return root
    for i in range(files):
        folder = root / f"folder-{i % folders:03d}"
        if i < folders:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"part-{i:06d}.gcode").write_bytes(b"G1 X1\n")
    marker.touch()
    return root


def cpu(call: Callable[[], object], repeat: int) -> tuple[float, list[float], object]:
    """Median CPU seconds of `call()` over `repeat` runs, every run, the last result."""
    times: list[float] = []
    result: object = None
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        result = call()
        times.append(time.process_time() - start)
    return statistics.median(times), [round(t, 4) for t in times], result


def measure_plan(files: int, folders: int, repeat: int, tmp: Path) -> dict[str, Any]:
    root = make_tree(tmp / f"link-sync-bench-tree-{files}", files, folders)
    scan_s, scan_all, scanned = cpu(lambda: scan_source(root), repeat)
    local: list[LocalFile] = scanned.files  # type: ignore[attr-defined]
    assert len(local) == files, f"scanned {len(local)} files, expected {files}"

    # the printers' copies were made after the master files were last written
    copied_at = max(f.mtime for f in local) + 1
    with_size = [
        RemoteEntry(f.path, False, size=f.size, mtime=copied_at, short_path=f.path) for f in local
    ]
    no_size = [
        RemoteEntry(f.path, False, size=None, mtime=copied_at, short_path=f.path) for f in local
    ]
    dirs = [RemoteEntry(f"folder-{i:03d}", True) for i in range(folders)]
    journal = {
        path_key(f.path, True): JournalEntry(
            path_key(f.path, True), f.size, f.mtime_ns, "sha256:x", copied_at, None
        )
        for f in local
    }

    cases: dict[str, Any] = {}
    for name, remote, known in (
        ("journal", [*dirs, *no_size], journal),
        ("sizes", [*dirs, *with_size], {}),
        ("buddy-first", [*dirs, *no_size], {}),
    ):
        median, every, plan = cpu(lambda r=remote, j=known: make_plan(local, r, j, BUDDY), repeat)
        cases[name] = {
            "cpu": median,
            "cpu_all": every,
            "unchanged": plan.unchanged,  # type: ignore[attr-defined]
            "needs_stat": len(plan.needs_stat),  # type: ignore[attr-defined]
            "transfers": len(plan.transfers),  # type: ignore[attr-defined]
        }

    with tempfile.TemporaryDirectory() as state:
        db = Journal.open(Path(state) / "journal.sqlite3")
        db.record_many("bench", journal.values())
        journal_s, journal_all, _ = cpu(lambda: db.entries("bench"), repeat)
        db.close()

    total = scan_s + journal_s + cases["journal"]["cpu"]
    worst = scan_s + max(c["cpu"] for c in cases.values())
    return {
        "params": {"files": files, "remote_entries": files + folders, "folders": folders},
        "scan": {"cpu": scan_s, "cpu_all": scan_all},
        "journal_read": {"cpu": journal_s, "cpu_all": journal_all},
        "make_plan": cases,
        "total_rerun_cpu": total,
        "total_worst_cpu": worst,
    }
