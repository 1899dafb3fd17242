"""Heatshrink with a 4 KiB window and 16-byte lookahead (bgcode's compression type 3).

Through `heatshrink2` (ISC licence, a binding of the reference C library).
"""

from __future__ import annotations

import heatshrink2  # type: ignore[import-untyped]

WINDOW_SZ2 = 12
LOOKAHEAD_SZ2 = 4
COMPRESSION_TYPE = 3  # libbgcode: Heatshrink, window size 12, lookahead size 4


def compress(data: bytes) -> bytes:
    packed: bytes = heatshrink2.compress(data, window_sz2=WINDOW_SZ2, lookahead_sz2=LOOKAHEAD_SZ2)
    return packed


def decompress(data: bytes) -> bytes:
    plain: bytes = heatshrink2.decompress(data, window_sz2=WINDOW_SZ2, lookahead_sz2=LOOKAHEAD_SZ2)
    return plain
