"""Where the slicer's thumbnails are in a print file, and their bytes, read from its head.

Plain G-code (PrusaSlicer): comment blocks before the first command,
`; thumbnail begin 313x173 14412` (PNG), `; thumbnail_JPG begin ...`, `; thumbnail_QOI begin ...`,
then base64 lines `; iVBORw0...` and `; thumbnail end`; the last number of the begin line is
the base64 length, so finding the blocks costs a seek over each, not a read.

Binary G-code (libbgcode `doc/specifications.md`): thumbnail blocks (type 5) among the
blocks before the G-code; parameters `format` (0 = PNG, 1 = JPG, 2 = QOI), `width`,
`height`, the image stored as it is.

Reading is bounded as the target reader's is (`targets.HEAD_LIMIT`): a file's head only,
and at most `MAX_IMAGE_BYTES` of image. Nothing here decodes an image
(`thumbnail_image` does).
"""

from __future__ import annotations

import binascii
import os
import re
from dataclasses import dataclass
from typing import BinaryIO

from link_sync.core import bgcode_blocks
from link_sync.core.targets import BGCODE_MAGIC, HEAD_LIMIT

#: The head of a plain G-code file is read in chunks of this size.
CHUNK = 64 * 1024
#: A thumbnail larger than this (encoded) is not read: PrusaSlicer's are < 100 KB.
MAX_IMAGE_BYTES = 2 * 1024 * 1024
#: Blocks of a binary G-code file looked at before giving up.
BGCODE_MAX_BLOCKS = 64
#: The thumbnail shown is the largest whose sides are at most this (CSS px, x2 for HiDPI).
FIT = 480

FORMATS = ("PNG", "JPG", "QOI")


@dataclass(frozen=True, slots=True)
class ThumbnailRef:
    """One thumbnail in a file: its encoding, declared size and where its data is."""

    format: str  # PNG, JPG or QOI
    width: int
    height: int
    #: file offset of its data: the first base64 line (G-code), the image (bgcode)
    offset: int
    #: base64 characters (G-code, as declared) or image bytes (bgcode)
    length: int
    base64: bool


class ThumbnailError(Exception):
    """A thumbnail block that cannot be read (truncated, too large, bad base64)."""


def find_thumbnails(path: str | os.PathLike[str]) -> tuple[ThumbnailRef, ...]:
    """The thumbnails of the print file at `path`, in file order (none: ()).

    Raises OSError when the file cannot be read.
    """
    with open(path, "rb") as f:
        magic = f.read(len(BGCODE_MAGIC))
        if magic == BGCODE_MAGIC:
            return _bgcode_thumbnails(f)
        return _gcode_thumbnails(f)


def pick(refs: tuple[ThumbnailRef, ...], fit: int = FIT) -> ThumbnailRef | None:
    """The thumbnail to show: the largest that fits `fit` x `fit`, else the smallest."""
    sane = [r for r in refs if r.width > 0 and r.height > 0 and r.format in FORMATS]
    if not sane:
        return None
    fitting = [r for r in sane if r.width <= fit and r.height <= fit]
    if fitting:
        # at equal size an image a browser shows as it is beats QOI (no conversion)
        return max(fitting, key=lambda r: (r.width * r.height, r.format != "QOI"))
    return min(sane, key=lambda r: r.width * r.height)


def read_thumbnail(path: str | os.PathLike[str], ref: ThumbnailRef) -> bytes:
    """The image bytes of thumbnail `ref` (PNG, JPG or QOI as stored).

    Raises ThumbnailError for a block that cannot be read, OSError for the file.
    """
    if ref.length <= 0 or ref.length > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        raise ThumbnailError(f"a {ref.format} thumbnail of {ref.length} bytes is too large")
    with open(path, "rb") as f:
        f.seek(ref.offset)
        if not ref.base64:
            data = f.read(ref.length)
            if len(data) < ref.length:
                raise ThumbnailError("the thumbnail block is truncated")
            return data
        # base64 lines carry "; " and a newline each: ~2.5 % more than the declared length
        raw = f.read(ref.length + ref.length // 16 + 4096)
    return _decode_base64_lines(raw, ref.length)


_END = re.compile(rb"^;\s*thumbnail(?:_[A-Z]+)? end", re.MULTILINE)


def _decode_base64_lines(raw: bytes, length: int) -> bytes:
    end = _END.search(raw)
    if end is None:
        raise ThumbnailError("the thumbnail block has no end line (truncated?)")
    text = bytearray()
    for line in raw[: end.start()].splitlines():
        line = line.strip()
        if line.startswith(b";"):
            text += line[1:].strip()
        elif line:
            raise ThumbnailError("the thumbnail block holds a line that is not a comment")
    if len(text) > length + 64:
        raise ThumbnailError("the thumbnail block is longer than it says")
    try:
        return binascii.a2b_base64(bytes(text), strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ThumbnailError(f"the thumbnail's base64 is damaged ({exc})") from None


# -- plain G-code ------------------------------------------------------------------------

_BEGIN = re.compile(rb"^;\s*thumbnail(?:_(JPG|QOI|PNG))? begin (\d+)x(\d+) (\d+)\s*$")


def _gcode_thumbnails(file: BinaryIO) -> tuple[ThumbnailRef, ...]:
    refs: list[ThumbnailRef] = []
    pos = 0
    mid_line = False  # after a jump over a thumbnail's data: the rest of a base64 line
    while pos < HEAD_LIMIT:
        file.seek(pos)
        chunk = file.read(min(CHUNK, HEAD_LIMIT - pos))
        if not chunk:
            break
        start = 0
        if mid_line:
            start = chunk.find(b"\n") + 1
            if start == 0:
                break
            mid_line = False
        jumped = False
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            line = chunk[start:end].strip()
            next_line = pos + end + 1
            start = end + 1
            if not line:
                continue
            if not line.startswith(b";"):
                return tuple(refs)  # the first command: thumbnails come before it
            begin = _BEGIN.match(line)
            if begin is not None:
                kind, width, height, length = begin.groups()
                refs.append(
                    ThumbnailRef(
                        (kind or b"PNG").decode(),
                        int(width),
                        int(height),
                        next_line,
                        int(length),
                        base64=True,
                    )
                )
                # its data: at least `length` bytes of comment lines; read on after them
                pos = next_line + int(length)
                jumped = mid_line = True
                break
        if jumped:
            continue
        if chunk.find(b"\n", start) < 0 and start == 0:
            break  # no line end in a whole chunk: not G-code text
        pos += start
    return tuple(refs)


# -- binary G-code -----------------------------------------------------------------------


def _bgcode_thumbnails(file: BinaryIO) -> tuple[ThumbnailRef, ...]:
    refs: list[ThumbnailRef] = []
    for block in bgcode_blocks.blocks(file, BGCODE_MAX_BLOCKS):
        if block.type != bgcode_blocks.THUMBNAIL or block.compression != 0:
            continue
        params = file.read(block.params_size)
        if len(params) < block.params_size:
            break
        kind, width, height = bgcode_blocks.THUMBNAIL_PARAMS.unpack(params)
        if kind < len(FORMATS):
            refs.append(
                ThumbnailRef(FORMATS[kind], width, height, block.data_offset, block.size, False)
            )
    return tuple(refs)
