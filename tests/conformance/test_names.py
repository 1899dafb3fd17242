"""Conformance: `check_name` tells the truth about each printer.

A name the backend accepts must be stored and listed under exactly that name; a
name it refuses must really be one the printer would not keep as it is (refused,
renamed, or hidden from its listings). Both are asked of the printer itself: the
upload goes out even for refused names, bypassing the check.
"""

from __future__ import annotations

from pathlib import Path

from link_sync import errors
from link_sync.backends.base import Backend

from .files import parents, put, source
from .targets import Target

G = b"G28\n"

#: Names that trip one printer or another: FAT's forbidden characters, URL
#: specials, hidden and trailing-dot names, NUL-free control-free Unicode, length.
CANDIDATES = [
    "plain name.gcode",
    "Ünïcödé ☃/été à Zürich.gcode",
    "Größe #2/Würfel 20 mm.gcode",
    "what?.gcode",
    "a:b.gcode",
    'say "hi".gcode',
    "star*.gcode",
    "pipe|.gcode",
    "less<more>.gcode",
    "back\\slash.gcode",
    "100% done.gcode",
    "plus+and&.gcode",
    "semi;colon $5.gcode",
    ".hidden.gcode",
    "trailing dot./x.gcode",
    "trailing space /x.gcode",
    "CON.gcode",
    "x" * 240 + ".gcode",  # 246 bytes: fits every file system
    "ü" * 125 + ".gcode",  # 256 bytes: fits none
]


async def _stored_as_is(
    backend: Backend, target: Target, folder: str, path: str, tmp: Path
) -> str | None:
    """Upload `path` regardless of the check; None if the printer kept it exactly,
    else what happened instead."""
    if backend.capabilities.mkdir_before_upload:
        for level in parents(path):
            try:
                await backend.mkdir(level)
            except errors.PrinterError as exc:
                return f"mkdir {level!r}: {type(exc).__name__}"
    try:
        await backend.upload(path, source(tmp, G), len(G), overwrite=True)
    except errors.PrinterError as exc:
        return f"upload: {type(exc).__name__} {exc}"
    if target.files(folder).get(path) != G:
        return "stored under another name"
    if await backend.stat(path) is None:
        return "not found again"
    if path not in {e.path for e in await backend.list_tree(folder)}:
        return "not listed"
    return None


async def test_check_name_matches_what_the_printer_keeps(
    backend: Backend, target: Target, tmp_path: Path
) -> None:
    verdicts: dict[str, tuple[str | None, str | None]] = {}
    for index, name in enumerate(CANDIDATES):
        folder = f"nm{index}"
        path = f"{folder}/{name}"
        reason = backend.check_name(path)
        assert reason is None or (isinstance(reason, str) and reason), name
        verdicts[name] = (reason, await _stored_as_is(backend, target, folder, path, tmp_path))
    strict = target.expect.strict_names
    for name in strict:  # refused on purpose, and kept by this target all the same
        assert verdicts[name][0] is not None and verdicts[name][1] is None, name
    wrong = {
        name: (reason, outcome)
        for name, (reason, outcome) in verdicts.items()
        if (reason is None) != (outcome is None) and name not in strict
    }
    # accepted but not kept as is: a sync would re-send it forever; refused but kept:
    # a file the user wants is reported as impossible
    assert not wrong, wrong
    assert any(reason is None for reason, _ in verdicts.values())
    assert any(reason is not None for reason, _ in verdicts.values())


async def test_accepted_names_round_trip(
    backend: Backend, target: Target, folder: str, tmp_path: Path
) -> None:
    accepted = [n for n in CANDIDATES if backend.check_name(f"{folder}/{n}") is None]
    for name in accepted:
        await put(backend, tmp_path, f"{folder}/{name}", G)
    listed = {e.path for e in await backend.list_tree(folder) if not e.is_dir}
    assert listed == {f"{folder}/{n}" for n in accepted}
