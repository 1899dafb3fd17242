"""Whether a printer receives files while it prints: the `while_printing:` key.

`upload`: during a print the printer gets every upload, replace and delete but those of
the file being printed (kept, named, and brought in line after the print). `wait`: it
is left alone until the print ends. The default follows where the printer keeps its
files: a host's disk that its own web page uploads to during prints (OctoPrint,
Moonraker) takes them; PrusaLink waits (a Pi may be set to `upload`); a Buddy printer,
whose transfers during a print have paused prints, is never set to `upload`.
"""

from __future__ import annotations

from enum import StrEnum

from link_sync import errors


class WhilePrinting(StrEnum):
    """The values of `while_printing:` (and of `while_printing` in `--json`)."""

    UPLOAD = "upload"
    WAIT = "wait"


#: Why a printer that prints from its own storage is refused `while_printing: upload`.
REFUSED_UPLOAD = (
    "while_printing: upload is refused for this printer: it prints from its own USB "
    "storage (Buddy firmware), and transfers during a print are slow and have paused "
    "prints ('USB drive or file error'); nothing was sent — remove the key or set "
    "while_printing: wait"
)


def while_printing(
    configured: str | None, *, prints_from_host_disk: bool, uploads_by_default: bool
) -> WhilePrinting:
    """What a printer does during a print: the config's `while_printing` (None: not
    set) on a printer with these capabilities. Raises `errors.Refused` for `upload` on
    a printer that does not print from a host's disk."""
    if configured is None:
        return WhilePrinting.UPLOAD if uploads_by_default else WhilePrinting.WAIT
    chosen = WhilePrinting(configured)
    if chosen == WhilePrinting.UPLOAD and not prints_from_host_disk:
        raise errors.Refused(REFUSED_UPLOAD)
    return chosen
