"""PrusaSlicer-like print files with real thumbnails (PNG, JPG, QOI), for the files view.

The layout is `link_sync.sample_gcode`'s (PrusaSlicer's, in plain and binary G-code); the
thumbnails are real images drawn here with Pillow, which writes QOI too.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

from link_sync.sample_gcode import Thumbnail, prusaslicer_bgcode, prusaslicer_gcode

_PILLOW = {"PNG": "PNG", "JPG": "JPEG", "QOI": "QOI"}


def image(width: int, height: int, fmt: str, colour: tuple[int, int, int] = (200, 60, 30)) -> bytes:
    """A `width` x `height` image in `fmt` (PNG, JPG or QOI): a coloured square on white."""
    picture = Image.new("RGB", (width, height), (255, 255, 255))
    picture.paste(colour, (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    out = io.BytesIO()
    picture.save(out, _PILLOW[fmt])
    return out.getvalue()


def thumbnail(width: int, height: int, fmt: str, data: bytes | None = None) -> Thumbnail:
    body = image(width, height, fmt) if data is None else data
    return Thumbnail(width, height, fmt, len(body), body)


#: What PrusaSlicer's MK4 profile asks for (QOI), and the MINI's (PNG).
MK4_THUMBNAILS = (thumbnail(16, 16, "QOI"), thumbnail(313, 173, "QOI"), thumbnail(480, 240, "QOI"))
MINI_THUMBNAILS = (thumbnail(16, 16, "PNG"), thumbnail(220, 124, "PNG"))


def sliced(
    path: Path,
    model: str | None,
    thumbnails: tuple[Thumbnail, ...] = MK4_THUMBNAILS,
    *,
    nozzle: float | None = 0.4,
) -> Path:
    """Write a PrusaSlicer-like file for `model` at `path` (`.bgcode`: binary G-code)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".bgcode":
        content = prusaslicer_bgcode(model, nozzle, thumbnails=thumbnails)
    else:
        check = "name" if model else None
        content = prusaslicer_gcode(model, nozzle, check=check, thumbnails=thumbnails, moves=50)
    path.write_bytes(content)
    return path


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims `width` x `height` (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 4096, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


#: A file name a page must show as text, never as markup.
HOSTILE_NAME = "<img src=x onerror=window.pwned=1>&amp;.gcode"


def fill_master(root: Path) -> dict[str, int]:
    """The done-when master: PrusaSlicer-like files for the MINI and the MK4 (PNG and QOI
    thumbnails, plain and binary G-code), files naming no printer (one with a hostile
    name), a file without thumbnails. Returns each file's size by path; mtimes an hour old."""
    import os
    import time

    written = [
        sliced(root / "clip_MINI.gcode", "MINI", MINI_THUMBNAILS),
        sliced(root / "minis/clip_MINI.bgcode", "MINI", MINI_THUMBNAILS),
        sliced(root / "bracket_MK4.gcode", "MK4", MK4_THUMBNAILS),
        sliced(root / "bracket_MK4.bgcode", "MK4", MK4_THUMBNAILS),
        sliced(root / "any/calibration.gcode", None, MINI_THUMBNAILS, nozzle=None),
        sliced(root / HOSTILE_NAME, None, MK4_THUMBNAILS, nozzle=None),
    ]
    plain = root / "plain.gcode"
    plain.write_bytes(b"G28\nG1 X10 Y10\n")
    written.append(plain)
    old = time.time() - 3600
    for path in written:
        os.utime(path, (old, old))
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in written}
