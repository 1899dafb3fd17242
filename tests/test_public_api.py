"""The public API (`import link_sync`) and the engine session behind it, on emulated farms."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import link_sync
from link_sync.backends import open_backend
from link_sync.backends.base import Backend
from link_sync.config import Config
from link_sync.emulator import PrinterSpec
from link_sync.engine.events import Observer
from link_sync.engine.journal import Journal
from link_sync.engine.options import SyncOptions
from link_sync.engine.run import PrinterWork
from link_sync.engine.scan import scan_source
from link_sync.engine.session import Session
from link_sync.result import PrinterResult

from sync_helpers import FAST_RETRY, Master

PUBLIC = {
    "ActionResult",
    "AuthFailed",
    "Config",
    "ConfigError",
    "FileBusy",
    "JournalError",
    "LinkSyncError",
    "LockHeld",
    "NoAnswer",
    "NotFound",
    "Observer",
    "Op",
    "PrinterConfig",
    "PrinterError",
    "PrinterResult",
    "PrinterState",
    "PrinterStatusReport",
    "ProtocolError",
    "Refused",
    "RequestTimeout",
    "RetryPolicy",
    "RunResult",
    "SafetyRefusal",
    "ServerError",
    "SourceMissing",
    "StatusReports",
    "StorageFull",
    "SyncStatus",
    "TransferInProgress",
    "Unreachable",
    "UsageError",
    "__version__",
    "load_config",
    "plan",
    "plan_async",
    "status",
    "status_async",
    "sync",
    "sync_async",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(link_sync.__all__) == PUBLIC
    assert len(link_sync.__all__) == len(PUBLIC)  # no name twice
    for name in PUBLIC:
        assert getattr(link_sync, name) is not None, name


def test_no_module_shadows_a_public_name() -> None:
    """Importing a submodule sets it as an attribute of the package: one named like a
    public function (a `plan.py`) would replace `link_sync.plan` once imported."""
    import importlib
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(link_sync.__path__)} - {"__main__"}
    assert not modules & PUBLIC
    for name in modules:
        importlib.import_module(f"link_sync.{name}")
    for name in PUBLIC:
        assert not isinstance(getattr(link_sync, name), type(link_sync)), name


def test_every_error_of_the_project_is_a_link_sync_error() -> None:
    for name in PUBLIC:
        value = getattr(link_sync, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, link_sync.LinkSyncError), name
    assert issubclass(link_sync.LockHeld, link_sync.SafetyRefusal)
    assert issubclass(link_sync.SourceMissing, link_sync.SafetyRefusal)
    assert issubclass(link_sync.ConfigError, link_sync.UsageError)
    assert issubclass(link_sync.Unreachable, link_sync.PrinterError)
    assert issubclass(link_sync.NoAnswer, link_sync.Unreachable)


def test_every_error_class_of_the_project_is_public() -> None:
    """A caller can catch what link-sync raises by its own name (`NoAnswer` was not)."""
    from link_sync import errors

    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == errors.__name__
    }
    assert defined <= PUBLIC


def test_enums_are_their_json_strings() -> None:
    assert link_sync.SyncStatus.SYNCED == "synced"
    assert link_sync.Op.UPLOAD == "upload"
    assert link_sync.PrinterState("IDLE") is link_sync.PrinterState.IDLE
    assert link_sync.PrinterState.FINISHED.idle and not link_sync.PrinterState.PRINTING.idle
    # A state no backend knows yet is kept as the printer said it, and is not idle.
    strange = link_sync.PrinterState("CALIBRATING")
    assert strange == "CALIBRATING" and f"{strange}" == "CALIBRATING" and not strange.idle


def _config(farm: Any, master: Master, tmp_path: Path) -> Config:
    return link_sync.Config(**farm.config(source=master.root))


async def test_sync_plan_and_status_return_typed_results(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    master.write("a.gcode", b"G1 X1\n" * 100)
    farm = await farm_factory([PrinterSpec("mk4-01"), PrinterSpec("mini-02", profile="mini")])
    config = _config(farm, master, tmp_path)
    states = tmp_path / "state"

    planned = await link_sync.plan_async(config, printers=["mk4-01"], state_dir=states)
    assert [p.name for p in planned.printers] == ["mk4-01"]
    assert planned.printers[0].status is link_sync.SyncStatus.PLANNED
    assert farm["mk4-01"].files() == {}  # a plan changes nothing

    result = await link_sync.sync_async(
        config, exclude=["mini-02"], state_dir=states, retry=FAST_RETRY
    )
    assert isinstance(result, link_sync.RunResult)
    assert result.ok and result.exit_code == 0
    printer = result.printers[0]
    assert printer.status is link_sync.SyncStatus.SYNCED
    assert printer.state is link_sync.PrinterState.IDLE
    assert [(a.op, a.path) for a in printer.actions] == [(link_sync.Op.UPLOAD, "a.gcode")]
    assert result.to_json()["printers"][0]["actions"][0]["op"] == "upload"
    assert set(farm["mk4-01"].files()) == {"a.gcode"}
    assert farm["mini-02"].files() == {}

    reports = await link_sync.status_async(config, state_dir=states)
    assert {r.name: (r.reachable, r.in_sync) for r in reports} == {
        "mk4-01": (True, True),
        "mini-02": (True, False),
    }
    mini = next(r for r in reports if r.name == "mini-02")
    assert isinstance(mini, link_sync.PrinterStatusReport)
    assert mini.pending == {"upload": 1, "replace": 0, "delete": 0, "bytes": 600}
    assert mini.managed_files == 0 and mini.state is link_sync.PrinterState.IDLE
    assert reports.to_json()["printers"][reports.index(mini)]["pending"] == mini.pending


def test_sync_outside_an_event_loop(farm_factory: Any, master: Master, tmp_path: Path) -> None:
    from link_sync.emulator.testing import BackgroundFarm

    master.write("b.gcode", b"G1\n")
    with BackgroundFarm([PrinterSpec("mk4")]) as farm:
        config = _config(farm, master, tmp_path)
        result = link_sync.sync(config, state_dir=tmp_path / "state", retry=FAST_RETRY)
        reports = link_sync.status(config, state_dir=tmp_path / "state")
        assert result.exit_code == 0, result.to_json()
        assert reports[0].in_sync is True


class _Order(Observer):
    def __init__(self) -> None:
        self.events: list[str] = []

    def printer_started(self, name: str) -> None:
        self.events.append(f"start {name}")

    def printer_done(self, result: PrinterResult) -> None:
        self.events.append(f"done {result.name}")


async def test_session_runs_one_printer_with_the_backend_and_journal_it_is_given(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    master.write("one.gcode", b"G1 X1\n" * 50)
    farm = await farm_factory([PrinterSpec("mk4")])
    printer = _config(farm, master, tmp_path).printers["mk4"]
    work = PrinterWork(printer, scan_source(master.root).files)
    backend: Backend = await open_backend(printer)
    options = SyncOptions(retry=FAST_RETRY)
    order = _Order()
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        async with Session(journal, backends={"mk4": backend}) as session:
            assert await session.backend(printer) is backend
            first, second = await asyncio.gather(
                session.sync_printer(work, options, order),
                session.sync_printer(work, options, order),
            )
            recorded = journal.entries(next(iter(_keys(journal))))
        # One sync per printer at a time: the second waited for the first.
        assert order.events == ["start mk4", "done mk4", "start mk4", "done mk4"]
        assert [a.op for a in first.actions] == ["upload"]
        assert second.actions == [] and second.unchanged == 1  # the journal vouched
        assert list(recorded) == ["one.gcode"]
        # A given backend is the caller's: still open after the session closed.
        assert (await backend.status()).state == "IDLE"
        await backend.aclose()


def _keys(journal: Journal) -> list[str]:
    with journal._using() as db:
        return [row[0] for row in db.execute("SELECT DISTINCT printer_key FROM uploads")]


async def test_session_keeps_its_backends_across_runs_and_closes_them(
    farm_factory: Any, master: Master, tmp_path: Path
) -> None:
    master.write("x.gcode", b"G1\n")
    farm = await farm_factory(
        [PrinterSpec("mk4"), PrinterSpec("pi", profile="mk3", api_key="k1234567")]
    )
    config = _config(farm, master, tmp_path)
    files = scan_source(master.root).files
    works = [PrinterWork(p, files) for p in config.printers.values()]
    made: list[Backend] = []

    async def factory(printer: link_sync.PrinterConfig) -> Backend:
        made.append(await open_backend(printer))
        return made[-1]

    session = Session(None, backend_factory=factory)
    first = await session.run(works, SyncOptions(retry=FAST_RETRY))
    second = await session.run(works, SyncOptions(retry=FAST_RETRY))
    assert first.exit_code == 0 and second.exit_code == 0, second.to_json()
    assert len(made) == 2  # one per printer, reused by the second run
    assert [p.unchanged for p in second.printers] == [1, 1]
    await session.aclose()
    with pytest.raises(RuntimeError):
        await made[0].status()  # closed: its HTTP client refuses requests


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    """The first Python block of the README's "Python API" section."""
    section = README.read_text().split("## Python API", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the README's Python API section has no example"
    return found.group(1)


def test_readme_example_runs_and_passes_mypy_strict(tmp_path: Path) -> None:
    from link_sync.emulator.testing import BackgroundFarm

    script = tmp_path / "farm_script.py"
    script.write_text(readme_example())
    master = Master(tmp_path / "home" / "farm" / "gcodes")
    master.write("parts/clip.gcode", b"G1 X1\n" * 20)
    with BackgroundFarm([PrinterSpec("mk4-01", password="printer-pass")]) as farm:
        env = {
            **os.environ,
            "HOME": str(tmp_path / "home"),
            "LINK_SYNC_STATE_DIR": str(tmp_path / "state"),
            "MK4_HOST": farm["mk4-01"].url,
            "MK4_PASSWORD": "printer-pass",
        }
        run = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.stdout.splitlines() == [
            "mk4-01: would upload parts/clip.gcode",
            "mk4-01 IDLE in sync",
        ]
        assert set(farm["mk4-01"].files()) == {"parts/clip.gcode"}
    typed = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert typed.returncode == 0, typed.stdout + typed.stderr


SIDE_EFFECTS = """
import logging, signal, sys
root = logging.getLogger()
app_handler = logging.StreamHandler(sys.stderr)  # the application's own logging
root.addHandler(app_handler)
signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

def snapshot():
    return (
        list(root.handlers), list(root.filters), root.level, list(app_handler.filters),
        [signal.getsignal(s) for s in signals],
    )

before = snapshot()
import link_sync
printer = link_sync.PrinterConfig(host=sys.argv[2], password="pw-1234")
config = link_sync.Config(source=sys.argv[1], printers={"p": printer})
result = link_sync.sync(config, state_dir=sys.argv[3])
assert result.exit_code == 0, result.to_json()
assert snapshot() == before, (snapshot(), before)
print("unchanged")
"""


def test_a_library_call_leaves_logging_and_signals_alone(tmp_path: Path) -> None:
    from link_sync.emulator.testing import BackgroundFarm

    master = Master(tmp_path / "master")
    master.write("a.gcode", b"G1\n")
    with BackgroundFarm([PrinterSpec("p", password="pw-1234")]) as farm:
        run = subprocess.run(
            [sys.executable, "-c", SIDE_EFFECTS, str(master.root), farm["p"].url, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == "unchanged\n"


def test_refusals_before_any_contact_are_the_exported_exceptions(tmp_path: Path) -> None:
    unreachable = link_sync.PrinterConfig(host="127.0.0.1:9")  # never contacted
    states = tmp_path / "state"
    missing = link_sync.Config(source=tmp_path / "not-mounted", printers={"a": unreachable})
    with pytest.raises(link_sync.SourceMissing):
        link_sync.sync(missing, state_dir=states)
    Master(tmp_path / "empty")
    empty = link_sync.Config(source=tmp_path / "empty", printers={"a": unreachable})
    with pytest.raises(link_sync.SafetyRefusal, match="no print files"):
        link_sync.plan(empty, state_dir=states)
    with pytest.raises(link_sync.UsageError, match="unknown printer 'b'"):
        link_sync.status(empty, printers=["b"], state_dir=states)

    master = Master(tmp_path / "master")
    master.write("a.gcode", b"G1\n")
    config = link_sync.Config(source=master.root, printers={"a": unreachable})
    from link_sync.engine.printer_locks import PrinterLocks

    # A printer another run holds is a refusal of that printer, not of the run.
    with PrinterLocks(states, command="watch") as other:
        assert other.take(config.printers.values()) == {}
        result = link_sync.sync(config, state_dir=states)
    [printer] = result.printers
    assert printer.status == link_sync.SyncStatus.SKIPPED  # not "unreachable": never contacted
    assert (printer.error or "").startswith("locked by link-sync watch, pid ")
    assert result.exit_code == 3
