"""Faults a test (or a --farm file) injects into an emulated printer.

Faults hit authenticated requests only (a digest 401 round trip does not use one up),
in the order they were added; `count` is how many matching requests a fault hits
(None: every one, for as long as it is installed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Faults in what the printer says rather than how: `emulator/hostile_text.py`.
HOSTILE_TEXT_KINDS = frozenset({"echo_credentials", "control_chars"})
#: A hostile or broken printer's answers: `emulator/hostile_answers.py`.
HOSTILE_ANSWER_KINDS = frozenset(
    {"redirect", "endless", "huge", "deep_json", "drip", "long_download"}
)
KINDS = (
    frozenset({"reset", "status", "stall", "offline_after", "slow", "malformed"})
    | HOSTILE_TEXT_KINDS
    | HOSTILE_ANSWER_KINDS
)
OPS = frozenset({"upload", "delete", "mkdir", "list", "status", "info", "print", "any"})
MALFORMED_MODES = frozenset({"missing_keys", "wrong_types", "garbage"})

#: The firmware's wording for the statuses a "status" fault answers with.
STATUS_MESSAGES = {
    408: "Request Timeout",
    409: "Another transfer in progress",
    500: "Internal Server Error",
    503: "Service Unavailable",
    507: "Insufficient Storage",
}


@dataclass(slots=True)
class Fault:
    """One injected misbehaviour.

    kind:
      "reset"          abort the connection (TCP RST) after `after_bytes` of an upload body
                       (an int: bytes; a float below 1: that fraction of the body; default 0)
      "status"         answer `status` (408, 409, 500, 503, 507) at once
      "stall"          accept and never answer; with `after_bytes`, stop reading mid-body
      "offline_after"  stop listening after `seconds` (from when the fault is added) or
                       after `requests` more requests
      "slow"           add `seconds` of latency
      "malformed"      corrupt the JSON body: `mode` missing_keys | wrong_types | garbage
      "echo_credentials" the printer's password (and API key) in every word it shows: firmware,
                       state, job and file (display) names (`emulator/hostile_text.py`)
      "control_chars"  a newline, a forged log line, ESC sequences, CR and C1 in those words
    A hostile or broken printer's answers (`emulator/hostile_answers.py`):
      "redirect"       answer 307 (or `status`, if a 3xx) with `Location: location`, instead
                       of carrying the request out
      "endless"        answer 200 with a JSON body that never ends (chunked)
      "huge"           answer 200 with a JSON body of `size` bytes (default 100 MB), its
                       Content-Length announced
      "deep_json"      answer 200 with JSON nested `depth` levels (default 100,000)
      "drip"           send the real answer one byte every `seconds` (default 2)
      "long_download"  a download sends `size` bytes more than the file holds (None: never
                       ends); it hits downloads whatever `op` says
    op: which requests it hits: upload, delete, mkdir, list, status, info, print or any.
    """

    kind: str
    op: str = "any"
    count: int | None = 1
    status: int = 503
    after_bytes: int | float | None = None
    seconds: float | None = None
    requests: int | None = None
    mode: str = "missing_keys"
    location: str | None = None
    size: int | None = None
    depth: int = 100_000
    hits: int = field(default=0, compare=False)
    #: bytes a hostile answer (endless, huge, long_download) has sent so far
    sent: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {sorted(KINDS)})")
        if self.op not in OPS:
            raise ValueError(f"unknown fault op {self.op!r} (one of {sorted(OPS)})")
        if self.kind == "malformed" and self.mode not in MALFORMED_MODES:
            raise ValueError(f"unknown malformed mode {self.mode!r}")
        if self.kind == "offline_after" and self.seconds is None and self.requests is None:
            raise ValueError("offline_after needs seconds or requests")
        if self.kind == "redirect" and not self.location:
            raise ValueError("redirect needs a location")
        if self.size is not None and (isinstance(self.size, bool) or self.size < 0):
            raise ValueError("size must be a number of bytes >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        known = {"kind", "op", "count", "status", "after_bytes", "seconds", "requests", "mode"}
        known |= {"location", "size", "depth"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault key(s): {', '.join(sorted(unknown))}")
        return cls(**data)

    def matches(self, op: str) -> bool:
        return self.op == "any" or self.op == op

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count

    def body_limit(self, length: int) -> int:
        """Bytes of a `length`-byte body to accept before a reset or stall."""
        at = self.after_bytes or 0
        if isinstance(at, float) and at < 1:
            return int(length * at)
        return min(int(at), length)


class FaultSet:
    """The faults installed on one printer; consulted once per authenticated request."""

    def __init__(self) -> None:
        self.items: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self.items.append(fault)

    def clear(self) -> None:
        self.items.clear()

    def take(self, op: str, kinds: frozenset[str]) -> Fault | None:
        """The first live fault of one of `kinds` for `op`, counted as used."""
        for fault in self.items:
            if fault.kind in kinds and fault.matches(op) and not fault.exhausted:
                fault.hits += 1
                if fault.exhausted:
                    self.items.remove(fault)
                return fault
        return None
