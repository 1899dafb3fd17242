"""The engine's former single module; everything moved to `link_sync.engine`.

Kept for imports from before the move until the layout change removes it.
"""

from __future__ import annotations

from link_sync.engine.events import Activity, Observer
from link_sync.engine.hashes import LocalHashes
from link_sync.engine.options import RetryPolicy, SyncOptions
from link_sync.engine.paths import entries_below, relative_to_folder, strip_storage
from link_sync.engine.run import BackendOpener, PrinterWork
from link_sync.engine.session import BackendFactory, Session

__all__ = [
    "Activity",
    "BackendFactory",
    "BackendOpener",
    "LocalHashes",
    "Observer",
    "PrinterWork",
    "RetryPolicy",
    "Session",
    "SyncOptions",
    "entries_below",
    "relative_to_folder",
    "strip_storage",
]
