"""Model names, compatibility groups and the rule deciding which printer a file is for."""

from __future__ import annotations

import pytest

from link_sync.core.printer_models import (
    FitVerdict,
    compatibility_group,
    fits,
    normalize_model,
)
from link_sync.core.targets import NO_TARGET, Target


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # firmware id_str, any case
        ("MK4S", "MK4S"),
        ("mk3.9", "MK3.9"),
        ("ix", "iX"),
        # PrusaSlicer profile names
        ("MK4IS", "MK4"),
        ("MK4ISMMU3", "MK4"),
        ("MK4SMMU3", "MK4S"),
        ("MINIIS", "MINI"),
        ("XLIS", "XL"),
        ("XL2IS", "XL"),
        ("XL5IS", "XL"),
        ("COREONE", "COREONE"),
        ("COREONEMMU3", "COREONE"),
        ("MK3SMMU2S", "MK3S"),
        ("MK2.5SMMU2S", "MK2.5S"),
        ("MK3.5MMU3", "MK3.5"),
        # M862.2 codes, MMU variants included
        ("130", "MK4"),
        ("30260", "MK4S"),
        ("20302", "MK3S"),
        ("310", "COREONE"),
        # what printers and users say
        ("PrusaLink I3MK3S", "MK3S"),
        ("Original Prusa MK4", "MK4"),
        ("CORE One", "COREONE"),
        ("mk3.9s", "MK3.9S"),
        # unknown
        ("COREONEL", None),
        ("Klipper", None),
        ("999", None),
        ("", None),
    ],
)
def test_normalize_model(name: str, expected: str | None) -> None:
    assert normalize_model(name) == expected


@pytest.mark.parametrize(
    ("model", "group"),
    [
        ("MK3", "mk3"),
        ("MK3S", "mk3"),
        ("MK3.5", "mk3.5"),
        ("MK3.5S", "mk3.5"),
        ("MK3.9", "mk4"),
        ("MK3.9S", "mk4s"),
        ("MK4", "mk4"),
        ("MK4S", "mk4s"),
        ("MINI", "mini"),
        ("XL", "xl"),
        ("iX", "ix"),
        ("COREONE", "coreone"),
    ],
)
def test_compatibility_groups_follow_the_firmware(model: str, group: str) -> None:
    assert compatibility_group(model) == group


@pytest.mark.parametrize(
    ("target", "printer", "nozzle", "accept", "verdict", "reason"),
    [
        (
            Target("MINI", 0.4),
            "MK4",
            0.4,
            (),
            FitVerdict.WRONG_MODEL,
            "sliced for MINI; this is an MK4",
        ),
        (
            Target("MK4", 0.4),
            "MINI",
            0.4,
            (),
            FitVerdict.WRONG_MODEL,
            "sliced for MK4; this is a MINI",
        ),
        (
            Target("XL", None),
            "COREONE",
            None,
            (),
            FitVerdict.WRONG_MODEL,
            "sliced for XL; this is a CORE One",
        ),
        (Target("MK4", 0.4), "MK4", 0.4, (), FitVerdict.MATCH, "sliced for MK4"),
        # same compatibility group: MK3.9 files on an MK4 and the other way round
        (Target("MK3.9", 0.4), "MK4", 0.4, (), FitVerdict.MATCH, "sliced for MK3.9"),
        (Target("MK4", None), "MK3.9", 0.4, (), FitVerdict.MATCH, "sliced for MK4"),
        (Target("MK3", 0.4), "MK3S", None, (), FitVerdict.MATCH, "sliced for MK3"),
        # MK4 G-code on an MK4S prints in fan compatibility mode but the firmware asks first
        (
            Target("MK4", 0.4),
            "MK4S",
            0.4,
            (),
            FitVerdict.WRONG_MODEL,
            "sliced for MK4; this is an MK4S",
        ),
        (
            Target("MK3S", 0.4),
            "MK4",
            0.4,
            (),
            FitVerdict.WRONG_MODEL,
            "sliced for MK3S; this is an MK4",
        ),
        # accept: takes another model's files
        (Target("MK4", 0.4), "MK4S", 0.4, ("MK4",), FitVerdict.ACCEPTED, None),
        (Target("MK3.9", 0.4), "MK4S", 0.4, ("MK4IS",), FitVerdict.ACCEPTED, None),
        (
            Target("MINI", 0.4),
            "MK4S",
            0.4,
            ("MK4",),
            FitVerdict.WRONG_MODEL,
            "sliced for MINI; this is an MK4S",
        ),
        # nozzle
        (
            Target("MK4S", 0.6),
            "MK4S",
            0.4,
            (),
            FitVerdict.WRONG_NOZZLE,
            "sliced for a 0.6 mm nozzle; this printer has 0.4 mm",
        ),
        (
            Target(None, 0.25),
            "MINI",
            0.4,
            (),
            FitVerdict.WRONG_NOZZLE,
            "sliced for a 0.25 mm nozzle; this printer has 0.4 mm",
        ),
        (Target("MK4S", 0.4), "MK4S", 0.4004, (), FitVerdict.MATCH, "sliced for MK4S"),
        (Target("MK4S", 0.6), "MK4S", None, (), FitVerdict.MATCH, "sliced for MK4S"),
        (
            Target("MK4", 0.6),
            "MK4S",
            0.4,
            ("MK4",),
            FitVerdict.WRONG_NOZZLE,
            "sliced for a 0.6 mm nozzle; this printer has 0.4 mm",
        ),
        # no target: for every printer
        (NO_TARGET, "MINI", 0.4, (), FitVerdict.NO_TARGET, "the file names no printer model"),
        # unknown printer: routing off
        (
            Target("MINI", 0.4),
            None,
            None,
            (),
            FitVerdict.PRINTER_UNKNOWN,
            "model unknown: routing is off for this printer",
        ),
        (
            Target("MINI", 0.4),
            "Klipper",
            None,
            (),
            FitVerdict.PRINTER_UNKNOWN,
            "printer model 'Klipper' unknown: routing is off for this printer",
        ),
        # a model link-sync does not know fits no known printer
        (
            Target("COREONEL", 0.4),
            "COREONE",
            0.4,
            (),
            FitVerdict.WRONG_MODEL,
            "sliced for COREONEL, a model link-sync does not know; this is a CORE One",
        ),
    ],
)
def test_fits(
    target: Target,
    printer: str | None,
    nozzle: float | None,
    accept: tuple[str, ...],
    verdict: FitVerdict,
    reason: str | None,
) -> None:
    fit = fits(target, printer, nozzle, accept)
    assert fit.verdict == verdict
    assert fit.ok == (verdict not in (FitVerdict.WRONG_MODEL, FitVerdict.WRONG_NOZZLE))
    if reason is not None:
        assert fit.reason == reason
    else:
        assert "accept" in fit.reason


def test_printer_names_are_normalised_too() -> None:
    """What a Pi PrusaLink says of itself routes like the firmware name."""
    assert fits(Target("MK3S", 0.4), "PrusaLink I3MK3S", None).verdict is FitVerdict.MATCH
    assert not fits(Target("MK4", 0.4), "PrusaLink I3MK3S", None)
