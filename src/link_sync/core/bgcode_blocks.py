"""The blocks of a binary G-code file, walked from its header: what `core.targets` (the
printer metadata block) and `thumbnails` (the thumbnail blocks) read. Only the headers
are read here; each reader reads the block it wants."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

FILE_HEADER = struct.Struct("<4sIH")
BLOCK_HEADER = struct.Struct("<HHI")
COMPRESSED_SIZE = struct.Struct("<I")
THUMBNAIL_PARAMS = struct.Struct("<HHH")

GCODE = 1
PRINTER_METADATA = 3
THUMBNAIL = 5
COMPRESSION_NONE = 0
COMPRESSION_DEFLATE = 1
CHECKSUM_CRC32 = 1


@dataclass(frozen=True, slots=True)
class Block:
    """One block's header, and where the block lies in the file."""

    offset: int  # where its header starts
    header: bytes  # the header as read, with the stored size of a compressed block
    type: int
    compression: int
    uncompressed: int
    size: int  # the data's size as stored
    checksum_size: int

    @property
    def params_size(self) -> int:
        return THUMBNAIL_PARAMS.size if self.type == THUMBNAIL else 2

    @property
    def data_offset(self) -> int:
        return self.offset + len(self.header) + self.params_size

    @property
    def end(self) -> int:
        return self.data_offset + self.size + self.checksum_size


def blocks(f: BinaryIO, max_blocks: int) -> Iterator[Block]:
    """The blocks before the G-code (metadata and thumbnails all come first), at most
    `max_blocks`; `f` stands just after each block's header when it is yielded. A
    truncated header ends the walk."""
    f.seek(0)
    header = f.read(FILE_HEADER.size)
    if len(header) < FILE_HEADER.size:
        return
    _magic, _version, checksum_type = FILE_HEADER.unpack(header)
    checksum_size = 4 if checksum_type == CHECKSUM_CRC32 else 0
    offset = FILE_HEADER.size
    for _ in range(max_blocks):
        f.seek(offset)
        raw = f.read(BLOCK_HEADER.size)
        if len(raw) < BLOCK_HEADER.size:
            return
        block_type, compression, uncompressed = BLOCK_HEADER.unpack(raw)
        size = uncompressed
        if compression != COMPRESSION_NONE:
            extra = f.read(COMPRESSED_SIZE.size)
            if len(extra) < COMPRESSED_SIZE.size:
                return
            raw += extra
            (size,) = COMPRESSED_SIZE.unpack(extra)
        if block_type == GCODE:
            return
        block = Block(offset, raw, block_type, compression, uncompressed, size, checksum_size)
        yield block
        offset = block.end
