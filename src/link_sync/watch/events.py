"""What a watch reports: one event per thing that happened, for logs, JSON Lines and SSE."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from link_sync.report import human_bytes


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One event. `printer` is None for events of the whole watch (master, config, stop)."""

    event: str
    printer: str | None = None
    path: str | None = None
    bytes: int | None = None
    error: str | None = None
    #: the human sentence for the log line ("now PRINTING, 3 files pending")
    message: str | None = None
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "time": _iso(self.time),
            "printer": self.printer,
            "event": self.event,
            "path": self.path,
            "bytes": self.bytes,
            "error": self.error,
        }
        if self.message:
            data["message"] = self.message
        return data

    def line(self) -> str:
        """'2026-12-01T14:00:00Z mk4-01: uploaded parts/clip.gcode (1.2 kB)'."""
        who = self.printer or "watch"
        return f"{_iso(self.time)} {who}: {self.text()}"

    def text(self) -> str:
        if self.message:
            return self.message
        what = _VERBS.get(self.event, self.event)
        size = f" ({human_bytes(self.bytes)})" if self.bytes else ""
        path = f" {self.path}" if self.path else ""
        error = f": {self.error}" if self.error else ""
        return f"{what}{path}{size}{error}"


_VERBS = {
    "upload_started": "uploading",
    "failed": "FAILED",
}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
