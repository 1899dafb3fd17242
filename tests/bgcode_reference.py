"""Decode binary G-code with Prusa's libbgcode (pybgcode, a test-only dependency, AGPL).

link-sync writes .bgcode itself; these helpers are how the tests prove what it writes is
what libbgcode reads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import pybgcode._bgcode as lib  # type: ignore[import-untyped]


@dataclass
class Decoded:
    gcode: bytes = b""
    printer_metadata: dict[str, str] = field(default_factory=dict)
    thumbnails: list[tuple[int, int, int]] = field(default_factory=list)  # format, w, h
    block_types: list[int] = field(default_factory=list)


def is_valid(path: Path) -> bool:
    f = lib.open(str(path), "rb")
    try:
        return bool(lib.is_valid_binary_gcode(f, True) == lib.EResult.Success)
    finally:
        lib.close(f)


def block_count(path: Path) -> int:
    """How many blocks the file has, by walking its block headers (sizes only)."""
    data = path.read_bytes()
    offset, count = 10, 0
    while offset < len(data):
        block_type, compression, uncompressed = struct.unpack_from("<HHI", data, offset)
        size, offset = uncompressed, offset + 8
        if compression:
            (size,) = struct.unpack_from("<I", data, offset)
            offset += 4
        offset += (6 if block_type == 5 else 2) + size + 4
        count += 1
    return count


def decode(path: Path) -> Decoded:
    """Every block of `path` read by libbgcode (checksums checked first); G-code joined."""
    assert is_valid(path), "libbgcode: not a valid binary G-code file (header or CRC)"
    f = lib.open(str(path), "rb")
    out = Decoded()
    parts: list[bytes] = []
    try:
        header = lib.FileHeader()
        assert lib.read_header(f, header) == lib.EResult.Success
        for _ in range(block_count(path)):
            block = lib.BlockHeader()
            result = lib.read_next_block_header(f, header, block)
            assert result == lib.EResult.Success, lib.translate_result(result)
            out.block_types.append(block.type)
            if block.type == lib.EBlockType.GCode.value:
                gcode = lib.GCodeBlock()
                assert gcode.read_data(f, header, block) == lib.EResult.Success
                raw = gcode.raw_data
                parts.append(raw if isinstance(raw, bytes) else raw.encode("utf-8"))
            elif block.type == lib.EBlockType.PrinterMetadata.value:
                meta = lib.PrinterMetadataBlock()
                assert meta.read_data(f, header, block) == lib.EResult.Success
                out.printer_metadata = dict(meta.raw_data)
            elif block.type == lib.EBlockType.Thumbnail.value:
                thumb = lib.ThumbnailBlock()
                assert thumb.read_data(f, header, block) == lib.EResult.Success
                p = thumb.params
                out.thumbnails.append((p.format, p.width, p.height))
            else:
                assert lib.skip_block(f, header, block) == lib.EResult.Success
    finally:
        lib.close(f)
    out.gcode = b"".join(parts)
    return out
