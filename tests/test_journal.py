"""The SQLite journal and hash cache on real files: durability, recovery, concurrency."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from link_sync.engine.journal import SCHEMA_VERSION, Journal, JournalEntry
from link_sync.engine.statedir import state_dir
from link_sync.errors import JournalError


def entry(path: str, size: int = 10, **changes: object) -> JournalEntry:
    base = JournalEntry(
        path=path,
        local_size=size,
        local_mtime_ns=1_700_000_000_123_456_789,
        content_hash="sha256:" + "ab" * 32,
        remote_mtime=1_700_000_001.0,
        remote_size=size,
        uploaded_at=1_700_000_002.5,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.sqlite3"


def test_record_and_read_back_exactly(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        first = entry("parts/clip.bgcode")
        second = entry("Díly/držák.gcode", size=2**40, remote_mtime=None, remote_size=None)
        journal.record("mk4-01", first)
        journal.record("mk4-01", second)
        assert journal.warnings == []
        assert journal.entries("mk4-01") == {first.path: first, second.path: second}


def test_entries_are_per_printer(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        journal.record("a", entry("x.gcode"))
        journal.record("b", entry("y.gcode"))
        assert list(journal.entries("a")) == ["x.gcode"]
        assert list(journal.entries("b")) == ["y.gcode"]
        assert journal.entries("c") == {}


def test_record_replaces_the_same_path(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        journal.record("a", entry("x.gcode", size=1))
        journal.record("a", entry("x.gcode", size=2))
        assert journal.entries("a")["x.gcode"].local_size == 2


def test_keys_are_stored_as_given(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        journal.record("a", entry("Part.GCODE"))
        journal.record("a", entry("part.gcode"))
        assert sorted(journal.entries("a")) == ["Part.GCODE", "part.gcode"]


def test_uploaded_at_defaults_to_now(journal_path: Path) -> None:
    made = JournalEntry("x.gcode", 1, 2, None)
    assert made.uploaded_at > 1_700_000_000
    with Journal.open(journal_path) as journal:
        journal.record("a", made)
        assert journal.entries("a")["x.gcode"] == made


def test_entry_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry("x").local_size = 3  # type: ignore[misc]


def test_forget_drops_one_record_of_one_printer(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        journal.record_many("a", [entry("1.gcode"), entry("2.gcode"), entry("3.gcode")])
        journal.record("b", entry("1.gcode"))
        journal.forget("a", "2.gcode")
        journal.forget("a", "never-there.gcode")
        assert sorted(journal.entries("a")) == ["1.gcode", "3.gcode"]
        assert list(journal.entries("b")) == ["1.gcode"]  # another printer is untouched


def test_records_survive_reopening(journal_path: Path) -> None:
    journal = Journal.open(journal_path)
    journal.record("a", entry("x.gcode"))
    journal.close()
    journal.close()  # twice is fine
    with Journal.open(journal_path) as again:
        assert again.entries("a") == {"x.gcode": entry("x.gcode")}
        assert again.warnings == []


def test_each_record_is_durable_when_the_process_is_killed(journal_path: Path) -> None:
    """A run killed mid-way keeps everything it recorded before."""
    script = f"""
import os, signal
from pathlib import Path
from link_sync.engine.journal import Journal, JournalEntry
journal = Journal.open(Path({str(journal_path)!r}))
for index in range(50):
    journal.record("mk4", JournalEntry(f"{{index}}.gcode", index, index, None))
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert done.returncode == -9
    with Journal.open(journal_path) as journal:
        assert len(journal.entries("mk4")) == 50
        assert journal.warnings == []


def test_use_after_close_is_a_journal_error(journal_path: Path) -> None:
    journal = Journal.open(journal_path)
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.entries("a")


def test_wal_mode_and_schema_version(journal_path: Path) -> None:
    Journal.open(journal_path).close()
    db = sqlite3.connect(journal_path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        db.close()


# --------------------------------------------------------------------------- recovery


def bad_copies(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if ".bad-" in p.name)


def test_not_a_database_is_moved_aside(journal_path: Path) -> None:
    journal_path.parent.mkdir(parents=True)
    journal_path.write_bytes(b"this is not SQLite at all\n" * 200)
    with Journal.open(journal_path) as journal:
        assert len(journal.warnings) == 1
        warning = journal.warnings[0]
        assert "is unreadable" in warning and "started a new one" in warning
        journal.record("a", entry("x.gcode"))
        assert list(journal.entries("a")) == ["x.gcode"]
    (aside,) = bad_copies(journal_path)
    assert aside in journal.warnings[0]
    assert (journal_path.parent / aside).read_bytes().startswith(b"this is not SQLite")


def test_truncated_database_is_moved_aside(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        for index in range(300):
            journal.record("a", entry(f"{index:04}/" + "long-name-" * 20 + ".gcode"))
    data = journal_path.read_bytes()
    assert len(data) > 20_000
    journal_path.write_bytes(data[: len(data) // 2])

    with Journal.open(journal_path) as journal:
        assert len(journal.warnings) == 1
        assert journal.entries("a") == {}
        journal.record("a", entry("new.gcode"))
    assert len(bad_copies(journal_path)) == 1


def test_other_schema_version_is_moved_aside(journal_path: Path) -> None:
    journal_path.parent.mkdir(parents=True)
    db = sqlite3.connect(journal_path)
    db.execute("CREATE TABLE uploads (whatever TEXT)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 7}")
    db.commit()
    db.close()
    with Journal.open(journal_path) as journal:
        assert f"schema version {SCHEMA_VERSION + 7}" in journal.warnings[0]
        journal.record("a", entry("x.gcode"))
        assert list(journal.entries("a")) == ["x.gcode"]


def test_unversioned_tables_are_moved_aside(journal_path: Path) -> None:
    journal_path.parent.mkdir(parents=True)
    db = sqlite3.connect(journal_path)
    db.execute("CREATE TABLE old_style (x TEXT)")
    db.commit()
    db.close()
    with Journal.open(journal_path) as journal:
        assert "schema version 0" in journal.warnings[0]


def test_empty_file_is_a_fresh_journal(journal_path: Path) -> None:
    journal_path.parent.mkdir(parents=True)
    journal_path.write_bytes(b"")
    with Journal.open(journal_path) as journal:
        assert journal.warnings == []
        journal.record("a", entry("x.gcode"))


def test_unopenable_location_is_a_journal_error(tmp_path: Path) -> None:
    folder = tmp_path / "is-a-folder.sqlite3"
    folder.mkdir()
    with pytest.raises(JournalError, match="cannot be opened"):
        Journal.open(folder)
    assert folder.is_dir()  # not moved aside: it is not ours to move


# --------------------------------------------------------------------------- concurrency


def test_two_processes_write_at_once(journal_path: Path) -> None:
    Journal.open(journal_path).close()
    script = """
import sys
from pathlib import Path
from link_sync.engine.journal import Journal, JournalEntry
journal = Journal.open(Path(sys.argv[1]))
for index in range(200):
    journal.record(sys.argv[2], JournalEntry(f"{index}.gcode", index, index, None))
journal.close()
"""
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(journal_path), name])
        for name in ("a", "b", "c")
    ]
    with Journal.open(journal_path) as reader:
        while any(worker.poll() is None for worker in workers):
            reader.entries("a")  # reading beside writers never fails
    assert [worker.wait(60) for worker in workers] == [0, 0, 0]
    with Journal.open(journal_path) as journal:
        assert [len(journal.entries(name)) for name in ("a", "b", "c")] == [200, 200, 200]
        assert journal.warnings == []


def test_two_processes_create_a_new_journal_at_once(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    script = """
import sys
from pathlib import Path
from link_sync.engine.journal import Journal, JournalEntry
journal = Journal.open(Path(sys.argv[1]))
assert journal.warnings == [], journal.warnings
journal.record(sys.argv[2], JournalEntry("x.gcode", 1, 1, None))
"""
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(path), str(n)]) for n in range(4)
    ]
    assert [worker.wait(60) for worker in workers] == [0, 0, 0, 0]
    with Journal.open(path) as journal:
        assert all(journal.entries(str(n)) for n in range(4))


def test_threads_share_one_journal(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:

        def work(name: str) -> None:
            for index in range(100):
                journal.remember_hash(f"/m/{name}/{index}", index, index, f"sha256:{index}")
                journal.record(name, entry(f"{index}.gcode"))

        threads = [threading.Thread(target=work, args=(str(n),)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(len(journal.entries(str(n))) == 100 for n in range(4))
        assert journal.cached_hash("/m/3/99", 99, 99) == "sha256:99"


# --------------------------------------------------------------------------- hash cache


def test_hash_cache_is_keyed_by_path_size_and_mtime(journal_path: Path, tmp_path: Path) -> None:
    file = tmp_path / "big.bgcode"
    with Journal.open(journal_path) as journal:
        assert journal.cached_hash(file, 20, 5) is None
        journal.remember_hash(file, 20, 5, "sha256:aaa")
        assert journal.cached_hash(file, 20, 5) == "sha256:aaa"
        assert journal.cached_hash(str(file), 20, 5) == "sha256:aaa"
        assert journal.cached_hash(file, 21, 5) is None  # grew
        assert journal.cached_hash(file, 20, 6) is None  # touched or restored
        assert journal.cached_hash(tmp_path / "other.bgcode", 20, 5) is None

        journal.remember_hash(file, 21, 6, "sha256:bbb")
        assert journal.cached_hash(file, 21, 6) == "sha256:bbb"
        assert journal.cached_hash(file, 20, 5) is None  # one row per file: replaced

    with Journal.open(journal_path) as again:  # and it outlives the run
        assert again.cached_hash(file, 21, 6) == "sha256:bbb"


# --------------------------------------------------------------------------- state dir


def test_state_dir_from_environment_is_created_private(tmp_path: Path) -> None:
    target = tmp_path / "a" / "state"
    old = os.umask(0o022)
    try:
        folder = state_dir({"LINK_SYNC_STATE_DIR": str(target)})
    finally:
        os.umask(old)
    assert folder == target
    assert folder.is_dir()
    assert folder.stat().st_mode & 0o777 == 0o700


def test_existing_state_dir_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    assert state_dir({"LINK_SYNC_STATE_DIR": str(shared)}) == shared
    assert shared.stat().st_mode & 0o777 == 0o755


def test_default_state_dir_is_the_platform_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    folder = state_dir({})
    assert folder == tmp_path / "xdg-state" / "link-sync"
    assert folder.stat().st_mode & 0o777 == 0o700


def test_uncreatable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(Exception, match=r"the state folder .* cannot be created") as info:
        state_dir({"LINK_SYNC_STATE_DIR": str(blocker / "state")})
    assert "LINK_SYNC_STATE_DIR" in str(info.value)
