"""`send_as: bgcode`: which master files reach a printer as binary G-code, under which name.

A plain G-code master file `X.gcode` (also `.g`, `.gc`, `.gco`) is `X.bgcode` on such a
printer: the planner compares, uploads, records and deletes it under that name, as a
`LocalFile` whose `converted_from` names the master file. A master file that is already
binary goes as it is. When the master holds both `X.gcode` and `X.bgcode`, its own
`X.bgcode` wins and `X.gcode` is left out for that printer (with a note).
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, replace

from link_sync.core.model import LocalFile

AS_IS = "as-is"
BGCODE = "bgcode"
SEND_AS = (AS_IS, BGCODE)

#: Extensions of plain G-code (lower case), converted with `send_as: bgcode`.
PLAIN_EXTENSIONS = frozenset({".gcode", ".g", ".gc", ".gco"})
BINARY_EXTENSION = ".bgcode"


def binary_name(path: str) -> str | None:
    """`a/X.bgcode` for a plain G-code path `a/X.gcode`; None for any other file."""
    dot = path.rfind(".")
    if dot <= path.rfind("/") + 1 or path[dot:].lower() not in PLAIN_EXTENSIONS:
        return None
    return path[:dot] + BINARY_EXTENSION


@dataclass(frozen=True, slots=True)
class SentForm:
    """The master as a `send_as: bgcode` printer gets it."""

    #: the files under their printer names (converted ones with `converted_from`)
    files: list[LocalFile]
    #: routing's files not wanted (by master path, as reported), and under their
    #: binary names too (why such a file on the printer is deleted)
    not_wanted: dict[str, str]
    #: one note per master file left out because the master holds its `.bgcode` too
    notes: list[str]


def as_binary(
    files: Sequence[LocalFile],
    not_wanted: Mapping[str, str],
    *,
    keep_plain: Container[str] = (),
    case_insensitive: bool = False,
) -> SentForm:
    """The master's files as a printer with `send_as: bgcode` holds them.

    `keep_plain`: master paths known not to convert (they go as they are, under their
    own name). Files routing leaves out (`not_wanted`, by master path) keep their master
    names, so the report names them as the master does.
    """

    def key(path: str) -> str:
        return path.casefold() if case_insensitive else path

    own_binary = {key(f.path) for f in files if binary_name(f.path) is None}
    out: list[LocalFile] = []
    notes: list[str] = []
    routed = dict(not_wanted)
    for file in files:
        target = binary_name(file.path) if file.path not in keep_plain else None
        if target is None or file.path in not_wanted:
            out.append(file)
            if target is not None and key(target) not in own_binary:
                # routed away: its binary form on the printer is excess too, and why
                routed.setdefault(target, not_wanted[file.path])
            continue
        if key(target) in own_binary:
            notes.append(
                f"{file.path} not converted: the master holds {target}, which is sent instead"
            )
            continue
        out.append(replace(file, path=target, converted_from=file.path))
    return SentForm(out, routed, notes)
