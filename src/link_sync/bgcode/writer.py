"""Plain G-code to binary G-code, streamed block by block, each block checked.

The G-code blocks hold the plain file's bytes: a block is MeatPacked when libbgcode's
decoder gives it back unchanged (`meatpack.round_trips`), then Heatshrink-compressed
when that makes it smaller. Every block is decoded back (Heatshrink, then MeatPack by
libbgcode's rules) and compared with the bytes it came from before it is written, so the
file decodes to exactly the master's bytes; a block that would not is written unencoded,
and if even that fails, the conversion fails (`ConversionError`) and the caller sends the
plain file. Memory is one block, whatever the file's size.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from link_sync.bgcode import format as fmt
from link_sync.bgcode import heatshrink, meatpack
from link_sync.bgcode.metadata import Metadata, read_metadata


class ConversionError(Exception):
    """The file could not be converted exactly; it is sent as it is."""


@dataclass(frozen=True, slots=True)
class Converted:
    """What a conversion wrote and what it read."""

    size: int  # bytes of the .bgcode file
    source_size: int
    source_sha256: str  # of the bytes read, so a file changed meanwhile is caught
    meatpacked_blocks: int
    plain_blocks: int


def convert(source: Path, destination: Path, *, producer: str = "link-sync") -> Converted:
    """Write `source` (plain G-code) as binary G-code to `destination`."""
    try:
        meta = read_metadata(source)
    except OSError as exc:
        raise ConversionError(f"cannot read it: {exc.strerror or exc}") from exc
    digest = hashlib.sha256()
    meatpacked = plain = read = 0
    with open(source, "rb") as src, open(destination, "wb") as out:
        out.write(fmt.FILE_HEADER.pack(fmt.MAGIC, fmt.VERSION, fmt.CHECKSUM_CRC32))
        _write_metadata(out, meta, producer)
        for text in _lines_in_blocks(src):
            digest.update(text)
            read += len(text)
            for data, is_meatpacked in _gcode_blocks(text):
                meatpacked += is_meatpacked
                plain += not is_meatpacked
                out.write(data)
        out.flush()
        os.fsync(out.fileno())
        size = out.tell()
    return Converted(size, read, digest.hexdigest(), meatpacked, plain)


def _lines_in_blocks(src: BinaryIO) -> Iterator[bytes]:
    """The file in pieces of at most GCODE_BLOCK_SIZE bytes, cut after a newline."""
    rest = b""
    while True:
        chunk = src.read(fmt.GCODE_BLOCK_SIZE - len(rest))
        if not chunk:
            if rest:
                yield rest
            return
        buffer = rest + chunk
        if len(buffer) < fmt.GCODE_BLOCK_SIZE:
            rest = buffer  # a short read is not the end
            continue
        cut = buffer.rfind(b"\n") + 1 or len(buffer)  # a line longer than a block: anywhere
        yield buffer[:cut]
        rest = buffer[cut:]


def _gcode_blocks(text: bytes) -> Iterator[tuple[bytes, bool]]:
    """`text` as one block, or two: the part MeatPack would alter, then the rest."""
    cut = 0 if b"\xff" in text or not text.endswith(b"\n") else meatpack.packable_from(text)
    if 0 < cut < len(text):
        yield _gcode_block(text[:cut])
        text = text[cut:]
    yield _gcode_block(text)


def _gcode_block(text: bytes) -> tuple[bytes, bool]:
    """The block for `text` and whether it is MeatPacked; checked by decoding it back."""
    if meatpack.round_trips(text):
        payload = meatpack.encode(text)
        block = _checked_gcode_block(text, payload, fmt.ENCODING_MEATPACK_COMMENTS)
        if block is not None:
            return block, True
    block = _checked_gcode_block(text, text, fmt.ENCODING_NONE)
    if block is None:
        raise ConversionError("a G-code block does not decode to the file's bytes")
    return block, False


def _checked_gcode_block(text: bytes, payload: bytes, encoding: int) -> bytes | None:
    compressed = heatshrink.compress(payload)
    if len(compressed) < len(payload):
        compression, data = fmt.COMPRESSION_HEATSHRINK_12_4, compressed
        try:
            unpacked = heatshrink.decompress(compressed)
        except (ValueError, RuntimeError):
            return None
    else:
        compression, data, unpacked = fmt.COMPRESSION_NONE, payload, payload
    if unpacked != payload:
        return None
    try:
        decoded = meatpack.decode(unpacked) if encoding else unpacked
    except meatpack.DecodeError:
        return None
    if decoded != text:
        return None
    return block(fmt.GCODE, fmt.ENCODING.pack(encoding), data, compression, len(payload))


def block(
    block_type: int,
    params: bytes,
    data: bytes,
    compression: int = fmt.COMPRESSION_NONE,
    uncompressed: int | None = None,
) -> bytes:
    """One block: header, parameters, data, CRC32 of them all."""
    size = len(data) if uncompressed is None else uncompressed
    header = fmt.BLOCK_HEADER.pack(block_type, compression, size)
    if compression != fmt.COMPRESSION_NONE:
        header += fmt.COMPRESSED_SIZE.pack(len(data))
    body = header + params + data
    return body + fmt.CRC.pack(zlib.crc32(body))


def _ini(pairs: Sequence[tuple[str, str]]) -> bytes:
    return "".join(f"{k}={v}\n" for k, v in pairs).encode()


def _write_metadata(out: BinaryIO, meta: Metadata, producer: str) -> None:
    no_encoding = fmt.ENCODING.pack(0)
    out.write(block(fmt.FILE_METADATA, no_encoding, _ini([("Producer", producer)])))
    out.write(block(fmt.PRINTER_METADATA, no_encoding, _ini(meta.printer)))
    for thumb in meta.thumbnails:
        params = fmt.THUMBNAIL_PARAMS.pack(thumb.format, thumb.width, thumb.height)
        out.write(block(fmt.THUMBNAIL, params, thumb.data))
    out.write(block(fmt.PRINT_METADATA, no_encoding, _ini(meta.print)))
    slicer = _ini(meta.slicer)
    out.write(
        block(
            fmt.SLICER_METADATA,
            no_encoding,
            zlib.compress(slicer),
            fmt.COMPRESSION_DEFLATE,
            len(slicer),
        )
    )
