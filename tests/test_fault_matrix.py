"""The fault matrix: every fault of issue 5 against every operation it can hit.

One printer (the victim) gets the fault; a healthy printer syncs beside it. For every
cell the run ends within a bounded time, the victim's report names the fault, the
healthy printer ends in sync, the exit code is 1 where the fault persists, the victim
never lacks a master file it had before (a replace is never a delete), never holds a
half-written file, the file being printed stays as it was, and once the fault clears
one re-run converges doing only what was left (nothing that succeeded is sent again)
and the run after that does nothing at all.

Network faults (resets mid-upload, answers that stall half-way, a printer dropping
off the network) go through tests/tcp_proxy.py in front of the victim; the others use
the emulator's fault injection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import link_sync
from link_sync.core.planner import Action
from link_sync.emulator import EmulatedPrinter, Fault, PrinterSpec
from link_sync.engine.events import Observer
from link_sync.engine.options import RetryPolicy
from link_sync.result import ActionResult, PrinterResult, RunResult
from tcp_proxy import TcpProxy

from sync_helpers import Master

#: Short inactivity timeout and quick retries: a stalled printer costs ~1.5 s, not minutes.
TIMEOUT = 0.4
RETRY = RetryPolicy(attempts=3, first_delay=0.01, max_delay=0.05)
#: No run of a cell may take longer than this (3 attempts x TIMEOUT plus slack).
BOUND = 8.0

KEEP = b"G1 X1 ; keep\n" * 20
NEW = b"G1 X2 ; new\n" * 3000
STALE_OLD = b"G1 X3 ; old\n" * 100
STALE_NEW = b"G1 X4 ; fresh\n" * 2500
EXTRA = b"G1 X5 ; extra\n" * 10
LONG_NAME = "a very long file name " * 8 + ".gcode"


@dataclass(frozen=True)
class Scenario:
    profile: str
    printer: dict[str, bytes]
    master: dict[str, bytes]
    actions: frozenset[tuple[str, str]]  # what a clean run does on the victim


SCENARIOS = {
    "upload": Scenario(
        "mk4",
        {"keep.gcode": KEEP},
        {"keep.gcode": KEEP, "new.gcode": NEW},
        frozenset({("upload", "new.gcode")}),
    ),
    "replace": Scenario(
        "mk4",
        {"keep.gcode": KEEP, "stale.gcode": STALE_OLD},
        {"keep.gcode": KEEP, "stale.gcode": STALE_NEW},
        frozenset({("replace", "stale.gcode")}),
    ),
    "delete": Scenario(
        "mk4",
        {"keep.gcode": KEEP, "extra.gcode": EXTRA},
        {"keep.gcode": KEEP},
        frozenset({("delete", "extra.gcode")}),
    ),
    "mkdir": Scenario(  # the Pi creates folders itself, one level at a time
        "mk3",
        {"keep.gcode": KEEP},
        {"keep.gcode": KEEP, "sub/new.gcode": NEW},
        frozenset({("mkdir", "sub"), ("upload", "sub/new.gcode")}),
    ),
    "all": Scenario(  # for faults of the listing and the status: every kind of action
        "mk4",
        {"keep.gcode": KEEP, "stale.gcode": STALE_OLD, "extra.gcode": EXTRA},
        {"keep.gcode": KEEP, "stale.gcode": STALE_NEW, "new.gcode": NEW},
        frozenset({("upload", "new.gcode"), ("replace", "stale.gcode"), ("delete", "extra.gcode")}),
    ),
}
#: operation of the issue -> (scenario, the emulator's fault `op`)
OPERATIONS = {
    "upload": ("upload", "upload"),
    "replace": ("replace", "upload"),
    "delete": ("delete", "delete"),
    "mkdir": ("mkdir", "mkdir"),
    "listing": ("all", "list"),
    "status": ("all", "status"),
}
#: targets beyond the issue's operations: the probe (version/storage/info) and a Pi listing
EXTRA_TARGETS = {"probe": ("all", "info"), "listing-pi": ("mkdir", "list")}


class Rig:
    """The farm, the victim behind its proxy, the master and the state folder of one cell."""

    def __init__(self, farm: Any, proxy: TcpProxy, master: Master, tmp_path: Path) -> None:
        self.farm = farm
        self.victim: EmulatedPrinter = farm["victim"]
        self.proxy = proxy
        self.master = master
        self.tmp_path = tmp_path
        self.victim_config: dict[str, Any] = {}
        self.env = {"LINK_SYNC_STATE_DIR": str(tmp_path / "state")}

    async def sync(
        self, observer: Observer | None = None, timeout: float = TIMEOUT
    ) -> tuple[RunResult, float]:
        config = self.farm.config(source=str(self.master.root))
        for entry in config["printers"].values():
            entry["timeout"] = timeout
        config["printers"]["victim"].update(host=self.proxy.url, **self.victim_config)
        loaded = link_sync.Config(**config)
        started = time.monotonic()
        result = await link_sync.sync_async(
            loaded, observer=observer, retry=RETRY, state_dir=self.env["LINK_SYNC_STATE_DIR"]
        )
        return result, time.monotonic() - started


Hook = Callable[[Rig], Any]


@dataclass(frozen=True)
class Cell:
    """One fault: how to inject it, what the report must say, how it clears."""

    inject: Hook
    names: tuple[str, ...]  # the victim's report contains one of these
    heal: Hook = lambda rig: rig.victim.clear_faults()
    #: an observer event ("listing", "uploading", "transfer") at which `mid` runs
    when: str | None = None
    mid: Hook = lambda rig: None
    exit_code: int = 1
    statuses: frozenset[str] = frozenset({"failed", "unreachable"})
    master_extra: dict[str, bytes] = field(default_factory=dict)
    #: every printer's `timeout:`; a wait that runs out is not retried, so a cell whose
    #: fault keeps the test's event loop busy for long (the proxy rewriting a huge
    #: listing) gives every printer more than TIMEOUT
    timeout: float = TIMEOUT


def fault(**kw: Any) -> Hook:
    return lambda rig: rig.victim.add_fault(Fault(**kw))


def status_cell(code: int, op: str, text: str) -> Cell:
    return Cell(fault(kind="status", status=code, op=op, count=None), (text,))


def _no(rig: Rig) -> None:
    return None


async def _online(rig: Rig) -> None:
    rig.proxy.clear()
    await rig.proxy.go_online()


def _reset_at(share: float, count: int | None = None) -> Hook:
    def inject(rig: Rig) -> None:
        rig.proxy.reset_upload_at = share
        rig.proxy.reset_count = count

    return inject


def _stall_answers(method: str, listing: bool | None = None) -> Hook:
    def inject(rig: Rig) -> None:
        def rule(m: str, path: str) -> bool:
            if m != method:
                return False
            if listing is None:
                return True
            return path.startswith("/api/v1/status") if not listing else "/files/" in path

        rig.proxy.stall_response = rule

    return inject


def _rewrite(change: Callable[[str, Any], Any]) -> Hook:
    def inject(rig: Rig) -> None:
        rig.proxy.rewrite_json = lambda method, path, doc: change(path, doc)

    return inject


def _extra_keys(path: str, doc: Any) -> Any:
    if isinstance(doc, dict):
        out = {k: _extra_keys(path, v) for k, v in doc.items()}
        out["x_future_field"] = {"nested": [1, "two", None]}
        return out
    if isinstance(doc, list):
        return [_extra_keys(path, v) for v in doc]
    return doc


def _huge_listing(path: str, doc: Any) -> Any:
    """25,000 files that are not print files (of types unknown to us) in the root listing."""
    if isinstance(doc, dict) and path.rstrip("/").endswith("/usb") and "children" in doc:
        junk: list[Any] = [
            {"name": f"JUNK{i}.TXT", "display_name": f"junk {i}.txt", "type": "FILE", "ro": False}
            for i in range(20_000)
        ]
        junk += [{"name": f"X{i}.BIN", "type": "FUTURE_KIND", "size": "big"} for i in range(5_000)]
        doc = {**doc, "children": doc["children"] + junk}
    return doc


def _wrong_config(**settings: str) -> Hook:
    def inject(rig: Rig) -> None:
        rig.victim_config.update(settings)

    return inject


def _right_config(rig: Rig) -> None:
    rig.victim_config.clear()


def _start_print(path: str) -> Hook:
    return lambda rig: rig.victim.start_print(path)


def _end_print(rig: Rig) -> None:
    rig.victim.set_state("IDLE")


def _forget_long_name(rig: Rig) -> None:
    rig.master.remove(LONG_NAME)


RESET_NAMES = ("connection failed",)
#: the wait that ran out, in seconds: the victim is not asked again in this run
TIMEOUT_NAMES = (f"no answer in {TIMEOUT:g} s",)
OFFLINE_NAMES = ("connection failed", "connection refused")
BAD_ANSWER = (
    "not JSON",
    "unexpected answer",
    "no printer state",
    "not a list",
    "no name",
    "without a readable name",
    "not a JSON object",
    "no storage_list",
    "no writable storage",
)
TOLERATED = frozenset({"synced"})

#: (cell id, operation, cell)
MATRIX: list[tuple[str, str, Cell]] = []
for op_name, (_scenario, emu_op) in OPERATIONS.items():
    for code, text in [
        (408, "HTTP 408"),
        (409, "Another transfer in progress"),
        (500, "HTTP 500"),
        (503, "HTTP 503"),
    ]:
        MATRIX.append((f"{code}", op_name, status_cell(code, emu_op, text)))
    MATRIX.append(
        ("stall", op_name, Cell(fault(kind="stall", op=emu_op, count=None), TIMEOUT_NAMES))
    )
    MATRIX.append(
        (
            "slow",
            op_name,
            Cell(fault(kind="slow", op=emu_op, seconds=3 * TIMEOUT, count=None), TIMEOUT_NAMES),
        )
    )
for op_name in ("upload", "replace", "mkdir"):
    for share in (0.0, 0.5, 0.99):
        MATRIX.append(
            (
                f"reset-{round(share * 100)}%",
                op_name,
                Cell(_reset_at(share), RESET_NAMES, heal=_online),
            )
        )
for op_name in ("upload", "replace"):
    MATRIX.append(("507", op_name, status_cell(507, "upload", "HTTP 507")))
    MATRIX.append(
        (
            "stall-mid-answer",
            op_name,
            Cell(_stall_answers("PUT"), (*TIMEOUT_NAMES, "already exists"), heal=_online),
        )
    )
MATRIX += [
    ("stall-mid-answer", "listing", Cell(_stall_answers("GET", True), TIMEOUT_NAMES, heal=_online)),
    ("stall-mid-answer", "status", Cell(_stall_answers("GET", False), TIMEOUT_NAMES, heal=_online)),
]
for mode in ("missing_keys", "wrong_types", "garbage"):
    for op_name, emu_op in (
        ("listing", "list"),
        ("listing-pi", "list"),
        ("status", "status"),
        ("probe", "info"),
    ):
        MATRIX.append(
            (
                f"malformed-{mode}",
                op_name,
                Cell(fault(kind="malformed", mode=mode, op=emu_op, count=None), BAD_ANSWER),
            )
        )
MATRIX += [
    (
        "extra-keys",
        "listing",
        Cell(_rewrite(_extra_keys), (), heal=_online, exit_code=0, statuses=TOLERATED),
    ),
    (
        "huge-listing",
        "listing",
        Cell(
            _rewrite(_huge_listing),
            (),
            heal=_online,
            exit_code=0,
            statuses=TOLERATED,
            timeout=5.0,
        ),
    ),
    (
        "slow-within-timeout",
        "listing",
        Cell(
            fault(kind="slow", op="any", seconds=TIMEOUT / 4, count=None),
            (),
            exit_code=0,
            statuses=TOLERATED,
        ),
    ),
    (
        "offline-from-start",
        "listing",
        Cell(lambda rig: rig.proxy.go_offline(), OFFLINE_NAMES, heal=_online),
    ),
    (
        "offline-mid-run",
        "upload",
        Cell(
            _no,
            OFFLINE_NAMES,
            heal=_online,
            when="transfer",
            mid=lambda rig: rig.proxy.go_offline(),
        ),
    ),
    (
        "offline-mid-run",
        "all",
        Cell(
            _no,
            OFFLINE_NAMES,
            heal=_online,
            when="transfer",
            mid=lambda rig: rig.proxy.go_offline(),
        ),
    ),
    (
        "printing-mid-run",
        "replace",
        Cell(_no, ("busy",), heal=_end_print, when="listing", mid=_start_print("stale.gcode")),
    ),
    (
        "printing-mid-run",
        "delete",
        Cell(
            _no,
            ("printer is now PRINTING",),
            heal=_end_print,
            when="listing",
            mid=_start_print("extra.gcode"),
            exit_code=0,
            statuses=frozenset({"busy"}),
        ),
    ),
    (
        "wrong-password",
        "listing",
        Cell(_wrong_config(password="not-the-password"), ("wrong password",), heal=_right_config),
    ),
    (
        "wrong-api-key",
        "mkdir",
        Cell(_wrong_config(api_key="not-the-key"), ("wrong password",), heal=_right_config),
    ),
    (
        "414-long-name",
        "upload",
        Cell(
            _no,
            ("path too long",),
            heal=_forget_long_name,
            statuses=frozenset({"failed"}),
            master_extra={LONG_NAME: b"G1\n"},
        ),
    ),
    ("414-from-printer", "upload", status_cell(414, "upload", "HTTP 414")),
    # Transient faults that the retries absorb: the run ends in sync.
    (
        "409-once",
        "upload",
        Cell(
            fault(kind="status", status=409, op="upload", count=1),
            (),
            exit_code=0,
            statuses=TOLERATED,
        ),
    ),
    (
        "503-twice",
        "listing",
        Cell(
            fault(kind="status", status=503, op="list", count=2),
            (),
            exit_code=0,
            statuses=TOLERATED,
        ),
    ),
    (
        "reset-50%-once",
        "upload",
        Cell(_reset_at(0.5, count=1), (), heal=_online, exit_code=0, statuses=TOLERATED),
    ),
]


class Hooked(Observer):
    """Runs the cell's mid-run hook once, at the chosen moment, for the victim only."""

    def __init__(self, rig: Rig, cell: Cell) -> None:
        self.rig = rig
        self.cell = cell
        self.fired = False
        self.restarts: list[str] = []

    def _fire(self, name: str, event: str) -> None:
        if name == "victim" and self.cell.when == event and not self.fired:
            self.fired = True
            self.cell.mid(self.rig)

    def printer_state(self, name: str, text: str) -> None:
        self._fire(name, text)

    def transfer_started(self, name: str, action: Action) -> None:
        self._fire(name, "transfer")

    def transfer_restarted(self, name: str, action: Action, reason: str) -> None:
        if name == "victim":
            self.restarts.append(reason)


def report_text(printer: PrinterResult) -> str:
    parts = [printer.error or "", *printer.notes]
    parts += [a.error for a in printer.actions if a.error]
    return " | ".join(parts)


def ops(actions: list[ActionResult], ok: bool = True) -> set[tuple[str, str]]:
    return {(a.op, a.path) for a in actions if a.ok == ok}


def by_name(result: RunResult, name: str) -> PrinterResult:
    return next(p for p in result.printers if p.name == name)


def assert_nothing_lost(
    before: dict[str, bytes], after: dict[str, bytes], master: dict[str, bytes]
) -> None:
    """No master file the printer had is gone; every file is whole (old or new)."""
    for path in before:
        if path in master:
            assert path in after, f"{path} vanished from the printer"
    for path, data in after.items():
        if path in master:
            assert data in (before.get(path), master[path]), f"{path} is half-written"
        else:
            assert data == before.get(path), f"{path} appeared or changed"


@pytest.mark.parametrize(
    ("fault_id", "operation", "cell"),
    [pytest.param(f, o, c, id=f"{f}-{o}") for f, o, c in MATRIX],
)
async def test_fault_cell(
    farm_factory: Any,
    tmp_path: Path,
    fault_id: str,
    operation: str,
    cell: Cell,
) -> None:
    scenario = SCENARIOS[OPERATIONS.get(operation, EXTRA_TARGETS.get(operation, ("all",)))[0]]
    master = Master(tmp_path / "master")
    for path, data in {**scenario.master, **cell.master_extra}.items():
        master.write(path, data, mtime=time.time() - 3600)
    api_key = {"api_key": "pi-key"} if scenario.profile == "mk3" else {}
    farm = await farm_factory(
        [
            PrinterSpec(
                "victim", profile=scenario.profile, files=dict(scenario.printer), **api_key
            ),
            PrinterSpec("healthy", profile="mk4", files=dict(scenario.printer)),
        ]
    )
    proxy = TcpProxy(farm["victim"].port)
    await proxy.start()
    rig = Rig(farm, proxy, master, tmp_path)
    victim = rig.victim
    try:
        before = victim.files()
        master_files = master.files()
        cell.inject(rig)
        observer = Hooked(rig, cell)

        # -- the run with the fault --------------------------------------------------
        result, seconds = await rig.sync(observer, cell.timeout)

        assert seconds < BOUND, f"run took {seconds:.1f} s"
        assert result.exit_code == cell.exit_code, result.to_json()
        report = by_name(result, "victim")
        assert report.status in cell.statuses, result.to_json()
        if cell.names:
            text = report_text(report)
            assert any(n.lower() in text.lower() for n in cell.names), text
        healthy = by_name(result, "healthy")
        if not cell.master_extra:  # a fault in the master itself hits every printer
            assert healthy.status == "synced", healthy.to_json()
        assert farm["healthy"].files() == scenario.master
        assert master.files() == master_files  # the master is only ever read
        assert_nothing_lost(before, victim.files(), master_files)
        if victim.job is not None:
            job = victim.job_path()
            assert job is not None and victim.files()[job] == before[job], "job file touched"
        assert ops(report.actions, ok=True) <= scenario.actions

        # -- the fault clears: one re-run does what is left, and only that -----------
        healed = cell.heal(rig)
        if healed is not None:
            await healed
        master_files = master.files()
        done = ops(report.actions, ok=True)
        victim.requests.clear()
        again, seconds = await rig.sync(timeout=cell.timeout)

        assert seconds < BOUND
        assert again.exit_code == 0, again.to_json()
        redo = by_name(again, "victim")
        assert redo.status == "synced", redo.to_json()
        assert ops(redo.actions) <= scenario.actions - done, "work done twice"
        puts = [r for r in victim.requests if r.method == "PUT" and r.status in (200, 201)]
        sent = [a for a in redo.actions if a.op in ("upload", "replace")]
        assert len([r for r in puts if "Create-Folder" not in r.headers]) == len(sent)
        assert victim.files() == scenario.master
        assert master.files() == master_files

        victim.requests.clear()
        third, _ = await rig.sync(timeout=cell.timeout)
        assert by_name(third, "victim").actions == []
        assert not [r for r in victim.requests if r.method in ("PUT", "DELETE", "POST")]
    finally:
        await proxy.stop()


def test_matrix_covers_every_fault_and_operation() -> None:
    cells = {(f, o) for f, o, _ in MATRIX}
    for op_name in OPERATIONS:
        for f in ("408", "409", "500", "503", "stall", "slow"):
            assert (f, op_name) in cells
    for f in ("reset-0%", "reset-50%", "reset-99%", "507", "stall-mid-answer"):
        assert (f, "upload") in cells and (f, "replace") in cells
    assert len(cells) == len(MATRIX)  # no cell twice
