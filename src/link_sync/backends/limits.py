"""How much link-sync takes from a printer, and for how long.

A printer runs firmware link-sync does not control, on a network it does not
control: a broken or hostile one must cost the host a bounded amount of memory,
disk and time, and fail alone with a clear error. The bounds, per printer:

- an answer is read chunk by chunk and refused past its kind's cap:
  `SMALL_ANSWER` (status, version, info, job, storage, one file's details, any
  error), `LISTING_ANSWER` (one folder's listing; OctoPrint's is the whole tree);
- a download (`pull`) is cut past its listed size + `DOWNLOAD_SLACK`;
- a listing walk stops past `MAX_FOLDER_DEPTH` nested folders, `MAX_LISTED_ENTRIES`
  entries or `MAX_LISTED_TEXT` characters of paths (every entry keeps its full path);
- a request that is not an upload or a download must be answered whole within the
  printer's `timeout` (in `status`: its `connect_timeout`), plus one second per
  `ANSWER_RATE` bytes of its answer: a printer dripping a byte at a time cannot
  hold a run, a big listing on a slow link still arrives;
- JSON nested too deeply for the parser is a clear error, not a crash.

The figures are far above what a real printer sends (a 1,000-file Buddy folder
lists in about 150 kB) and are named in the README.
"""

from __future__ import annotations

from link_sync import errors
from link_sync.core.units import human_bytes

#: sizes are decimal, as `human_bytes` shows them
MB = 1000 * 1000

#: the most read of any answer but a listing or a download
SMALL_ANSWER = 4 * MB
#: the most read of one folder's listing (about 300,000 Buddy entries)
LISTING_ANSWER = 64 * MB
#: how far past its listed size a download is read before it is cut
DOWNLOAD_SLACK = 1 * MB
#: folders nested deeper than this below the listed folder end the walk
MAX_FOLDER_DEPTH = 64
#: entries one listing walk keeps at most
MAX_LISTED_ENTRIES = 250_000
#: characters of full paths one listing walk keeps at most
MAX_LISTED_TEXT = 64 * MB
#: bytes of answer that earn a small request one more second
ANSWER_RATE = 16_000


def too_large(what: str, cap: int) -> errors.ProtocolError:
    return errors.ProtocolError(
        f"{what}: the printer's answer is larger than {human_bytes(cap)}, "
        "the most link-sync reads of it"
    )


def download_cap(listed: int | None) -> int | None:
    """The most read of a download listed at `listed` bytes (None: not listed)."""
    return None if listed is None else listed + DOWNLOAD_SLACK


class ListingBounds:
    """The bounds of one listing walk, checked once per folder (not per entry:
    a farm of 50 printers of 1,000 files lists 50,000 entries per run)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.entries = 0
        self.text = 0

    def depth(self, depth: int) -> None:
        """Raise if a folder `depth` levels below the listed one is too deep."""
        if depth > MAX_FOLDER_DEPTH:
            raise errors.ProtocolError(
                f"{self.what}: folders nested more than {MAX_FOLDER_DEPTH} levels deep"
            )

    def folder(self, count: int, parent: str, names: int) -> None:
        """Count a folder of `count` entries below `parent` whose names (or whole
        answer) take `names` characters; raise past the walk's bounds."""
        self.entries += count
        self.text += count * (len(parent) + 1) + names
        if self.entries > MAX_LISTED_ENTRIES:
            raise errors.ProtocolError(
                f"{self.what}: more than {MAX_LISTED_ENTRIES:,} entries, "
                "the most link-sync lists on one printer"
            )
        if self.text > MAX_LISTED_TEXT:
            raise errors.ProtocolError(
                f"{self.what}: the listed paths are longer than {human_bytes(MAX_LISTED_TEXT)} "
                "in all, the most link-sync keeps of one printer"
            )
