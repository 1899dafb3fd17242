"""Putting files on a target through the backend under test, the way the engine does."""

from __future__ import annotations

import itertools
from pathlib import Path

from link_sync.backends.base import Backend

_sources = itertools.count()

#: Long names with spaces and non-ASCII letters, three levels deep. No '#': the Pi
#: refuses it (name checks cover such characters target by target).
NESTED = "Teile und Halter/Größe 2/Würfel 20 mm.gcode"


def parents(path: str) -> list[str]:
    """'a/b/c.gcode' -> ['a', 'a/b']."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def all_parents(paths: list[str]) -> set[str]:
    return {p for path in paths for p in parents(path)}


def source(tmp: Path, data: bytes) -> Path:
    path = tmp / f"source-{next(_sources)}.gcode"
    path.write_bytes(data)
    return path


async def put(
    backend: Backend, tmp: Path, path: str, data: bytes, *, overwrite: bool = False
) -> list[int]:
    """Upload `data` to `path` (folders first where the printer needs them); the
    progress reports it made."""
    if backend.capabilities.mkdir_before_upload:
        for folder in parents(path):
            await backend.mkdir(folder)
    sent: list[int] = []
    await backend.upload(
        path, source(tmp, data), len(data), overwrite=overwrite, progress=sent.append
    )
    # As the engine does: an upload counts once stat shows it. A Pi lists it ~1 s later
    # (its stat waits ~5 s for that); on a machine as loaded as a shared CI runner it
    # has taken longer, so the suite asks up to three times before calling it lost.
    for _ in range(3):
        entry = await backend.stat(path)
        if entry is not None and entry.size in (None, len(data)):
            return sent
    raise AssertionError(f"{path}: uploaded, but stat shows {entry}")


async def put_tree(backend: Backend, tmp: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        await put(backend, tmp, path, data)
