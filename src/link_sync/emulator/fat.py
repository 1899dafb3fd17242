"""FAT naming and time rules of the Buddy firmware's USB stick (FatFs with LFN, no exFAT).

Written from the FAT specification and FatFs' documented behaviour: an entry keeps its
long name as given, and gets an 8.3 short name; a long name that does not fit 8.3
losslessly gets a numbered short name (`BENCHY~1.BGC`), the next free number in the folder.
"""

from __future__ import annotations

from collections.abc import Callable

#: Characters FatFs refuses in any name (`\\` and `/` are separators).
FORBIDDEN = frozenset('"*:<>?|\x7f') | frozenset(chr(c) for c in range(32))
#: Characters legal in a long name but not in a short one (replaced by `_`).
_SFN_ILLEGAL = frozenset("+,;=[]")

#: Print-file extensions the firmware accepts and lists (lower case).
BUDDY_PRINT_EXTENSIONS = frozenset({".g", ".gc", ".gco", ".gcode", ".bgc", ".bgcode"})
#: Print-file extensions the Raspberry-Pi PrusaLink lists as PRINT_FILE.
PI_PRINT_EXTENSIONS = frozenset({".g", ".gc", ".gco", ".gcode"})


def extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def entry_type(name: str, is_dir: bool, print_extensions: frozenset[str], firmware: str) -> str:
    """A listing entry's `type` as PrusaLink gives it: FOLDER, PRINT_FILE, FIRMWARE, FILE."""
    if is_dir:
        return "FOLDER"
    ext = extension(name)
    if ext in print_extensions:
        return "PRINT_FILE"
    return "FIRMWARE" if ext == firmware else "FILE"


def clean_long_name(name: str) -> str:
    """FatFs strips trailing dots and spaces from a long name."""
    return name.rstrip(" .")


def has_forbidden(name: str) -> bool:
    return any(c in FORBIDDEN for c in name)


def _base_short(long_name: str) -> tuple[str, str, bool]:
    """(body, ext, lossy) of the 8.3 form of `long_name`, before any ~N numbering."""
    lossy = False
    name = long_name.lstrip(" ")
    stripped = name.lstrip(".")
    if stripped != name:
        lossy = True
    name = stripped
    dot = name.rfind(".")
    if dot >= 0:
        body_src, ext_src = name[:dot], name[dot + 1 :]
    else:
        body_src, ext_src = name, ""

    def convert(src: str, limit: int) -> tuple[str, bool]:
        out: list[str] = []
        loss = False
        for ch in src:
            if ch in " .":
                loss = True
                continue
            if ord(ch) >= 0x80 or ch in _SFN_ILLEGAL:
                ch, loss = "_", True  # not in the OEM code page: replaced
            if len(out) == limit:
                return "".join(out), True
            out.append(ch.upper())
        return "".join(out), loss

    body, loss_b = convert(body_src, 8)
    ext, loss_e = convert(ext_src, 3)
    return body, ext, lossy or loss_b or loss_e


def _hash_seq(long_name: str, seq: int) -> int:
    # FAT's numbered-name hash for heavy collisions: a CRC-16/CCITT over the UTF-16 units.
    sreg = seq
    raw = long_name.encode("utf-16-le")
    units = [int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2)]
    for wc in units:
        for _ in range(16):
            sreg = (sreg << 1) + (wc & 1)
            wc >>= 1
            if sreg & 0x10000:
                sreg ^= 0x11021
    return sreg


def _numbered(body: str, ext: str, long_name: str, seq: int) -> str:
    num = _hash_seq(long_name, seq) if seq > 5 else seq
    tail = "~" + format(num, "X")
    name = body[: 8 - len(tail)] + tail
    return f"{name}.{ext}" if ext else name


def short_name(long_name: str, taken: Callable[[str], bool]) -> str | None:
    """The 8.3 name FAT gives `long_name` in a folder where `taken(SHORT)` tells used names.

    Returns None when no name is free (FatFs gives up after 99 tries).
    """
    body, ext, lossy = _base_short(long_name)
    if not body:
        lossy = True
    if not lossy:
        return f"{body}.{ext}" if ext else body
    for seq in range(1, 100):
        candidate = _numbered(body, ext, long_name, seq)
        if not taken(candidate):
            return candidate
    return None


def fat_timestamp(epoch: float, *, halved_seconds_bug: bool = False) -> int:
    """What the firmware reports as m_timestamp for a FAT time written at `epoch`.

    FAT stores seconds / 2; the firmware bug forgets to double them again on reading.
    """
    whole = int(epoch) - int(epoch) % 2
    if halved_seconds_bug:
        minute = whole - whole % 60
        return minute + (whole % 60) // 2
    return whole
