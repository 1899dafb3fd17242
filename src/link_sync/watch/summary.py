"""The words for whether a watched printer holds the master's files, written once.

The page shows them as the server sends them (`summary` in each printer of
`/api/printers` and of the event stream's snapshots); it does not word a status
of its own. `tone` is the colour class the page gives the cell (`ok`, `warn`,
`bad`, `unknown`); the text always says it, colour only repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from link_sync.core.units import human_bytes

if TYPE_CHECKING:
    from link_sync.watch.state import PrinterView


@dataclass(frozen=True, slots=True)
class Summary:
    text: str
    tone: str

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "tone": self.tone}


def sync_summary(view: PrinterView) -> Summary:
    """'2 files (2.0 kB) pending — busy', '✓ in sync', '⏸ paused ✗ out of sync', ..."""
    parts = []
    tone = "ok"
    paused = view.watching == "paused"
    if paused:
        parts.append("⏸ paused")
        tone = "warn"
    if view.pending_files > 0:
        files = f"{view.pending_files} file{'' if view.pending_files == 1 else 's'}"
        parts.append(f"{files} ({human_bytes(view.pending_bytes)}) pending")
        tone = "warn"
    elif view.in_sync is True:
        parts.append("✓ in sync")
    elif view.in_sync is False:
        parts.append("✗ out of sync")
        tone = "bad"
    elif not paused:
        parts.append("… not known yet")
        tone = "unknown"
    if view.reason:
        parts.append(f"— {view.reason}")
        if tone == "ok":
            tone = "warn"
    return Summary(" ".join(parts), tone)
