"""A state folder this user cannot use (issue 29, fault 14), through the command line.

Every command that keeps state there (`sync`, `plan`, `status`, `watch`) answers a
folder it cannot write, a `locks` that is a file or a folder it cannot write, a
journal it cannot open and a state "folder" that is a file with ONE message naming
the folder and what to do, exit 2, no traceback and no printer contacted. `pull`
keeps no state: it runs as usual. As root, the commands run without the capabilities
that ignore file modes (setpriv), so the modes count as for any user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from link_sync.emulator import Farm
from link_sync.emulator.testing import BackgroundFarm
from test_bad_input import (
    EXIT_OK,
    EXIT_USAGE,
    PASSWORD,
    assert_one_message,
    farm_specs,
    request_count,
    run_cli,
    without_root_file_access,
)


def _unwritable(state: Path) -> None:
    state.mkdir()
    state.chmod(0o555)


def _locks_a_file(state: Path) -> None:
    state.mkdir()
    (state / "locks").write_text("not a folder")


def _locks_unwritable(state: Path) -> None:
    (state / "locks").mkdir(parents=True)
    (state / "locks").chmod(0o555)


def _journal_unreadable(state: Path) -> None:
    state.mkdir()
    (state / "journal.sqlite3").write_bytes(b"")
    (state / "journal.sqlite3").chmod(0)


def _a_file(state: Path) -> None:
    state.write_text("not a folder")


PROBLEMS: dict[str, tuple[Callable[[Path], None], str]] = {
    "unwritable": (_unwritable, "is not writable by this user"),
    "locks-is-a-file": (_locks_a_file, "holds a 'locks' that is not a folder; remove it"),
    "locks-unwritable": (_locks_unwritable, "holds a 'locks' folder this user cannot write"),
    "journal-unreadable": (_journal_unreadable, "journal.sqlite3, which this user cannot read"),
    "not-a-folder": (_a_file, "is not a folder; remove it"),
}


@pytest.fixture(scope="module")
def farm() -> Iterator[Farm]:
    with BackgroundFarm(farm_specs()) as running:
        yield running


def write_config(workdir: Path, farm: Farm) -> Path:
    master = workdir / "master"
    master.mkdir()
    (master / "benchy.gcode").write_bytes(b"G28\n" * 100)
    printers = "".join(
        f"  {p.name}:\n    host: {p.url}\n    password: {PASSWORD}\n"
        + ("    api_key: bad-input-key\n" if p.name == "mk3-b" else "")
        for p in farm
    )
    config = workdir / "link-sync.yml"
    config.write_text(f"source: {master}\nprinters:\n{printers}")
    config.chmod(0o600)
    return config


@pytest.mark.parametrize("command", ["sync", "plan", "status", "watch"])
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_an_unusable_state_folder_is_one_message_and_exit_2(
    problem: str, command: str, tmp_path: Path, farm: Farm
) -> None:
    config = write_config(tmp_path, farm)
    state = tmp_path / "state"
    make, fragment = PROBLEMS[problem]
    make(state)
    before = request_count(farm)
    out = run_cli(
        [command, "-c", str(config)],
        tmp_path,
        env={"LINK_SYNC_STATE_DIR": str(state)},
        prefix=without_root_file_access(),
    )
    assert out.returncode == EXIT_USAGE, out.stdout + out.stderr
    assert_one_message(out, f"the state folder {state} ")
    assert fragment in out.stderr
    assert "set $LINK_SYNC_STATE_DIR to a folder this user can write" in out.stderr
    assert request_count(farm) == before  # refused before any printer was asked


def test_pull_keeps_no_state_and_runs_beside_an_unusable_state_folder(
    tmp_path: Path, farm: Farm
) -> None:
    config = write_config(tmp_path, farm)
    _unwritable(tmp_path / "state")
    out = run_cli(
        ["pull", "-n", "-c", str(config)],
        tmp_path,
        env={"LINK_SYNC_STATE_DIR": str(tmp_path / "state")},
        prefix=without_root_file_access(),
    )
    assert out.returncode == EXIT_OK, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
