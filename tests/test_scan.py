"""Master folder scans on real files: filters, symlinks, problems, speed, hashing."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from link_sync.engine.scan import (
    HASH_CHUNK,
    MAX_PATHS_PER_FOLDER,
    ScanResult,
    hash_file,
    scan_source,
)
from link_sync.errors import SafetyRefusal, SourceMissing

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def make(root: Path, relative: str, content: bytes = b"G28\n") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def paths(result: ScanResult) -> list[str]:
    return [item.path for item in result.files]


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes | str]]:
    """Every entry below root with its mode, mtime and content (or link target)."""
    seen: dict[str, tuple[int, int, bytes | str]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            body: bytes | str = (
                os.readlink(path)
                if os.path.islink(path)
                else (b"" if name in dirs else Path(path).read_bytes())
            )
            seen[os.path.relpath(path, root)] = (info.st_mode, info.st_mtime_ns, body)
    return seen


def test_nested_print_files_sorted_with_stat(tmp_path: Path) -> None:
    make(tmp_path, "b.gcode", b"x" * 10)
    make(tmp_path, "a/z.bgcode")
    make(tmp_path, "a/b/c.gco")
    os.utime(tmp_path / "b.gcode", ns=(1, 1_600_000_000_123_456_789))

    result = scan_source(tmp_path)

    assert paths(result) == ["a/b/c.gco", "a/z.bgcode", "b.gcode"]
    b = result.files[-1]
    assert b.size == 10
    assert b.mtime_ns == 1_600_000_000_123_456_789
    assert b.abspath == tmp_path / "b.gcode"
    assert result.problems == [] and result.incomplete == []


def test_only_print_extensions_any_case(tmp_path: Path) -> None:
    kept = ["a.gcode", "B.GCODE", "c.BGCode", "d.g", "e.gc", "f.gco", "g.bgc", "h.G"]
    dropped = ["readme.txt", "model.3mf", "model.stl", "gcode", "x.gcode.bak", "noext", "x.gcodex"]
    for name in kept + dropped:
        make(tmp_path, name)
    assert paths(scan_source(tmp_path)) == sorted(kept)


def test_dot_files_and_dot_folders_skipped(tmp_path: Path) -> None:
    make(tmp_path, ".hidden.gcode")
    make(tmp_path, ".git/objects/x.gcode")
    make(tmp_path, "sub/.Trash/y.gcode")
    make(tmp_path, "sub/ok.gcode")
    assert paths(scan_source(tmp_path)) == ["sub/ok.gcode"]


def test_spaces_and_non_ascii_names(tmp_path: Path) -> None:
    make(tmp_path, "Díly pro tiskárnu/Držák 2×.gcode")
    make(tmp_path, "my parts/clip (v2).bgcode")
    assert paths(scan_source(tmp_path)) == [
        "Díly pro tiskárnu/Držák 2×.gcode",
        "my parts/clip (v2).bgcode",
    ]


def test_empty_master(tmp_path: Path) -> None:
    make(tmp_path, "notes.txt")
    (tmp_path / "empty").mkdir()
    result = scan_source(tmp_path)
    assert result.files == [] and result.problems == []


def test_symlinked_files_and_folders_are_followed(tmp_path: Path) -> None:
    master, elsewhere = tmp_path / "master", tmp_path / "elsewhere"
    make(elsewhere, "shared/part.gcode", b"12345")
    make(elsewhere, "single.bgcode")
    make(master, "own.gcode")
    (master / "linked").symlink_to(elsewhere / "shared")
    (master / "alias.bgcode").symlink_to(elsewhere / "single.bgcode")

    result = scan_source(master)

    assert paths(result) == ["alias.bgcode", "linked/part.gcode", "own.gcode"]
    linked = result.files[1]
    assert linked.size == 5  # the target's size, not the link's
    assert linked.abspath == master / "linked" / "part.gcode"


def test_two_links_to_one_folder_both_listed(tmp_path: Path) -> None:
    master = tmp_path / "master"
    make(tmp_path, "shared/p.gcode")
    make(master, "x.gcode")
    (master / "a").symlink_to(tmp_path / "shared")
    (master / "b").symlink_to(tmp_path / "shared")
    assert paths(scan_source(master)) == ["a/p.gcode", "b/p.gcode", "x.gcode"]


def test_a_symlink_dag_is_answered_in_seconds_each_folder_under_a_few_paths(
    tmp_path: Path,
) -> None:
    """19 folders, one file each, each folder linking twice to the next (36 symlinks):
    2**18 paths to the deepest folder. Issue 29: `plan` took 44-57 s and planned
    524,287 uploads. Each real folder is now listed under at most MAX_PATHS_PER_FOLDER
    paths; the other paths are said (once per folder) and marked incomplete."""
    for level in range(19):
        make(tmp_path, f"d{level}/f{level}.gcode")
    for level in range(18):
        for name in ("a", "b"):
            (tmp_path / f"d{level}" / name).symlink_to(tmp_path / f"d{level + 1}")

    started = time.monotonic()
    result = scan_source(tmp_path / "d0")
    seconds = time.monotonic() - started

    assert seconds < 20, seconds  # measured 0.05 s
    names = {path.rpartition("/")[2] for path in paths(result)}
    assert names == {f"f{level}.gcode" for level in range(19)}  # every real file listed
    assert len(result.files) <= 19 * MAX_PATHS_PER_FOLDER
    assert result.problems and all("more than 8 paths" in p for p in result.problems)
    assert len(result.problems) <= 19  # one line per folder, not per path
    assert result.incomplete  # nothing below a skipped path is deleted


def test_symlink_loops_end(tmp_path: Path) -> None:
    make(tmp_path, "a/b/deep.gcode")
    (tmp_path / "a" / "b" / "up").symlink_to(tmp_path / "a")
    (tmp_path / "self").symlink_to(tmp_path)
    (tmp_path / "knot").symlink_to(tmp_path / "knot")

    result = scan_source(tmp_path)

    assert paths(result) == ["a/b/deep.gcode"]
    assert any(p.startswith("a/b/up: symlink loop") for p in result.problems)
    assert any(p.startswith("self: symlink loop") for p in result.problems)
    assert any(p.startswith("knot: ") for p in result.problems)


def test_broken_symlink_is_a_problem_and_marks_incomplete(tmp_path: Path) -> None:
    make(tmp_path, "ok.gcode")
    (tmp_path / "gone.gcode").symlink_to(tmp_path / "nowhere.gcode")
    (tmp_path / "nas").symlink_to("/mnt/not-mounted-for-link-sync-tests")

    result = scan_source(tmp_path)

    assert paths(result) == ["ok.gcode"]
    assert "gone.gcode: broken symlink" in result.problems[0]
    assert result.problems[1].startswith(
        "nas: broken symlink (to /mnt/not-mounted-for-link-sync-tests)"
    )
    assert result.incomplete == ["gone.gcode", "nas"]


def test_unreadable_folder_via_scandir_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, "ok/a.gcode")
    make(tmp_path, "locked/inner/b.gcode")
    real_scandir = os.scandir
    locked = str(tmp_path / "locked")

    def scandir(path: str) -> object:
        if str(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr("link_sync.engine.scan.os.scandir", scandir)
    result = scan_source(tmp_path)

    assert paths(result) == ["ok/a.gcode"]
    assert result.problems == ["locked: folder cannot be read (Permission denied)"]
    assert result.incomplete == ["locked"]


_SCAN_AS_JSON = (
    "import json, sys; from pathlib import Path; from link_sync.engine.scan import scan_source; "
    "r = scan_source(Path(sys.argv[1])); "
    "print(json.dumps([[f.path for f in r.files], r.incomplete, r.problems]))"
)


def test_unreadable_folder_and_file_on_disk(tmp_path: Path) -> None:
    make(tmp_path, "ok.gcode")
    make(tmp_path, "locked/b.gcode")
    secret = make(tmp_path, "secret.gcode")
    (tmp_path / "locked").chmod(0)
    secret.chmod(0)
    # Root reads everything; without the capabilities that let it, file modes hold.
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if IS_ROOT else []
    try:
        out = subprocess.run(
            [*prefix, sys.executable, "-c", _SCAN_AS_JSON, str(tmp_path)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        (tmp_path / "locked").chmod(0o755)
    files, incomplete, problems = json.loads(out.stdout)
    assert files == ["ok.gcode", "secret.gcode"]
    assert incomplete == ["locked"]
    assert "secret.gcode: file cannot be read (permission denied)" in problems


def test_unreadable_file_is_kept_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, "ok.gcode")
    make(tmp_path, "secret.gcode").chmod(0o600)  # not world-readable: access() is asked
    real_access = os.access
    monkeypatch.setattr(
        "link_sync.engine.scan.os.access",
        lambda path, mode: not str(path).endswith("secret.gcode") and real_access(path, mode),
    )
    result = scan_source(tmp_path)
    # Kept in `files` so no printer loses its copy; reported so the operator knows.
    assert paths(result) == ["ok.gcode", "secret.gcode"]
    assert result.problems == ["secret.gcode: file cannot be read (permission denied)"]


def test_fifo_named_like_gcode_is_ignored(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.gcode")
    make(tmp_path, "real.gcode")
    assert paths(scan_source(tmp_path)) == ["real.gcode"]


def test_non_utf8_name_is_a_problem(tmp_path: Path) -> None:
    make(tmp_path, "ok.gcode")
    bad = os.path.join(os.fsencode(tmp_path), b"bad\xff.gcode")
    with open(bad, "wb") as stream:
        stream.write(b"x")
    result = scan_source(tmp_path)
    assert paths(result) == ["ok.gcode"]
    assert result.problems == ["bad\udcff.gcode: file name is not valid UTF-8, skipped"]


def test_missing_root_is_a_safety_refusal(tmp_path: Path) -> None:
    with pytest.raises(SourceMissing) as info:
        scan_source(tmp_path / "nas" / "gcodes")
    assert isinstance(info.value, SafetyRefusal)
    assert "is missing (not mounted?)" in str(info.value)
    assert str(tmp_path / "nas" / "gcodes") in str(info.value)


def test_root_that_is_a_file_or_broken_link(tmp_path: Path) -> None:
    file = make(tmp_path, "file.gcode")
    with pytest.raises(SourceMissing, match="is not a folder"):
        scan_source(file)
    (tmp_path / "link").symlink_to(tmp_path / "unmounted")
    with pytest.raises(SourceMissing, match="is missing"):
        scan_source(tmp_path / "link")


def test_relative_root_gives_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, "m/x.gcode")
    monkeypatch.chdir(tmp_path)
    assert scan_source(Path("m")).files[0].abspath == tmp_path / "m" / "x.gcode"


def test_garbage_collector_is_left_as_found(tmp_path: Path) -> None:
    make(tmp_path, "x.gcode")
    assert gc.isenabled()
    scan_source(tmp_path)
    assert gc.isenabled()
    gc.disable()
    try:
        scan_source(tmp_path)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_root_may_be_a_symlink(tmp_path: Path) -> None:
    make(tmp_path, "real/x.gcode")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = scan_source(tmp_path / "link")
    assert paths(result) == ["x.gcode"]
    assert result.files[0].abspath == tmp_path / "link" / "x.gcode"


def test_scan_never_writes(tmp_path: Path) -> None:
    make(tmp_path, "a/b.gcode")
    make(tmp_path, ".dot/c.gcode")
    make(tmp_path, "readme.txt")
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "broken.gcode").symlink_to(tmp_path / "nope")
    before = snapshot(tmp_path)
    folder_mtime = os.stat(tmp_path).st_mtime_ns
    scan_source(tmp_path)
    assert snapshot(tmp_path) == before
    assert os.stat(tmp_path).st_mtime_ns == folder_mtime


def test_100k_files_scan_fast(tmp_path: Path) -> None:
    for folder in range(100):
        sub = tmp_path / f"folder {folder:03}"
        sub.mkdir()
        for index in range(1000):
            name = f"part-{index:04}.gcode" if index % 10 else f"notes-{index}.txt"
            fd = os.open(sub / name, os.O_CREAT | os.O_WRONLY, 0o644)
            os.close(fd)

    start = time.process_time()
    result = scan_source(tmp_path)
    cpu = time.process_time() - start

    assert len(result.files) == 90_000
    assert result.files[0].path == "folder 000/part-0001.gcode"
    assert cpu < 2.0, f"scan took {cpu:.2f} s of CPU"


# --------------------------------------------------------------------------- hashing


def test_hash_file_matches_hashlib(tmp_path: Path) -> None:
    content = os.urandom(HASH_CHUNK * 2 + 12345)  # crosses chunk boundaries
    path = make(tmp_path, "big.bgcode", content)
    assert hash_file(path) == "sha256:" + hashlib.sha256(content).hexdigest()


def test_hash_of_empty_and_exact_chunk(tmp_path: Path) -> None:
    empty = make(tmp_path, "e.gcode", b"")
    exact = make(tmp_path, "x.gcode", b"a" * HASH_CHUNK)
    assert hash_file(empty) == "sha256:" + hashlib.sha256(b"").hexdigest()
    assert hash_file(exact) == "sha256:" + hashlib.sha256(b"a" * HASH_CHUNK).hexdigest()


def test_hash_differs_for_same_size_change(tmp_path: Path) -> None:
    path = make(tmp_path, "m.gcode", b"G1 X10\n")
    first = hash_file(path)
    path.write_bytes(b"G1 X20\n")
    assert hash_file(path) != first
