"""What differs between emulated printer models: firmware family, identity strings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    key: str  # the --profile value
    family: str  # "buddy" (printer firmware serves PrusaLink) or "pi" (PrusaLink 0.8.1 on a Pi)
    model: str  # as a user would name it
    firmware: str
    printer_type: str  # the firmware's own type code

    @property
    def is_pi(self) -> bool:
        return self.family == "pi"


_BUDDY_FW = "6.2.4+8910"

PROFILES: dict[str, Profile] = {
    p.key: p
    for p in (
        Profile("mk4", "buddy", "MK4", _BUDDY_FW, "MK4"),
        Profile("mk4s", "buddy", "MK4S", _BUDDY_FW, "MK4S"),
        Profile("mk3.5", "buddy", "MK3.5", _BUDDY_FW, "MK3.5"),
        Profile("mk3.9", "buddy", "MK3.9", _BUDDY_FW, "MK3.9"),
        Profile("xl", "buddy", "XL", _BUDDY_FW, "XL"),
        Profile("mini", "buddy", "MINI", _BUDDY_FW, "MINI"),
        Profile("coreone", "buddy", "CORE One", _BUDDY_FW, "COREONE"),
        Profile("mk3", "pi", "MK3S", "3.14.0-8224", "I3MK3S"),
    )
}

#: The Raspberry-Pi PrusaLink version the `mk3` profile reproduces.
PI_LINK_VERSION = "0.8.1"
