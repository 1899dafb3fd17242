"""Model-aware routing: which master files each printer is meant to hold.

Pure; the master files' targets are read by the engine (`engine.masters`). Two steps:
- `identify_printer`: what a printer is, from the config (`model:`, `nozzle:`, `accept:`)
  and from what the printer says of itself (a backend whose capabilities say
  `names_model`: only the Pi PrusaLink; Buddy firmware does not say it, and OctoPrint and
  Moonraker do not know it, so only the config counts for them);
- `not_wanted`: the rule (`printer_models.fits`) applied to a printer's master files,
  giving the files it does not get and why.

A printer whose model is unknown gets every file; a file that names no printer is meant
for every printer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from link_sync.core.model import LocalFile
from link_sync.core.printer_models import fits, lookup_model, same_nozzle
from link_sync.core.targets import NO_TARGET, Target


@dataclass(frozen=True, slots=True)
class MasterTargets:
    """The targets of the master files, by absolute path, and what reading them cost."""

    targets: dict[str, Target]
    #: files opened to read their target (the others came from the journal's cache)
    read: int = 0
    cached: int = 0
    #: the distinct (model, nozzle) of the targets that name one
    kinds: frozenset[tuple[str | None, float | None]] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        kinds = frozenset((t.model, t.nozzle) for t in self.targets.values() if t.known)
        object.__setattr__(self, "kinds", kinds)

    def get(self, file: LocalFile) -> Target:
        return self.targets.get(str(file.abspath), NO_TARGET)


@dataclass(frozen=True, slots=True)
class PrinterIdentity:
    """What routing knows of one printer; `model` is a firmware model name or None."""

    model: str | None
    nozzle: float | None
    accept: tuple[str, ...] = ()
    #: what the report should say about it (overrides, routing off)
    notes: tuple[str, ...] = ()

    @property
    def routed(self) -> bool:
        return self.model is not None


def shown_model(*, names_model: bool, reported: str | None, configured: str | None) -> str | None:
    """The model a report shows for a printer, as routing knows it: the config's
    `model:` (a firmware name), else what a printer that names its model says, by its
    firmware name (`MK3S` for the Pi PrusaLink's `PrusaLink I3MK3S`), else the words
    the printer reports as they are (an OctoPrint profile's name, which routes nothing)."""
    if configured:
        found = lookup_model(configured)
        return found.name if found else configured
    said = lookup_model(reported) if names_model else None
    return said.name if said else reported


def identify_printer(
    *,
    names_model: bool,
    reported_model: str | None,
    reported_nozzle: float | None,
    configured_model: str | None = None,
    configured_nozzle: float | None = None,
    accept: Sequence[str] = (),
) -> PrinterIdentity:
    """The printer's model and nozzle: the config's when set, else what the printer says.

    `names_model`: the printer names its own model (the backend's capabilities); the
    model others report (an OctoPrint profile's name) does not route them.
    """
    notes: list[str] = []
    said = lookup_model(reported_model) if names_model else None
    model = said.name if said else None
    if configured_model is not None:
        configured = lookup_model(configured_model)
        chosen = configured.name if configured else configured_model
        if said is not None and said.name != chosen:
            notes.append(
                f"model: {configured_model} in the config, but the printer says it is "
                f"{said.display}; routing by the config (the printer still checks each file)"
            )
        model = chosen
    nozzle = reported_nozzle
    if configured_nozzle is not None:
        if reported_nozzle is not None and not same_nozzle(reported_nozzle, configured_nozzle):
            notes.append(
                f"nozzle: {configured_nozzle:g} in the config, but the printer says "
                f"{reported_nozzle:g} mm; routing by the config (the printer still checks "
                "each file)"
            )
        nozzle = configured_nozzle
    if model is None:
        hint = (
            "set model: in the config"
            if not names_model
            else "the printer does not say it; set model: in the config"
        )
        notes.append(f"model unknown: routing is off for this printer, it gets every file ({hint})")
    return PrinterIdentity(model, nozzle, tuple(accept), tuple(notes))


class Routing(enum.StrEnum):
    """How a printer's files are chosen (`routing` in every printer entry of the JSON)."""

    MODEL = "model"  # by the printer's model
    ALL = "all"  # the config's `route: all`: every file to every printer
    OFF = "off"  # its model is unknown: it gets every file (set `model:`)


def routing_of(
    route: str, identity: PrinterIdentity | None, configured_model: str | None
) -> Routing:
    """How a printer was routed: by its identity when the run learnt it, else by the
    config (a printer not reached is routed by its `model:` or not at all)."""
    if route == "all":
        return Routing.ALL
    if identity is not None:
        return Routing.MODEL if identity.routed else Routing.OFF
    return Routing.MODEL if configured_model else Routing.OFF


def routing_off_warning(printers: Iterable[tuple[str, str]]) -> list[str]:
    """The one warning naming every printer (name, routing) whose routing is off."""
    off = [name for name, routing in printers if routing == Routing.OFF]
    if not off:
        return []
    if len(off) == 1:
        return [
            f"routing is off for {off[0]}: its model is unknown, so it gets every file; "
            "set model: for it in the config"
        ]
    return [
        f"routing is off for {', '.join(off)}: their models are unknown, so they get every "
        "file; set model: for each in the config"
    ]


def not_wanted(
    files: Iterable[LocalFile], targets: MasterTargets, printer: PrinterIdentity
) -> dict[str, str]:
    """The master files (by relative path) this printer does not get, with the reason."""
    if not printer.routed:
        return {}
    # A master has few distinct targets: decide each once (10,000 files, 50 printers),
    # and look at the files only when this printer does not take them all.
    reasons: dict[tuple[str | None, float | None], str] = {}
    for model, nozzle in targets.kinds:
        fit = fits(Target(model, nozzle), printer.model, printer.nozzle, printer.accept)
        if not fit.ok:
            reasons[(model, nozzle)] = fit.reason
    if not reasons:
        return {}
    out: dict[str, str] = {}
    for file in files:
        target = targets.get(file)
        reason = reasons.get((target.model, target.nozzle)) if target.known else None
        if reason is not None:
            out[file.path] = reason
    return out


def unplaced(
    files_by_printer: Mapping[str, Sequence[LocalFile]],
    routed_away: Mapping[str, Mapping[str, str]],
    targets: MasterTargets,
) -> list[str]:
    """Warnings for master files that no printer takes (each printer routed it away).

    `files_by_printer` maps each printer whose routing was decided to its master files;
    `routed_away` maps it to `not_wanted`'s answer.
    """
    if not any(routed_away.values()):
        return []  # every printer takes every file
    takers: dict[str, int] = {}
    seen: dict[str, LocalFile] = {}
    for name, files in files_by_printer.items():
        away = routed_away.get(name, {})
        for file in files:
            key = str(file.abspath)
            seen.setdefault(key, file)
            takers[key] = takers.get(key, 0) + (file.path not in away)
    warnings = []
    for key, count in takers.items():
        if count == 0:
            file = seen[key]
            target = targets.get(file)
            what = target.model or (f"a {target.nozzle:g} mm nozzle" if target.nozzle else "?")
            warnings.append(
                f"no selected printer takes {file.path} (sliced for {what}): "
                "the farm has no printer for it"
            )
    return sorted(warnings)
