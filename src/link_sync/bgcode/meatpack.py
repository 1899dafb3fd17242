"""MeatPack: G-code's most common characters packed two to a byte.

Packable: `0-9 . space newline G X` (4 bits each); any other byte goes whole after a pair
byte whose nibble 0b1111 announces it. A stream starts with the command "enable packing"
(0xFF 0xFF 0xFB). Pairs are taken from the start of each line, so a newline is only ever
the first half of a pair when the line is done (the decoder then ignores the second half).

libbgcode's decoder (the reference, which the firmware's follows) also rewrites what it
decodes: it drops a newline that follows a newline (blank lines vanish) and, on lines
that start with `G`, puts a space before a parameter letter not preceded by one. A block
is MeatPacked only when neither rewrite changes it (`round_trips`); otherwise it goes
unencoded. `decode` reproduces the reference decoder's output, rewrites included, so the
writer's check sees what libbgcode will give.
"""

from __future__ import annotations

import re

_VALUES = b"0123456789. \nGX"
_VALUE_OF = {c: i for i, c in enumerate(_VALUES)}
_NEWLINE = _VALUE_OF[ord("\n")]
_SIGNAL = 0xFF
ENABLE_PACKING = bytes([_SIGNAL, _SIGNAL, 251])

#: The letters libbgcode's decoder puts a space before on a `G` line.
_PARAMETERS = b"XYZEFIJRSGPWHCA"

# A G line where a parameter letter follows something other than a space (the decoder
# would add one), or two newlines in a row (the decoder would drop one).
_REWRITTEN = re.compile(
    rb"(?m)^G(?:[" + _PARAMETERS + rb"]|[^\n]*?[^ \n][" + _PARAMETERS + rb"])|\n\n"
)
# Pairs from the start of each line: two non-newlines, or what ends the line.
_PAIR = re.compile(rb"[^\n]{2}|[^\n]?\n")
_G_LINE = re.compile(rb"(?m)^G[^\n]*")
_DROPPABLE_SPACE = re.compile(rb"(?<=[^ ]) (?=[" + _PARAMETERS + rb"])")


def round_trips(text: bytes) -> bool:
    """Whether `text` MeatPacked decodes (by libbgcode's rules) to exactly `text`."""
    return text.endswith(b"\n") and b"\xff" not in text and _REWRITTEN.search(text) is None


def packable_from(text: bytes) -> int:
    """Where the part of `text` that round-trips begins: after its last rewritten line.

    The writer sends what comes before unencoded and MeatPacks the rest.
    """
    matches = list(_REWRITTEN.finditer(text))
    if not matches:
        return 0
    last = matches[-1]
    if last.group() == b"\n\n":
        return last.start() + 1  # a block may start with one newline
    end = text.find(b"\n", last.end())
    return len(text) if end < 0 else end + 1


def _encode_pair(pair: bytes) -> bytes:
    if len(pair) == 1:  # a newline alone: its second half is ignored
        return bytes([_NEWLINE | _NEWLINE << 4])
    first, second = _VALUE_OF.get(pair[0]), _VALUE_OF.get(pair[1])
    if first is not None and second is not None:
        return bytes([first | second << 4])
    if first is not None:
        return bytes([first | 0xF0, pair[1]])
    if second is not None:
        return bytes([0x0F | second << 4, pair[0]])
    return bytes([0xFF, pair[0], pair[1]])


class _PairTable(dict[bytes, bytes]):
    def __missing__(self, pair: bytes) -> bytes:
        packed = self[pair] = _encode_pair(pair)
        return packed


_PAIRS = _PairTable()


def encode(text: bytes) -> bytes:
    """`text` MeatPacked; only call it when `round_trips(text)`.

    On `G` lines, a single space before a parameter letter is left out: the decoder puts
    it back (that is the rewrite `round_trips` has checked is exact).
    """
    pairs = _PAIRS
    text = _G_LINE.sub(lambda m: _DROPPABLE_SPACE.sub(b"", m.group()), text)
    return ENABLE_PACKING + _PAIR.sub(lambda m: pairs[m.group()], text)


# -- decoding ----------------------------------------------------------------------------

_LOW_FULL = bytes(b for b in range(256) if b & 0x0F == 0x0F and b != 0xFF)
_HIGH_FULL = bytes(b for b in range(256) if b & 0xF0 == 0xF0 and b & 0x0F not in (0xF,))
_NEWLINE_THEN_FULL = bytes([0xF0 | _NEWLINE])
_TOKEN = re.compile(
    b"(?s)\xff\xff.|\xff..|["
    + re.escape(_LOW_FULL)
    + b"].|"
    + re.escape(_NEWLINE_THEN_FULL)
    + b"|["
    + re.escape(_HIGH_FULL)
    + b"].|."
)
_MISSING_SPACE = re.compile(rb"(?<=[^ ])(?=[" + _PARAMETERS + rb"])")
_NEWLINES = re.compile(rb"\n\n+")


class DecodeError(ValueError):
    """The stream is not what the writer makes (an unexpected command or a cut token)."""


def _decode_token(token: bytes) -> bytes:
    first = token[0]
    if len(token) < _token_length(first):
        raise DecodeError("MeatPack data ends inside a character")
    if first == _SIGNAL:
        if token[1] == _SIGNAL:
            raise DecodeError(f"unexpected MeatPack command {token[2]}")
        return token[1:3]
    low, high = first & 0x0F, first >> 4
    if low == 0x0F:  # the first character is whole, the second packed
        return token[1:2] + _VALUES[high : high + 1]
    out = _VALUES[low : low + 1]
    if low == _NEWLINE:
        return out
    if high == 0x0F:
        return out + token[1:2]
    return out + _VALUES[high : high + 1]


def _token_length(first: int) -> int:
    if first == _SIGNAL:
        return 3
    if first & 0x0F == 0x0F or (first >> 4 == 0x0F and first & 0x0F != _NEWLINE):
        return 2
    return 1


class _TokenTable(dict[bytes, bytes]):
    def __missing__(self, token: bytes) -> bytes:
        decoded = self[token] = _decode_token(token)
        return decoded


_TOKENS = _TokenTable()


def decode(data: bytes) -> bytes:
    """What libbgcode's MeatPack decoder gives for `data` (as the writer makes it)."""
    if not data.startswith(ENABLE_PACKING):
        raise DecodeError("MeatPack data does not start by enabling packing")
    body = data[len(ENABLE_PACKING) :]
    tokens = _TOKENS
    chars = _TOKEN.sub(lambda m: tokens[m.group()], body)
    chars = _NEWLINES.sub(b"\n", chars)
    return _G_LINE.sub(lambda m: _MISSING_SPACE.sub(b" ", m.group()), chars)
