"""What a Buddy printer's default hostname says about its model.

A Buddy printer does not name its model over the network (`basic_gets.cpp`); its
hostname, until someone changes it, is its firmware build's `LAN_HOSTNAME_DEF`
(`src/common/config.h`). Most builds are one compatibility group, so their default
hostname decides the model's group; `prusa-mk4` is the build of the MK4, the MK4S and
the MK3.9 — two groups (mk4, mk4s) — so it only narrows the choice.

Used at set-up time (`discover`, `init --discover`), where the user sees it: a sync
never routes by a hostname.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Family:
    """The models a default hostname may stand for; `model` when it is one choice."""

    hostname: str
    choices: tuple[str, ...]

    @property
    def model(self) -> str | None:
        """The model to write when the hostname decides it (one compatibility group)."""
        return self.choices[0] if len(self.choices) == 1 else None


#: `LAN_HOSTNAME_DEF` of each Buddy firmware build, and the models (firmware `id_str`)
#: that run it. The MK3.5 and MK3.5S are one group, so `prusa-mk3-5` decides; an MINI
#: build is the MINI and MINI+ alike.
DEFAULT_HOSTNAMES: dict[str, tuple[str, ...]] = {
    "prusa-mini": ("MINI",),
    "prusa-xl": ("XL",),
    "prusa-core-one": ("COREONE",),
    "prusa-mk3-5": ("MK3.5",),
    "prusa-ix": ("iX",),
    "prusa-mk4": ("MK4", "MK4S", "MK3.9"),
}


def family_of(hostname: str | None) -> Family | None:
    """The family a firmware's default hostname names, or None for any other name.

    mDNS may have made a clashing name unique (`prusa-mini-2`, `prusa-mini (2)`): those
    count as the default too.
    """
    if not hostname:
        return None
    name = hostname.strip().lower().removesuffix(".local").removesuffix(".")
    for default, choices in DEFAULT_HOSTNAMES.items():
        if name == default or _renamed(name, default):
            return Family(default, choices)
    return None


def _renamed(name: str, default: str) -> bool:
    """`prusa-mini-2` or `prusa-mini (2)`: a default name made unique on the network."""
    for sep, end in (("-", ""), (" (", ")")):
        if name.startswith(default + sep) and name.endswith(end):
            number = name[len(default) + len(sep) : len(name) - len(end)]
            if number.isdigit():
                return True
    return False
