"""Prusa printer models, their compatibility groups, and whether a file fits a printer.

The table follows the firmware (Prusa-Firmware-Buddy `include/common/printer_model_data.hpp`
and `src/common/printer_model.cpp`): a file prints without a question on the screen only
when its model's compatibility group equals the printer's. MK3 files on an MK4 (MK3
compatibility mode) and MK4 files on an MK4S (fan compatibility mode) would print, but the
firmware still asks "wrong printer" first, so they fit only when the user says so with
`accept:`.

Names come from three places and are all normalised here to the firmware's `id_str`:
the firmware itself (`M862.3 P "MK4S"`, `M862.2 P260`), PrusaSlicer's profile names in
`; printer_model = ...` (`MK4IS`, `MINIIS`, `XL5IS`, `MK4SMMU3`), and what printers say
about themselves (`PrusaLink I3MK3S` from the Raspberry-Pi PrusaLink).

Pure: no I/O.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

#: Nozzle diameters closer than this are the same nozzle (the firmware's own tolerance).
NOZZLE_TOLERANCE = 0.001


@dataclass(frozen=True, slots=True)
class PrinterModel:
    """One firmware model: `name` is its `id_str`, `code` its `M862.2` code."""

    name: str
    code: int
    group: str
    display: str

    @property
    def with_article(self) -> str:
        """ "an MK4", "a MINI", "a CORE One" (as the name is spoken)."""
        article = "a" if self.display.startswith(("MINI", "CORE")) else "an"
        return f"{article} {self.display}"


#: Every model link-sync knows, in the firmware's order. MK2.5(S) are Pi PrusaLink printers.
MODELS: tuple[PrinterModel, ...] = (
    PrinterModel("MK2.5", 250, "mk2.5", "MK2.5"),
    PrinterModel("MK2.5S", 252, "mk2.5", "MK2.5S"),
    PrinterModel("MK3", 300, "mk3", "MK3"),
    PrinterModel("MK3S", 302, "mk3", "MK3S"),
    PrinterModel("MK3.5", 230, "mk3.5", "MK3.5"),
    PrinterModel("MK3.5S", 280, "mk3.5", "MK3.5S"),
    PrinterModel("MK3.9", 210, "mk4", "MK3.9"),
    PrinterModel("MK3.9S", 270, "mk4s", "MK3.9S"),
    PrinterModel("MK4", 130, "mk4", "MK4"),
    PrinterModel("MK4S", 260, "mk4s", "MK4S"),
    PrinterModel("MINI", 120, "mini", "MINI"),
    PrinterModel("XL", 170, "xl", "XL"),
    PrinterModel("iX", 160, "ix", "iX"),
    PrinterModel("COREONE", 310, "coreone", "CORE One"),
)

_BY_NAME: dict[str, PrinterModel] = {m.name.upper(): m for m in MODELS}
_BY_CODE: dict[int, PrinterModel] = {m.code: m for m in MODELS}

#: Words printers and profiles put around the model name ("Original Prusa MK4",
#: "PrusaLink I3MK3S"): removed before the name is looked up.
_NOISE = re.compile(r"^(?:PRUSALINK|ORIGINAL|PRUSA|I3)+")
#: MMU variants (`MK4SMMU3`, `MK3SMMU2S`, `MK2.5SMMU2S`): the firmware maps them to the base
#: model (`printer_model_mmu_variant`); the MMU itself is checked by other means.
_MMU = re.compile(r"MMU\d?S?$")
#: The XL's tool count in PrusaSlicer profile names (XL2IS ... XL5IS).
_XL_TOOLS = re.compile(r"XL\d")


def _spellings(text: str) -> list[str]:
    """`text` and what it becomes without noise words, MMU and profile suffixes."""
    out = []
    for name in (text, _NOISE.sub("", text)):
        out.append(name)
        name = _MMU.sub("", name)
        out.append(name)
        if name.endswith("IS"):  # PrusaSlicer's input-shaper profiles: MK4IS, MINIIS, XLIS
            name = name[:-2]
            out.append(name)
        if _XL_TOOLS.fullmatch(name):
            out.append("XL")
    return out


@functools.lru_cache(maxsize=1024)
def lookup_model(name: str | None) -> PrinterModel | None:
    """The model `name` means (any spelling `normalize_model` takes), or None."""
    if name is None:
        return None
    text = re.sub(r"[\s\"'_\-]", "", name).upper()
    if not text:
        return None
    if text.isdigit():
        code = int(text)
        # MMU variants add 20000 (MMU2) or 30000 (MMU3) to the code.
        return _BY_CODE.get(code % 10000 if code >= 10000 else code)
    for candidate in _spellings(text):
        found = _BY_NAME.get(candidate)
        if found is not None:
            return found
    return None


def normalize_model(name: str) -> str | None:
    """The firmware model name (`id_str`) that `name` means, or None when unknown.

    Takes firmware names in any case (`mk4s`), `M862.2` codes (`260`, `30260`),
    PrusaSlicer profile names (`MK4IS`, `MK4SMMU3`, `MINIIS`, `XL5IS`, `COREONE`) and what
    printers say of themselves (`PrusaLink I3MK3S`, `Original Prusa MK4`).
    """
    found = lookup_model(name)
    return found.name if found else None


def compatibility_group(name: str) -> str | None:
    """The firmware compatibility group of a model name (`MK3.9` -> `mk4`), or None."""
    found = lookup_model(name)
    return found.group if found else None


class FitVerdict(enum.StrEnum):
    """Why a file is or is not meant for a printer."""

    MATCH = "match"  # the file's model group (and nozzle) are the printer's
    ACCEPTED = "accepted"  # another model, taken because of the printer's `accept:`
    NO_TARGET = "no_target"  # the file names no model: meant for every printer
    PRINTER_UNKNOWN = "printer_unknown"  # the printer's model is unknown: routing is off
    WRONG_MODEL = "wrong_model"
    WRONG_NOZZLE = "wrong_nozzle"


@dataclass(frozen=True, slots=True)
class Fit:
    """The verdict on one file for one printer, with a reason a person can read."""

    verdict: FitVerdict
    reason: str

    @property
    def ok(self) -> bool:
        return self.verdict not in (FitVerdict.WRONG_MODEL, FitVerdict.WRONG_NOZZLE)

    def __bool__(self) -> bool:
        return self.ok


class TargetLike(Protocol):
    """What `fits` needs of a file's target (`link_sync.core.targets.Target` has it)."""

    @property
    def model(self) -> str | None: ...

    @property
    def nozzle(self) -> float | None: ...


def _nozzle_text(value: float) -> str:
    return f"{value:g} mm"


def same_nozzle(a: float, b: float) -> bool:
    return abs(a - b) <= NOZZLE_TOLERANCE


def fits(
    target: TargetLike,
    printer_model: str | None,
    printer_nozzle: float | None,
    accept: Iterable[str] = (),
) -> Fit:
    """Whether a file sliced for `target` is meant for a printer of `printer_model`.

    The rule: the file's model must be in the printer's compatibility group (or in the
    group of an `accept` entry) and, where both are known, the nozzles must be the same.
    A file naming no model is meant for every printer; a printer whose model is unknown
    (or not one link-sync knows) takes every file, since nothing can be checked.
    """
    printer = lookup_model(printer_model)
    if printer is None:
        what = f"printer model {printer_model!r} unknown" if printer_model else "model unknown"
        return Fit(FitVerdict.PRINTER_UNKNOWN, f"{what}: routing is off for this printer")
    this = f"this is {printer.with_article}"

    verdict = FitVerdict.NO_TARGET
    reason = "the file names no printer model"
    if target.model is not None:
        wanted = lookup_model(target.model)
        if wanted is None:
            return Fit(
                FitVerdict.WRONG_MODEL,
                f"sliced for {target.model}, a model link-sync does not know; {this}",
            )
        if wanted.group == printer.group:
            verdict, reason = FitVerdict.MATCH, f"sliced for {wanted.display}"
        elif any(_accepts(entry, wanted) for entry in accept):
            verdict = FitVerdict.ACCEPTED
            reason = (
                f"sliced for {wanted.display}, taken by accept: "
                f"(the printer asks on its screen before printing it)"
            )
        else:
            return Fit(FitVerdict.WRONG_MODEL, f"sliced for {wanted.display}; {this}")

    if (
        target.nozzle is not None
        and printer_nozzle is not None
        and not same_nozzle(target.nozzle, printer_nozzle)
    ):
        return Fit(
            FitVerdict.WRONG_NOZZLE,
            f"sliced for a {_nozzle_text(target.nozzle)} nozzle; "
            f"this printer has {_nozzle_text(printer_nozzle)}",
        )
    return Fit(verdict, reason)


def _accepts(entry: str, wanted: PrinterModel) -> bool:
    accepted = lookup_model(entry)
    return accepted is not None and accepted.group == wanted.group
