"""The pure rules of the master watcher: settling, temporary names, network filesystems."""

from __future__ import annotations

from pathlib import Path

import pytest

from link_sync.core.model import LocalFile
from link_sync.watch.master import SettleClock, is_temporary, look
from link_sync.watch.netfs import filesystem_type, is_network_fs


def local(path: str, size: int, mtime: float) -> LocalFile:
    return LocalFile(path, Path("/m") / path, size, int(mtime * 1e9))


@pytest.mark.parametrize(
    ("mtime", "now", "settled", "due"),
    [
        (100.0, 102.0, True, None),  # exactly settle seconds old
        (100.0, 101.9, False, 102.0),  # still inside the settle time
        (100.0, 500.0, True, None),  # old file (start-up, or moved in whole)
        (110.0, 100.0, False, 102.0),  # mtime in the future (skewed NAS clock): timed by us
    ],
)
def test_a_file_settles_when_its_mtime_is_settle_seconds_old(
    mtime: float, now: float, settled: bool, due: float | None
) -> None:
    clock = SettleClock(settle=2.0)
    stable, unsettled, next_due = clock.split([local("a.gcode", 10, mtime)], now)
    assert (stable != []) is settled
    assert (unsettled == ["a.gcode"]) is not settled
    assert next_due == due


def test_a_skewed_file_that_changes_restarts_its_settle_time() -> None:
    clock = SettleClock(settle=2.0)
    clock.split([local("a.gcode", 10, 1000.0)], 100.0)
    _, unsettled, due = clock.split([local("a.gcode", 20, 1000.0)], 101.5)  # grew meanwhile
    assert unsettled == ["a.gcode"]
    assert due == 103.5
    stable, _, _ = clock.split([local("a.gcode", 20, 1000.0)], 103.5)
    assert [f.path for f in stable] == ["a.gcode"]


@pytest.mark.parametrize(
    ("path", "temporary"),
    [
        ("a.gcode", False),
        ("parts/a.bgcode", False),
        ("a.gcode.part", True),
        ("a.gcode.TMP", True),
        ("~a.gcode", True),
        ("dir/~a.gcode", True),
        ("~dir/a.gcode", True),
        (".a.gcode", True),
        ("a~.gcode", False),
    ],
)
def test_temporary_names(path: str, temporary: bool) -> None:
    assert is_temporary(path) is temporary


def test_look_keeps_temporary_names_and_unsettled_files_out(tmp_path: Path) -> None:
    (tmp_path / "a.gcode").write_text("G1")
    (tmp_path / "~b.gcode").write_text("G1")
    view, due = look(tmp_path, SettleClock(settle=3600), allow_empty=False)
    assert view.usable
    assert view.files == ()
    assert view.unsettled == ("a.gcode",)
    assert due is not None


def test_an_empty_or_missing_master_is_unusable(tmp_path: Path) -> None:
    (tmp_path / "~only-a-temp.gcode").write_text("G1")
    empty, _ = look(tmp_path, SettleClock(2.0), allow_empty=False)
    assert empty.unusable is not None and "no print files" in empty.unusable
    allowed, _ = look(tmp_path, SettleClock(2.0), allow_empty=True)
    assert allowed.usable
    missing, _ = look(tmp_path / "gone", SettleClock(2.0), allow_empty=True)
    assert missing.unusable is not None and "missing" in missing.unusable


MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
nas:/export/gcodes /mnt/nas nfs4 rw,vers=4.2 0 0
//nas/share /mnt/smb cifs rw 0 0
me@host:/x /mnt/ssh\\040folder fuse.sshfs rw 0 0
/dev/sdb1 /mnt/nas/local ext4 rw 0 0
"""


@pytest.mark.parametrize(
    ("folder", "kind"),
    [
        ("/home/me/gcodes", "ext4"),
        ("/mnt/nas/gcodes", "nfs4"),
        ("/mnt/nas", "nfs4"),
        ("/mnt/nasty", "ext4"),  # a prefix of the name is not a mount point above it
        ("/mnt/smb/prints", "cifs"),
        ("/mnt/ssh folder/a", "fuse.sshfs"),
        ("/mnt/nas/local/x", "ext4"),  # the longest mount point wins
    ],
)
def test_filesystem_type_from_proc_mounts(folder: str, kind: str) -> None:
    assert filesystem_type(Path(folder), MOUNTS) == kind


def test_is_network_fs_reads_a_mounts_file(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    assert is_network_fs(Path("/mnt/smb/prints"), mounts)
    assert not is_network_fs(Path("/home/me"), mounts)
    assert not is_network_fs(Path("/home/me"), tmp_path / "no-such-file")
