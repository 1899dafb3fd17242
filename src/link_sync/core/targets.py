"""Which printer a print file is for: its model and nozzle, read from its head and tail.

Plain G-code (what the firmware reads, `src/common/gcode/gcode_info.cpp`): `M862.3 P "MK4S"`
(model by name), `M862.2 P260` (model by code) and `M862.1 P0.4` (nozzle) among the first
200 G-code commands. As a fallback, PrusaSlicer's `; printer_model = ...` and
`; nozzle_diameter = ...`: at the top of the file (PrusaSlicer 2.8 writes them in the
header comment) or in the `; prusaslicer_config = begin` / `end` block at the end.

Binary G-code (libbgcode `doc/specifications.md`): the printer metadata block, which comes
right after the file header and the optional file metadata block; stored or
Deflate-compressed.

Cost: only the head and the tail are read, never the whole file, and both reads are
bounded (`HEAD_LIMIT`, `TAIL_LIMIT`), so a 2 GB file costs what a small one does.
A file whose target cannot be read is `NO_TARGET`: meant for every printer.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from link_sync.core import bgcode_blocks
from link_sync.core.printer_models import lookup_model

#: The firmware checks M862.x among this many G-code commands at the start of a file.
FIRST_COMMANDS = 200
#: The head is read in chunks of this size until the first 200 commands are in.
HEAD_CHUNK = 16 * 1024
#: Never read more of the head than this (thumbnails of a big slice are ~100-300 KB).
HEAD_LIMIT = 4 * 1024 * 1024
#: First read of the tail; doubled while the config block's start is not in it.
TAIL_CHUNK = 64 * 1024
#: Never read more of the tail than this (PrusaSlicer's config block is ~15-60 KB).
TAIL_LIMIT = 1024 * 1024
#: A printer metadata block larger than this is not PrusaSlicer's (it is < 1 KB).
BGCODE_BLOCK_LIMIT = 1024 * 1024
#: Blocks looked at before giving up on finding the printer metadata block.
BGCODE_MAX_BLOCKS = 8

BGCODE_MAGIC = b"GCDE"


@dataclass(frozen=True, slots=True)
class Target:
    """What a file is sliced for. None where the file does not say.

    `model` is the firmware's model name (`MK4S`) when it is one link-sync knows, else as
    the file wrote it (a file for an unknown model fits no known printer). `source` says
    where it was read (`M862.3`, `M862.2`, `header`, `config block`, `bgcode metadata`).
    """

    model: str | None = None
    nozzle: float | None = None
    source: str = ""

    @property
    def known(self) -> bool:
        return self.model is not None or self.nozzle is not None


NO_TARGET = Target()


def read_target(path: str | os.PathLike[str]) -> Target:
    """The target of the print file at `path` (NO_TARGET when it names none).

    Raises OSError when the file cannot be opened or read.
    """
    with open(path, "rb") as f:
        head = f.read(HEAD_CHUNK)
        if head.startswith(BGCODE_MAGIC):
            return _read_bgcode(f)
        return _read_gcode(f, head)


# -- plain G-code ------------------------------------------------------------------------

_M862 = re.compile(rb"(?:N\d+\s*)?M862\.([123])(.*)", re.IGNORECASE)
_QUOTED = re.compile(rb'P\s*"([^"]*)"', re.IGNORECASE)
_PARAM = re.compile(rb"([A-Z])\s*([^\s\"]+)", re.IGNORECASE)
_HEADER_MODEL = re.compile(rb"^; printer_model = ([^\r\n]*)", re.MULTILINE)
_HEADER_NOZZLE = re.compile(rb"^; nozzle_diameter = ([^\r\n]*)", re.MULTILINE)
_CONFIG_BEGIN = b"; prusaslicer_config = begin"
_CONFIG_END = b"; prusaslicer_config = end"


@dataclass(slots=True)
class _Found:
    model: str | None = None
    model_source: str = ""
    nozzle: float | None = None
    nozzle_source: str = ""

    def target(self) -> Target:
        sources = dict.fromkeys(s for s in (self.model_source, self.nozzle_source) if s)
        return Target(self.model, self.nozzle, ", ".join(sources))

    def take(self, model: str | None, nozzle: float | None, source: str) -> None:
        if self.model is None and model is not None:
            self.model, self.model_source = model, source
        if self.nozzle is None and nozzle is not None:
            self.nozzle, self.nozzle_source = nozzle, source

    @property
    def complete(self) -> bool:
        return self.model is not None and self.nozzle is not None


def _read_gcode(f: BinaryIO, first_chunk: bytes) -> Target:
    found = _Found()
    header = _take_m862(found, _HeadLines(f, first_chunk))
    if found.complete:
        return found.target()
    _take_config(found, header, "header")
    if found.complete:
        return found.target()
    _take_config(found, _config_block(f), "config block")
    return found.target()


class _HeadLines:
    """The lines at the start of a plain G-code file, read a small chunk at a time.

    `skip(n)` jumps over `n` bytes without reading them: thumbnail blocks (100 KB and
    more of base64 comments before the start G-code) declare their length, so they cost
    a seek, not a read. Never reads past HEAD_LIMIT.
    """

    def __init__(self, f: BinaryIO, first_chunk: bytes) -> None:
        self._f = f
        self._buf = first_chunk
        self._base = 0  # file offset of _buf[0]
        self._pos = 0
        self._eof = len(first_chunk) < HEAD_CHUNK

    def __iter__(self) -> Iterator[bytes]:
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end < 0:
                if self._eof or self._base + len(self._buf) >= HEAD_LIMIT:
                    if self._pos < len(self._buf):
                        line = self._buf[self._pos :]
                        self._pos = len(self._buf)
                        yield line
                    return
                if len(self._buf) - self._pos >= HEAD_CHUNK:
                    return  # a line this long is not G-code (binary, zeros): the head ends
                self._refill(self._base + self._pos)
                continue
            line = self._buf[self._pos : end]
            self._pos = end + 1
            yield line

    def skip(self, count: int) -> None:
        """Jump `count` bytes ahead, then to the start of the next line."""
        target = self._base + self._pos + count
        if target >= HEAD_LIMIT:
            self._buf, self._pos, self._eof = b"", 0, True
            return
        if target < self._base + len(self._buf):
            self._pos = target - self._base
        else:
            # What follows a thumbnail's declared length is its last few lines.
            self._refill(target, 4096)
        end = self._buf.find(b"\n", self._pos)
        while end < 0 and not self._eof:
            self._refill(self._base + len(self._buf))
            end = self._buf.find(b"\n", self._pos)
        self._pos = len(self._buf) if end < 0 else end + 1

    def skip_thumbnail(self, length: int) -> None:
        """Jump over a thumbnail block whose begin line declared `length` base64 bytes:
        they take at least that much room, and its end line follows a few lines later."""
        self.skip(length)
        marker = self._buf.find(b"\n; thumbnail", max(self._pos - 1, 0))
        if marker >= 0:
            end = self._buf.find(b"\n", marker + 1)
            if end >= 0 and self._buf[marker + 1 : end].rstrip().endswith(b" end"):
                self._pos = end + 1

    def _refill(self, offset: int, size: int = HEAD_CHUNK) -> None:
        """Read on from file offset `offset`, keeping what is buffered beyond it."""
        keep = self._buf[offset - self._base :] if offset < self._base + len(self._buf) else b""
        self._f.seek(offset + len(keep))
        want = min(size, HEAD_LIMIT - offset - len(keep))
        more = self._f.read(max(want, 0))
        self._eof = len(more) < want or want <= 0
        self._buf, self._base, self._pos = keep + more, offset, 0


#: "; thumbnail begin 16x16 368", "; thumbnail_QOI begin 313x173 14412": the last number is
#: the base64 length, so the block is at least that many bytes long.
_THUMBNAIL_BEGIN = re.compile(rb"; thumbnail(?:_[A-Z]+)? begin \d+x\d+ (\d+)")


def _take_m862(found: _Found, lines: _HeadLines) -> bytes:
    """M862.3 / M862.2 / M862.1 among the first 200 commands, as the firmware reads them.

    Returns the `; printer_model =` / `; nozzle_diameter =` lines of the header comment
    above the first command, for the fallback.
    """
    by_name: str | None = None
    by_code: str | None = None
    nozzle: float | None = None
    header: list[bytes] = []
    count = 0
    for raw in lines:
        line = raw.lstrip(b" \t")
        if not line.strip():
            continue
        if line[:1] == b";":
            if count == 0:
                if line.startswith((b"; printer_model =", b"; nozzle_diameter =")):
                    header.append(line)
                elif line.startswith(b"; thumbnail"):
                    block = _THUMBNAIL_BEGIN.match(line)
                    if block:
                        lines.skip_thumbnail(int(block.group(1)))
            continue
        count += 1
        command = _M862.match(line)
        if command is not None:
            kind, args = command.group(1), command.group(2).split(b";", 1)[0]
            if kind == b"3" and by_name is None:
                by_name = _model_name(args)
            elif kind == b"2" and by_code is None:
                by_code = _param(args, b"P")
            elif kind == b"1" and nozzle is None and _param(args, b"T") in (None, "0"):
                nozzle = _float(_param(args, b"P"))
        if count >= FIRST_COMMANDS or (by_name is not None and nozzle is not None):
            break
    if by_name is not None:
        found.take(_known_name(by_name), None, "M862.3")
    elif by_code is not None:
        found.take(_known_name(by_code), None, "M862.2")
    found.take(None, nozzle, "M862.1")
    return b"\n".join(header)


def _model_name(args: bytes) -> str | None:
    quoted = _QUOTED.search(args)
    if quoted:
        return quoted.group(1).decode("utf-8", "replace").strip() or None
    return _param(args, b"P")


def _param(args: bytes, letter: bytes) -> str | None:
    for match in _PARAM.finditer(args):
        if match.group(1).upper() == letter:
            return match.group(2).decode("ascii", "replace")
    return None


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.split(",", 1)[0])
    except ValueError:
        return None
    return value if 0 < value < 10 else None


def _known_name(name: str | None) -> str | None:
    """The firmware name of a model when link-sync knows it, else the name as written."""
    if name is None or not name.strip():
        return None
    found = lookup_model(name)
    return found.name if found else name.strip()


def _take_config(found: _Found, text: bytes, source: str) -> None:
    """`; printer_model = ` and `; nozzle_diameter = ` lines of a comment block."""
    model = _HEADER_MODEL.search(text)
    nozzle = _HEADER_NOZZLE.search(text)
    found.take(
        _known_name(model.group(1).decode("utf-8", "replace")) if model else None,
        _float(nozzle.group(1).decode("ascii", "replace").strip()) if nozzle else None,
        source,
    )


def _config_block(f: BinaryIO) -> bytes:
    """PrusaSlicer's config block at the end of the file (empty when there is none)."""
    size = f.seek(0, os.SEEK_END)
    want = TAIL_CHUNK
    while True:
        start = max(0, size - want)
        f.seek(start)
        tail = f.read(size - start)
        end = tail.rfind(_CONFIG_END)
        if end < 0:
            return b""  # the block ends the file; no end marker, no block
        begin = tail.rfind(_CONFIG_BEGIN, 0, end)
        if begin >= 0:
            return tail[begin:end]
        if start == 0 or want >= TAIL_LIMIT:
            return b""
        want = min(want * 2, TAIL_LIMIT)


# -- binary G-code -----------------------------------------------------------------------


def _read_bgcode(f: BinaryIO) -> Target:
    """The printer metadata block of a binary G-code file (NO_TARGET if unreadable)."""
    for block in bgcode_blocks.blocks(f, BGCODE_MAX_BLOCKS):
        if block.type != bgcode_blocks.PRINTER_METADATA:
            continue
        if block.size > BGCODE_BLOCK_LIMIT or block.uncompressed > BGCODE_BLOCK_LIMIT:
            return NO_TARGET
        covered = block.params_size + block.size
        rest = f.read(covered + block.checksum_size)
        if len(rest) < covered + block.checksum_size:
            return NO_TARGET
        body = rest[:covered]
        if block.checksum_size and _crc_mismatch(block.header + body, rest[covered:]):
            return NO_TARGET
        return _printer_metadata(body[block.params_size :], block.compression, block.uncompressed)
    return NO_TARGET


def _crc_mismatch(covered: bytes, stored: bytes) -> bool:
    return zlib.crc32(covered) != int.from_bytes(stored, "little")


def _printer_metadata(data: bytes, compression: int, uncompressed: int) -> Target:
    if compression == bgcode_blocks.COMPRESSION_DEFLATE:
        try:
            inflater = zlib.decompressobj()
            data = inflater.decompress(data, uncompressed or BGCODE_BLOCK_LIMIT)
        except zlib.error:
            return NO_TARGET
    elif compression != bgcode_blocks.COMPRESSION_NONE:
        return NO_TARGET  # Heatshrink: PrusaSlicer never uses it for metadata
    values: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values.setdefault(key.strip(), value.strip())
    model = _known_name(values.get("printer_model"))
    nozzle = _float(values.get("nozzle_diameter"))
    if model is None and nozzle is None:
        return NO_TARGET
    return Target(model, nozzle, "bgcode metadata")


def read_targets(paths: list[Path]) -> dict[Path, Target]:
    """`read_target` for many files; an unreadable one gets NO_TARGET."""
    out: dict[Path, Target] = {}
    for path in paths:
        try:
            out[path] = read_target(path)
        except OSError:
            out[path] = NO_TARGET
    return out
