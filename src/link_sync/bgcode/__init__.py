"""Binary G-code (`.bgcode`) written by link-sync itself, from plain G-code.

The format is libbgcode's `doc/specifications.md` (Prusa): a file header, metadata blocks,
thumbnail blocks and G-code blocks, each with a CRC32. The G-code blocks carry the plain
file's bytes exactly (MeatPack where that round-trips, then Heatshrink 12/4), so decoding
them gives back the master file byte for byte; the metadata and thumbnail blocks are
copies of what the plain file's comments say, for the firmware's checks and previews.

Modules: `meatpack` (the 4-bit packing and its decoder), `heatshrink` (the ISC-licensed
`heatshrink2` binding, wrapped), `metadata` (what the plain file's comments say),
`writer` (the streaming encoder), `reader` (the in-project decoder that checks each
conversion), `cache` (converted files kept in the state folder).
"""

from __future__ import annotations
