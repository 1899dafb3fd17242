"""A watch seen from a run under another state folder (issue 29, fault 15).

Locks live in one state folder, so a `sync` with another `$LINK_SYNC_STATE_DIR` does
not see a watch's locks. A running watch registers its state folder and printers in
the user's runtime folder (here `$XDG_RUNTIME_DIR` in the test's folder); `status`
and `sync` under another state folder warn about each printer it holds, runs under
its own state folder do not (its locks speak), and a watch that is gone (stopped,
or killed: its file left behind) is not warned about.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sync_helpers import Master
from watch_harness import FarmThread, WatchProcess, cli, spec


def run(command: str, tmp_path: Path, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(command, "-c", str(tmp_path / "link-sync.yml")),
        env={**os.environ, "LINK_SYNC_STATE_DIR": str(state), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def warned(out: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in out.stderr.splitlines() if "a link-sync watch (pid" in line]


def test_status_and_sync_warn_of_a_watch_under_another_state_folder(
    farm_thread: Callable[..., FarmThread],
    watch: Callable[..., WatchProcess],
    master: Master,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))  # the watch's and the runs'
    master.write("a.gcode", "G1\n", mtime=time.time() - 60)
    farm = farm_thread([spec("mk4-1"), spec("mk4-2")])
    other = tmp_path / "other-state"

    process = watch(farm, master.root, "-p", "mk4-1")
    process.wait_event(event="started")
    status = run("status", tmp_path, other)
    assert status.returncode in (0, 1), status.stderr
    assert warned(status) == [
        f"link-sync: warning: printer 'mk4-1': a link-sync watch (pid {process.pid}) works "
        f"on it under another state folder, {tmp_path / 'state'}, whose locks this run does "
        "not see; give every run the same $LINK_SYNC_STATE_DIR"
    ]
    synced = run("sync", tmp_path, other)
    assert [line.split(": a link-sync")[0] for line in warned(synced)] == [
        "link-sync: warning: printer 'mk4-1'"
    ]
    same = run("status", tmp_path, tmp_path / "state")  # its locks are seen: no warning
    assert warned(same) == []
    assert process.stop() == 0
    assert list(runtime.glob("link-sync/*")) == []  # its file went with it
    assert warned(run("status", tmp_path, other)) == []

    killed = watch(farm, master.root, "-p", "mk4-1")
    killed.wait_event(event="started")
    assert len(warned(run("status", tmp_path, other))) == 1
    killed.send(signal.SIGKILL)
    killed.proc.wait(10)
    assert list(runtime.glob("link-sync/watch-*.json"))  # left behind by the killed watch
    assert warned(run("status", tmp_path, other)) == []  # its pid is gone: ignored


def test_only_a_private_runtime_folder_of_this_user_is_trusted(tmp_path: Path) -> None:
    from link_sync.engine.running_watches import runtime_dir

    environ = {"XDG_RUNTIME_DIR": str(tmp_path)}
    folder = runtime_dir(environ, create=True)
    assert folder == tmp_path / "link-sync"
    assert folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o755)  # others could plant a watch's file in it
    assert runtime_dir(environ) is None
    folder.rmdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    folder.symlink_to(tmp_path / "elsewhere")
    assert runtime_dir(environ) is None
