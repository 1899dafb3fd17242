"""The numbers of libbgcode's `doc/specifications.md` that the writer and reader share."""

from __future__ import annotations

import struct

MAGIC = b"GCDE"
VERSION = 1
CHECKSUM_CRC32 = 1

FILE_HEADER = struct.Struct("<4sIH")
BLOCK_HEADER = struct.Struct("<HHI")  # type, compression, uncompressed size
COMPRESSED_SIZE = struct.Struct("<I")
ENCODING = struct.Struct("<H")
THUMBNAIL_PARAMS = struct.Struct("<HHH")  # format, width, height
CRC = struct.Struct("<I")

FILE_METADATA = 0
GCODE = 1
SLICER_METADATA = 2
PRINTER_METADATA = 3
PRINT_METADATA = 4
THUMBNAIL = 5

COMPRESSION_NONE = 0
COMPRESSION_DEFLATE = 1
COMPRESSION_HEATSHRINK_12_4 = 3

ENCODING_NONE = 0
ENCODING_MEATPACK_COMMENTS = 2  # MeatPack that keeps comment lines

#: G-code blocks hold at most this much of the plain file (PrusaSlicer's block size).
GCODE_BLOCK_SIZE = 65536


def params_size(block_type: int) -> int:
    return THUMBNAIL_PARAMS.size if block_type == THUMBNAIL else ENCODING.size
