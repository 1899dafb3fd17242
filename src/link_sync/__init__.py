"""link-sync: keep every printer of a 3D-print farm in line with one master folder.

The public API (everything else is internal and may change)::

    import link_sync

    config = link_sync.load_config("link-sync.yml")
    result = link_sync.sync(config, printers=["mk4-01"])
    result.ok, result.exit_code, result.to_json()

`sync`, `plan` and `status` (and their `_async` forms) never print, never
touch the caller's logging or signal handlers, and write only to the state
folder (journal and run lock).
"""

from __future__ import annotations

from link_sync._api import (
    load_config,
    plan,
    plan_async,
    status,
    status_async,
    sync,
    sync_async,
)
from link_sync.config import Config, PrinterConfig
from link_sync.errors import (
    AuthFailed,
    ConfigError,
    FileBusy,
    JournalError,
    LinkSyncError,
    LockHeld,
    NotFound,
    PrinterError,
    ProtocolError,
    Refused,
    RequestTimeout,
    SafetyRefusal,
    ServerError,
    SourceMissing,
    StorageFull,
    TransferInProgress,
    Unreachable,
    UsageError,
)
from link_sync.execute import Observer, RetryPolicy
from link_sync.model import Op, PrinterState, SyncStatus
from link_sync.result import (
    ActionResult,
    PrinterResult,
    PrinterStatusReport,
    RunResult,
    StatusReports,
)

__version__ = "0.3.0.dev0"

__all__ = [
    "ActionResult",
    "AuthFailed",
    "Config",
    "ConfigError",
    "FileBusy",
    "JournalError",
    "LinkSyncError",
    "LockHeld",
    "NotFound",
    "Observer",
    "Op",
    "PrinterConfig",
    "PrinterError",
    "PrinterResult",
    "PrinterState",
    "PrinterStatusReport",
    "ProtocolError",
    "Refused",
    "RequestTimeout",
    "RetryPolicy",
    "RunResult",
    "SafetyRefusal",
    "ServerError",
    "SourceMissing",
    "StatusReports",
    "StorageFull",
    "SyncStatus",
    "TransferInProgress",
    "Unreachable",
    "UsageError",
    "__version__",
    "load_config",
    "plan",
    "plan_async",
    "status",
    "status_async",
    "sync",
    "sync_async",
]
