"""Small helpers for asserting on a server's storage folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Nested names with spaces, non-ASCII letters and '#' (URL-encoding traps).
NESTED = "Teile und Halter/Größe #2/Würfel 20 mm.gcode"


def make_file(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def visible_tree(root: Path, below: str = "") -> set[str]:
    """Storage-relative paths of files and folders, without the servers' own dot
    entries (OctoPrint's .metadata.json, Moonraker's .thumbs)."""
    base = root / below if below else root
    found: set[str] = set()
    for path in base.rglob("*"):
        relative = path.relative_to(root)
        if not any(part.startswith(".") for part in relative.parts):
            found.add(relative.as_posix())
    return found


def sha1(data: bytes) -> str:
    return "sha1:" + hashlib.sha1(data).hexdigest()
