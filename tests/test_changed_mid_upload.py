"""What was sent is what is recorded (issue 29, fault 2).

A master file rewritten in place while it is being uploaded (same size, other bytes,
a later or the very same mtime) is never vouched for: the upload is cut before its
last byte (the printer keeps no mix of two versions), the run names the file, the
journal holds only what each printer really has, and the next sync sends the new
bytes. The rewrite is triggered by the upload's own progress, not by a sleep.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from link_sync.backends.multipart import MultipartFile
from link_sync.backends.sent import FileChanged, recording_sent
from link_sync.emulator import PrinterSpec
from link_sync.engine.events import Observer

from sync_helpers import Master, SyncRunner

SIZE = 600_000  # ten body chunks; about 0.3 s at the printer's 2 MB/s
OLD = b"G1 X1 Y1\n" * (SIZE // 9) + b"\n" * (SIZE % 9)
NEW = b"G1 X2 Y2\n" * (SIZE // 9) + b"\n" * (SIZE % 9)
NEWER = b"G1 X3 Y3\n" * (SIZE // 9) + b"\n" * (SIZE % 9)


class RewriteMidUpload(Observer):
    """Rewrites a master file in place once half of its upload has gone out."""

    def __init__(self, path: Path, data: bytes, *, keep_mtime: bool) -> None:
        self.path, self.data, self.keep_mtime = path, data, keep_mtime
        self.sent = 0
        self.rewritten = False

    def transfer_started(self, name: str, action: Any) -> None:
        self.sent = 0

    def transfer_progress(self, name: str, sent: int) -> None:
        self.sent += sent
        if self.rewritten or self.sent < len(self.data) // 2:
            return
        before = self.path.stat()
        with self.path.open("r+b") as handle:  # in place: same inode, same size
            handle.write(self.data)
        if self.keep_mtime:
            os.utime(self.path, ns=(before.st_atime_ns, before.st_mtime_ns))
        else:
            later = before.st_mtime_ns + 5_000_000_000
            os.utime(self.path, ns=(later, later))
        self.rewritten = True


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def journal_rows(state: Path) -> dict[str, str | None]:
    with sqlite3.connect(state / "journal.sqlite3") as db:
        return dict(db.execute("SELECT path, content_hash FROM uploads").fetchall())


def assert_journal_tells_the_truth(state: Path, printer: Any) -> None:
    """Every file the journal vouches for is on the printer with exactly that content."""
    held = {path.lstrip("/").lower(): data for path, data in printer.files().items()}
    for path, content_hash in journal_rows(state).items():
        assert path.lower() in held, f"journal vouches for {path}, the printer lacks it"
        assert content_hash == sha256(held[path.lower()]), f"journal lies about {path}"


@pytest.mark.parametrize(
    ("profile", "keep_mtime"),
    [("mk4", True), ("mk4", False), ("mk3", True), ("mk3", False)],
    ids=["buddy-same-mtime", "buddy-later-mtime", "pi-same-mtime", "pi-later-mtime"],
)
async def test_file_rewritten_mid_upload_is_not_vouched_for_and_sent_next_run(
    farm_factory: Any,
    master: Master,
    run_sync: SyncRunner,
    tmp_path: Path,
    profile: str,
    keep_mtime: bool,
) -> None:
    path = master.write("part.gcode", OLD, mtime=1_700_000_000)
    kw = {"api_key": "pi-key-123"} if profile == "mk3" else {}
    farm = await farm_factory([PrinterSpec("p", profile=profile, rate=2_000_000, **kw)])
    printer = farm["p"]
    rewrite = RewriteMidUpload(path, NEW, keep_mtime=keep_mtime)

    first = await run_sync(farm, observer=rewrite)

    assert rewrite.rewritten
    assert first.exit_code == 1, first.to_json()
    [failed] = [a for a in first.printers[0].actions if not a.ok]
    assert failed.path == "part.gcode"
    assert "changed while it was being uploaded" in (failed.error or "")
    assert printer.files() == {}  # cut before its last byte: no mix of two versions
    assert journal_rows(tmp_path / "state") == {}

    second = await run_sync(farm)

    assert second.exit_code == 0, second.to_json()
    assert printer.files() == {"part.gcode": NEW}
    assert_journal_tells_the_truth(tmp_path / "state", printer)


@pytest.mark.parametrize("keep_mtime", [True, False], ids=["same-mtime", "later-mtime"])
async def test_replace_rewritten_mid_upload_keeps_the_old_copy_and_the_truth(
    farm_factory: Any, master: Master, run_sync: SyncRunner, tmp_path: Path, keep_mtime: bool
) -> None:
    path = master.write("part.gcode", OLD, mtime=1_700_000_000)
    farm = await farm_factory([PrinterSpec("p", profile="mk4", rate=2_000_000)])
    printer = farm["p"]
    assert (await run_sync(farm)).exit_code == 0
    master.write("part.gcode", NEW, mtime=1_700_000_100)  # a new version to replace with
    rewrite = RewriteMidUpload(path, NEWER, keep_mtime=keep_mtime)

    first = await run_sync(farm, observer=rewrite)

    assert rewrite.rewritten
    assert first.exit_code == 1, first.to_json()
    assert [a.path for a in first.printers[0].actions if not a.ok] == ["part.gcode"]
    assert list(printer.files().values()) == [OLD]  # the old copy, whole
    assert_journal_tells_the_truth(tmp_path / "state", printer)

    second = await run_sync(farm)

    assert second.exit_code == 0, second.to_json()
    assert list(printer.files().values()) == [NEWER]
    assert_journal_tells_the_truth(tmp_path / "state", printer)
    third = await run_sync(farm)
    assert third.totals()["replaced"] == third.totals()["uploaded"] == 0


async def test_multipart_body_refuses_a_file_rewritten_while_streamed(tmp_path: Path) -> None:
    """OctoPrint and Moonraker uploads stream the same checked body inside multipart."""
    source = tmp_path / "part.gcode"
    source.write_bytes(OLD)
    body = MultipartFile({"path": ""}, "file", "part.gcode", source, SIZE)
    chunks = []
    with pytest.raises(FileChanged, match="changed while it was being uploaded"):
        async for chunk in body.body():
            chunks.append(chunk)
            if len(chunks) == 3:
                with source.open("r+b") as handle:
                    handle.write(NEW)
    assert sum(map(len, chunks)) < len(body.head) + SIZE  # the last file bytes never went out


async def test_the_record_holds_the_hash_of_the_bytes_streamed(tmp_path: Path) -> None:
    source = tmp_path / "part.gcode"
    source.write_bytes(OLD)
    body = MultipartFile({"path": ""}, "file", "part.gcode", source, SIZE)
    with recording_sent() as sent:
        streamed = b"".join([chunk async for chunk in body.body()])
    assert OLD in streamed
    assert sent.content_hash == sha256(OLD)
