"""A master folder that cannot be read is never taken for an empty one (issue 29, fault 11).

Out of file descriptors (EMFILE), the scan of the master used to find "no print
files" and the watch said "is it mounted?". The real error is the reason now, in the
watch's view and in `sync`'s refusal; nothing is synced or deleted either way.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import link_sync
from link_sync.emulator import PrinterSpec
from link_sync.emulator.testing import FarmFactory
from link_sync.engine.scan import scan_source
from link_sync.errors import SafetyRefusal, SourceMissing
from link_sync.watch.master import SettleClock, look

from sync_helpers import FAST_RETRY, Master

OLD = 1_700_000_000.0

OUT_OF_DESCRIPTORS = """
import os, resource, sys
from pathlib import Path
from link_sync.watch.master import SettleClock, look
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError as exc:
    print("exhausted:", exc.strerror)
view, _ = look(Path(sys.argv[1]), SettleClock(0.0), allow_empty=False)
print("unusable:", view.unusable)
"""


def test_a_watch_out_of_file_descriptors_says_so_not_is_it_mounted(master: Master) -> None:
    master.write("a.gcode", b"G28\n", mtime=OLD)
    done = subprocess.run(
        [sys.executable, "-c", OUT_OF_DESCRIPTORS, str(master.root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "exhausted: Too many open files" in done.stdout
    [unusable] = [line for line in done.stdout.splitlines() if line.startswith("unusable:")]
    assert "Too many open files" in unusable
    assert "no print files" not in unusable and "mounted" not in unusable


def _failing_scandir(broken: Path, error: OSError) -> Any:
    real = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path) == broken:
            raise error
        return real(path)

    return scandir


async def test_sync_refuses_an_unlistable_master_with_the_real_error_and_touches_nothing(
    farm_factory: FarmFactory,
    master: Master,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    master.write("a.gcode", b"G28\n", mtime=OLD)
    farm = await farm_factory([PrinterSpec("mk4-01", files={"kept.gcode": 100})])
    printer = farm["mk4-01"]
    error = OSError(errno.EMFILE, os.strerror(errno.EMFILE))
    monkeypatch.setattr(os, "scandir", _failing_scandir(master.root, error))

    with pytest.raises(SourceMissing) as refused:
        await link_sync.sync_async(
            link_sync.Config(**farm.config(source=master.root)),
            retry=FAST_RETRY,
            state_dir=tmp_path / "state",
        )

    assert "Too many open files" in str(refused.value)
    assert "no print files" not in str(refused.value)
    assert printer.requests == []  # refused before any printer was contacted
    assert set(printer.files()) == {"kept.gcode"}


def test_a_master_whose_only_folders_cannot_be_read_names_them(
    master: Master, monkeypatch: pytest.MonkeyPatch
) -> None:
    master.write("parts/a.gcode", b"G28\n", mtime=OLD)
    error = OSError(errno.EIO, os.strerror(errno.EIO))
    monkeypatch.setattr(os, "scandir", _failing_scandir(master.root / "parts", error))

    view, _ = look(master.root, SettleClock(0.0), allow_empty=False)
    assert view.unusable is not None
    assert "parts" in view.unusable and "Input/output error" in view.unusable
    assert "mounted" not in view.unusable
    with pytest.raises(SafetyRefusal, match="parts: folder cannot be read"):
        link_sync.plan(
            link_sync.Config(
                source=master.root,
                printers={"mk4-01": link_sync.PrinterConfig(host="127.0.0.1:9")},
            )
        )


def test_a_root_that_cannot_be_listed_is_missing_not_empty(
    master: Master, monkeypatch: pytest.MonkeyPatch
) -> None:
    master.write("a.gcode", b"G28\n", mtime=OLD)
    error = OSError(errno.EIO, os.strerror(errno.EIO))
    monkeypatch.setattr(os, "scandir", _failing_scandir(master.root, error))
    with pytest.raises(SourceMissing, match=r"cannot be read \(Input/output error\)"):
        scan_source(master.root)
