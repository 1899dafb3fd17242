"""One emulated printer: its storage, state, job, transfer, faults and request log.

The HTTP side lives in `server.py`; this is what a test changes at run time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from link_sync.emulator.auth import BuddyAuth, PiAuth
from link_sync.emulator.bgcode_check import bgcode_file_error
from link_sync.emulator.fat import clean_long_name, fat_timestamp
from link_sync.emulator.faults import Fault, FaultSet
from link_sync.emulator.listener import Listener, SlotLimits, receive_window
from link_sync.emulator.printcheck import read_file_target, wrong_printer
from link_sync.emulator.profiles import PROFILES, Profile
from link_sync.emulator.spec import STATES, PrinterSpec
from link_sync.emulator.storage import Node, Storage, filler

#: Keep the request log bounded for long `link-sync emulate` runs.
_MAX_RECORDS = 100_000


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str  # %-decoded path, without the query
    status: int  # 0 when the connection was reset, stalled or dropped
    headers: dict[str, str] = field(default_factory=dict)  # a subset, see server.RECORDED
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class EntryInfo:
    path: str
    name: str  # long name
    short_name: str
    is_dir: bool
    size: int
    m_timestamp: int


@dataclass(slots=True)
class Job:
    id: int
    node: Node
    started: float


@dataclass(slots=True)
class Transfer:
    id: int
    path: str
    size: int
    started: float
    transferred: int = 0


class EmulatedPrinter:
    def __init__(
        self,
        spec: PrinterSpec,
        *,
        host: str,
        port: int,
        storage_dir: Path | None,
        preview: bool = True,
    ) -> None:
        self.spec = spec
        self.profile: Profile = PROFILES[spec.profile]
        self.pi = self.profile.is_pi
        #: Buddy: uploads open the print preview (the spec's choice, else the farm's default)
        self.preview_on = not self.pi and (spec.preview if spec.preview is not None else preview)
        #: Buddy: the file shown on the print-preview screen (None: no preview open)
        self.preview: Node | None = None
        #: Buddy: the "wrong printer" question on the screen before a print (ATTENTION)
        self.question: str | None = None
        #: Buddy: the USB stick is in (`usb_remove()` / `usb_insert()`)
        self.usb = spec.usb or self.pi
        disk = storage_dir / spec.name if storage_dir is not None else None
        if self.pi:
            self.storage = Storage(fat=False, root_name="PrusaLink gcodes", disk_root=disk)
            self.auth: BuddyAuth | PiAuth = PiAuth(spec.username, spec.password, spec.api_key)
        else:
            self.storage = Storage(fat=True, root_name="usb", disk_root=disk)
            self.auth = BuddyAuth(spec.username, spec.password)
        self.sdcard = Storage(fat=False, root_name="SD Card")  # Pi: read-only, empty
        self.faults = FaultSet()
        self.lag_until = 0.0  # Pi: listings show the old tree until then (monotonic)
        self.changed_at = time.time()
        self.requests: list[RequestRecord] = []
        self.state = spec.state
        self.job: Job | None = None
        self.transfer: Transfer | None = None
        self._ids = 0
        self.host = host
        self._timers: list[asyncio.TimerHandle] = []
        self.serial = f"EMU{abs(hash(spec.name)) % 10**10:010d}"
        for path, content in spec.files.items():
            data = filler(content) if isinstance(content, int) else content
            self.write_file(path, data)
        if spec.job_file is not None:
            self.start_print(spec.job_file)
            self.state = spec.state
        from link_sync.emulator.server import make_server  # server imports this module

        self.web_server: web.Server = make_server(self)
        limits = SlotLimits(
            slots=None if self.pi else spec.request_slots,
            active_timeout=spec.request_timeout,
            idle_timeout=spec.idle_timeout,
        )
        self.listener = Listener(
            self.web_server, host, port, limits, receive_window(spec.rate, self.pi)
        )

    # -- identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def hostname(self) -> str:
        """What the printer calls itself: the farm file's, else the firmware's default."""
        return self.spec.hostname or self.profile.hostname or self.spec.name

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def now(self) -> float:
        """The printer's clock."""
        return time.time() + self.spec.clock_offset

    def stamp(self, epoch: float | None = None) -> int:
        """m_timestamp for something written at `epoch` (printer clock)."""
        t = self.now() if epoch is None else epoch
        if self.pi:
            return int(t)
        return fat_timestamp(t, halved_seconds_bug=self.spec.fat_seconds_bug)

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.listener.open()
        await self.listener.wait_ready()
        for fault in self.spec.faults:
            self.add_fault(fault)

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self.listener.close()
        await self.web_server.shutdown(0.1)

    def go_offline(self) -> None:
        """Stop listening; open connections are dropped."""
        self.listener.close()

    def go_online(self) -> None:
        self.listener.open()

    @property
    def online(self) -> bool:
        return self.listener.online

    # -- faults ---------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        if fault.kind == "offline_after" and fault.seconds is not None:
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(fault.seconds, self.go_offline))
            return
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    # -- state ----------------------------------------------------------------------------

    def set_state(self, state: str) -> None:
        state = state.upper()
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        self.state = state
        if state == "IDLE":
            self.job = None
            self.preview = None
        if state != "ATTENTION":
            self.question = None

    def start_print(self, path: str) -> None:
        node = self._lookup(path)
        if node is None or node.is_dir:
            raise FileNotFoundError(path)
        self.preview = None  # a print replaces the preview on the screen
        self.question = None
        self.job = Job(self.next_id(), node, time.monotonic())
        self.state = "PRINTING"

    def print_file(self, node: Node) -> None:
        """A print asked for (POST, Print-After-Upload, Print pressed on the preview).

        Buddy checks the file first: a file for another model or nozzle stops at the
        "wrong printer" question, ATTENTION, with a job (the preview counts it as
        started) until someone answers on the screen.
        """
        problem = None if self.pi else self.file_error(node) or self.wrong_printer(node)
        if problem is None:
            self.start_print(self.storage.path_of(node))
            return
        self._ask(node, problem)

    def _ask(self, node: Node, problem: str) -> None:
        """The screen asks about `node` before any print: ATTENTION, with a job."""
        self.preview = None
        self.job = Job(self.next_id(), node, time.monotonic())
        self.question = problem
        self.state = "ATTENTION"

    def file_error(self, node: Node) -> str | None:
        """Buddy: the file error its preview or print reports for a `.bgcode` file with a
        bad header or a block whose CRC does not match (the upload stored it as sent)."""
        if self.pi or not node.name.lower().endswith(".bgcode"):
            return None
        disk = self.storage.disk_root
        if disk is not None:
            data = (disk / self.storage.path_of(node)).read_bytes()
        else:
            data = self.storage.read(node)
        return bgcode_file_error(data)

    def wrong_printer(self, node: Node) -> str | None:
        """Why the firmware would ask before printing this file (None: it would not)."""
        disk = self.storage.disk_root
        target = read_file_target(
            node.name,
            None if disk is not None else self.storage.read(node),
            disk / self.storage.path_of(node) if disk is not None else None,
        )
        return wrong_printer(target, self.profile.printer_type, self.spec.nozzle_diameter)

    def stop_print(self) -> None:
        if self.job is not None:
            self.state = "STOPPED"

    def job_path(self) -> str | None:
        if self.job is None:
            return None
        return self.storage.path_of(self.job.node)

    def is_job_file(self, node: Node) -> bool:
        return self.job is not None and self.job.node is node

    @property
    def can_print(self) -> bool:
        return self.state in {"IDLE", "READY", "FINISHED", "STOPPED"}

    @property
    def has_job(self) -> bool:
        """Whether the API reports a job: only while printing, paused, or asking a
        question about the print.

        Buddy `printer_state::has_job()`: in FINISHED and STOPPED /api/v1/job is 204
        although the print screen still shows the file. Pi PrusaLink 0.8.1: the job ends
        (job_state IDLE) on the first tick in FINISHED/STOPPED (printer_adapter/job.py),
        and /api/v1/job, /api/v1/status show a job only while it is not IDLE.
        """
        return self.job is not None and self.state in {"PRINTING", "PAUSED", "ATTENTION"}

    def holds_open(self, node: Node) -> bool:
        """Buddy: the file is open on the screen (preview or print screen), so removing
        or overwriting it fails with EBUSY."""
        return node is self.preview or self.is_job_file(node)

    # -- the screen (Buddy) ---------------------------------------------------------------

    def after_upload(self, node: Node) -> None:
        """What the firmware does after a PUT without Print-After-Upload: show the
        print preview of the file when the printer is ready for it
        (`wui_start_print` -> `printer_state::remote_print_ready(preview_only=true)`).
        A preview already open is not replaced; a finished or stopped print's screen
        is left first (`marlin_server::print_start`), with the preview off too
        (`--no-preview`: only the preview does not open)."""
        if self.pi or self.preview is not None:
            return
        if self.state not in {"IDLE", "READY", "FINISHED", "STOPPED"}:
            return
        self.job = None
        self.state = "IDLE"
        if not self.preview_on:
            return
        self.preview = node
        error = self.file_error(node)
        if error is not None:  # the preview opens on the file error instead
            self._ask(node, error)

    def press_print(self) -> bool:
        """Someone presses Print on the preview; False when no preview is open."""
        if self.preview is None:
            return False
        self.print_file(self.preview)
        return True

    def screen_back(self) -> bool:
        """Someone presses Back (or Home) on the printer: the question or the preview
        closes, or the finished/stopped print's screen is left. False when there was
        nothing to close."""
        if self.question is not None:  # the print never started: back to idle
            self.question = None
            self.leave_print_screen()
            return True
        if self.preview is not None:
            self.preview = None
            return True
        if self.state in {"FINISHED", "STOPPED"}:
            self.leave_print_screen()
            return True
        return False

    def leave_print_screen(self) -> None:
        """A finished or stopped print's screen closes; the printer is idle again."""
        self.job = None
        self.state = "IDLE"

    @property
    def screen_file(self) -> str | None:
        """The path of the file open on the screen (preview or print), if any."""
        if self.preview is not None:
            return self.storage.path_of(self.preview)
        return self.job_path()

    # -- the USB stick (Buddy) ------------------------------------------------------------

    def usb_remove(self) -> None:
        if self.pi:
            raise ValueError("the Pi PrusaLink profile has no USB stick")
        self.usb = False
        self.preview = None  # the preview closes with its file gone

    def usb_insert(self) -> None:
        self.usb = True

    # -- files ----------------------------------------------------------------------------

    def _parts(self, path: str) -> list[str]:
        return [p for p in path.replace("\\", "/").split("/") if p]

    def _lookup(self, path: str) -> Node | None:
        return self.storage.find(self._parts(path))

    def write_file(self, path: str, data: bytes) -> None:
        """Store a file as if someone else had put it there just now."""
        parts = [clean_long_name(p) for p in self._parts(path)]
        if not parts:
            raise ValueError("empty path")
        folder = self.storage.makedirs(parts[:-1], self.stamp())
        self.storage.put_bytes(folder, parts[-1], data, self.stamp())

    def files(self) -> dict[str, bytes]:
        return {
            self.storage.path_of(n): self.storage.read(n)
            for n in self.storage.walk()
            if not n.is_dir
        }

    def entry(self, path: str) -> EntryInfo | None:
        node = self._lookup(path)
        if node is None or node.parent is None:
            return None
        return EntryInfo(
            path=self.storage.path_of(node),
            name=node.name,
            short_name=node.short,
            is_dir=node.is_dir,
            size=node.size,
            m_timestamp=node.m_timestamp,
        )

    def touched(self) -> None:
        self.changed_at = time.time()

    def record(self, rec: RequestRecord) -> None:
        self.requests.append(rec)
        if len(self.requests) > _MAX_RECORDS:
            del self.requests[: _MAX_RECORDS // 2]
