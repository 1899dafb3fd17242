"""PrinterSpec: how one emulated printer is set up (from Python or a --farm YAML file)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from link_sync.emulator.faults import Fault
from link_sync.emulator.profiles import PROFILES

STATES = frozenset(
    {"IDLE", "BUSY", "PRINTING", "PAUSED", "FINISHED", "STOPPED", "ERROR", "ATTENTION", "READY"}
)


@dataclass
class PrinterSpec:
    name: str
    profile: str = "mk4"
    rate: int | None = None  # upload bytes/s; None or 0 = unthrottled
    latency: float = 0.0  # seconds added to every response
    password: str = "maker-pass"
    username: str = "maker"
    api_key: str | None = None  # mk3 only
    files: dict[str, bytes | int] = field(default_factory=dict)
    state: str = "IDLE"
    job_file: str | None = None
    capacity: int | None = None  # bytes of storage; None = unlimited
    faults: list[Fault] = field(default_factory=list)
    fat_seconds_bug: bool = False
    listing_lag: float = 0.0  # mk3: seconds before a change shows in listings
    clock_offset: float = 0.0  # seconds the printer's clock is ahead of ours
    body_timeout: float = 10.0  # seconds without upload body bytes before 408
    #: Buddy's HTTP server (lib/WUI/nhttp/server.h): requests worked on at once
    #: (ACTIVE_CONNS), seconds a request may make no progress while it is read
    #: (ACTIVE_TIMEOUT), seconds an idle keep-alive connection stays open (IDLE_TIMEOUT)
    request_slots: int = 3
    request_timeout: float = 10.0
    idle_timeout: float = 60.0
    #: Buddy: an upload to an idle printer opens its print preview; None = the farm's default
    preview: bool | None = None
    nozzle_diameter: float = 0.4  # Buddy: reported by /api/v1/info, checked against M862.1
    usb: bool = True  # Buddy: a USB stick is in the printer
    #: the name the printer gives itself in /api/version and /api/v1/info; None: the
    #: firmware's default for the model (Buddy: `prusa-mk4`, `prusa-mini`, ...; Pi: its name)
    hostname: str | None = None

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r} (one of {', '.join(PROFILES)})")
        self.state = self.state.upper()
        if self.state not in STATES:
            raise ValueError(f"unknown state {self.state!r} (one of {', '.join(sorted(STATES))})")
        if self.rate is not None and self.rate < 0:
            raise ValueError("rate must be >= 0")
        if self.latency < 0:
            raise ValueError("latency must be >= 0")
        slots = self.request_slots
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError("request_slots must be a whole number >= 1")
        for key in ("body_timeout", "request_timeout", "idle_timeout"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{key} must be a number of seconds > 0")
        if isinstance(self.nozzle_diameter, bool) or not isinstance(
            self.nozzle_diameter, int | float
        ):
            raise ValueError("nozzle_diameter must be a number (mm)")
        if not 0 < self.nozzle_diameter < 10:
            raise ValueError("nozzle_diameter must be between 0 and 10 mm")
        if self.preview is not None and not isinstance(self.preview, bool):
            raise ValueError("preview must be true or false")
        if self.hostname is not None and (not isinstance(self.hostname, str) or not self.hostname):
            raise ValueError("hostname must be a non-empty text")
        if not isinstance(self.usb, bool):
            raise ValueError("usb must be true or false")
        cap = self.capacity
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 0):
            raise ValueError("capacity must be a number of bytes >= 0")
        if self.job_file is not None and self.job_file not in self.files:
            raise ValueError(f"job_file {self.job_file!r} is not among the printer's files")
        if self.state in {"PRINTING", "PAUSED"} and self.job_file is None:
            raise ValueError(f"state {self.state} needs a job_file")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrinterSpec:
        """Build from a --farm entry; unknown keys are errors."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
        data = dict(data)
        files = data.get("files") or {}
        if not isinstance(files, dict):
            raise ValueError("files must be a mapping of path to text, bytes or size")
        data["files"] = {
            str(k): (v.encode() if isinstance(v, str) else v) for k, v in files.items()
        }
        faults = data.get("faults") or []
        if not isinstance(faults, list):
            raise ValueError("faults must be a list")
        data["faults"] = [f if isinstance(f, Fault) else Fault.from_dict(f) for f in faults]
        return cls(**data)
