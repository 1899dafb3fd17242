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
    #: the firmware build's default network name (src/common/config.h `LAN_HOSTNAME_DEF`);
    #: empty for the Pi, whose PrusaLink names itself after the Raspberry Pi
    hostname: str = ""

    @property
    def is_pi(self) -> bool:
        return self.family == "pi"


_BUDDY_FW = "6.2.4+8910"

PROFILES: dict[str, Profile] = {
    p.key: p
    for p in (
        # MK4, MK4S and MK3.9 run one firmware build, the MK4's
        Profile("mk4", "buddy", "MK4", _BUDDY_FW, "MK4", "prusa-mk4"),
        Profile("mk4s", "buddy", "MK4S", _BUDDY_FW, "MK4S", "prusa-mk4"),
        Profile("mk3.5", "buddy", "MK3.5", _BUDDY_FW, "MK3.5", "prusa-mk3-5"),
        Profile("mk3.9", "buddy", "MK3.9", _BUDDY_FW, "MK3.9", "prusa-mk4"),
        Profile("xl", "buddy", "XL", _BUDDY_FW, "XL", "prusa-xl"),
        Profile("mini", "buddy", "MINI", _BUDDY_FW, "MINI", "prusa-mini"),
        Profile("coreone", "buddy", "CORE One", _BUDDY_FW, "COREONE", "prusa-core-one"),
        Profile("mk3", "pi", "MK3S", "3.14.0-8224", "I3MK3S"),
    )
}

#: The Raspberry-Pi PrusaLink version the `mk3` profile reproduces.
PI_LINK_VERSION = "0.8.1"
