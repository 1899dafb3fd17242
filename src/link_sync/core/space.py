"""A printer's storage short of space: what a plan needs, and what goes first.

USB sticks fill up with one-off prints, exactly the files link-sync exists to
clean up. When the printer refuses an upload for space (507) or says it has too
little free space for the plan, the engine deletes the plan's excess first (those
files are not in the master, so nothing the master has is lost) and then sends the
rest in `fitting_order`, so one huge file cannot starve the replaces and the small
files. Pure functions; the engine (`link_sync.engine`) does the I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from link_sync.core.model import Op
from link_sync.core.planner import Action, Plan
from link_sync.core.units import human_bytes


@dataclass(frozen=True, slots=True)
class SpaceNeed:
    """Bytes a plan adds to a printer's storage, and bytes its deletes free."""

    adds: int
    frees: int

    def fits(self, free: int) -> bool:
        return self.adds <= free

    def fits_after_deletes(self, free: int) -> bool:
        return self.adds <= free + self.frees


def space_need(plan: Plan) -> SpaceNeed:
    """What the plan's transfers add (a replace: the new size minus the old, where the
    listing gives the old size) and what its deletes free (where sizes are known)."""
    adds = 0
    for action in plan.transfers:
        old = action.remote.size if action.op == Op.REPLACE and action.remote else None
        adds += action.bytes - (old or 0)
    frees = sum((a.remote.size or 0) for a in plan.deletes if a.remote is not None)
    return SpaceNeed(adds=max(adds, 0), frees=frees)


def fit_note(need: SpaceNeed, free: int) -> str | None:
    """A warning for a plan the printer's reported free space cannot hold, else None."""
    if need.fits(free):
        return None
    wanted = f"the plan needs {human_bytes(need.adds)}, {human_bytes(free)} free"
    if need.fits_after_deletes(free):
        return f"{wanted}: the excess files are deleted first to make room"
    return (
        f"does not fit: {wanted}, {human_bytes(free + need.frees)} after the planned deletes; "
        "files that do not fit will not be sent"
    )


def fitting_order(actions: Sequence[Action]) -> list[Action]:
    """Replaces first (the printer has a copy of them to update), then smallest first."""
    return sorted(actions, key=lambda a: (a.op != Op.REPLACE, a.bytes, a.path))


def not_sent_message(actions: Sequence[Action], free: int | None) -> str:
    """'storage full: 2 files (60.0 kB) not sent, 10.0 kB free: a.gcode, b.gcode'."""
    count = len(actions)
    total = sum(a.bytes for a in actions)
    files = "1 file" if count == 1 else f"{count} files"
    left = f", {human_bytes(free)} free" if free is not None else ""
    names = ", ".join(a.path for a in actions)
    return f"storage full: {files} ({human_bytes(total)}) not sent{left}: {names}"
