"""Buddy's check of a binary G-code file before its preview or print.

The firmware stores whatever an upload sends; it checks a `.bgcode` file when the file
is opened for the print preview or a print (`PrusaPackGcodeReader::verify_file` and
`read_and_check_header`, src/common/gcode/gcode_reader_binary.cpp): the file must start
with the magic `GCDE`, have a header it knows (version 1, a checksum type it reads) and
every block's CRC32 must match. Otherwise the screen reports the file error, in the
firmware's words below. This is the emulator's own walk of the format
(`link_sync.bgcode.format`), not libbgcode's.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from link_sync.bgcode import format as fmt

#: The firmware's words (gcode_reader_binary.cpp).
NOT_VALID = "The file is not a valid bgcode file."
BAD_HEADER = "Invalid BGCODE file header"

_CHECKSUM_NONE = 0


def bgcode_file_error(data: bytes) -> str | None:
    """Why Buddy would refuse to preview or print `data` as binary G-code (None: it would not)."""
    if not data.startswith(fmt.MAGIC):
        return NOT_VALID
    if len(data) < fmt.FILE_HEADER.size:
        return BAD_HEADER
    _, version, checksum = fmt.FILE_HEADER.unpack_from(data)
    if version != fmt.VERSION or checksum not in (_CHECKSUM_NONE, fmt.CHECKSUM_CRC32):
        return BAD_HEADER
    try:
        for body, crc in _blocks(data, checksum == fmt.CHECKSUM_CRC32):
            if crc is not None and zlib.crc32(body) != crc:
                return NOT_VALID
    except struct.error:  # a block runs past the end of the file
        return NOT_VALID
    return None


def _blocks(data: bytes, has_crc: bool) -> Iterator[tuple[bytes, int | None]]:
    """Each block's header, parameters and data (what its CRC covers), with its CRC."""
    offset = fmt.FILE_HEADER.size
    while offset < len(data):
        start = offset
        block_type, compression, uncompressed = fmt.BLOCK_HEADER.unpack_from(data, offset)
        offset += fmt.BLOCK_HEADER.size
        size = uncompressed
        if compression != fmt.COMPRESSION_NONE:
            (size,) = fmt.COMPRESSED_SIZE.unpack_from(data, offset)
            offset += fmt.COMPRESSED_SIZE.size
        offset += fmt.params_size(block_type) + size
        if offset > len(data):
            raise struct.error("block past the end")
        crc: int | None = None
        if has_crc:
            (crc,) = fmt.CRC.unpack_from(data, offset)
            offset += fmt.CRC.size
        yield data[start : offset - (fmt.CRC.size if has_crc else 0)], crc
