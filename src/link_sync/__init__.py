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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from link_sync.core.model import Op, PrinterState, SyncStatus
    from link_sync.engine.events import Observer
    from link_sync.engine.options import RetryPolicy
    from link_sync.errors import (
        AuthFailed,
        ConfigError,
        FileBusy,
        JournalError,
        LinkSyncError,
        LockHeld,
        NoAnswer,
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
    from link_sync.result import (
        ActionResult,
        PrinterResult,
        PrinterStatusReport,
        RunResult,
        StatusReports,
    )

#: Where each public name lives. They are imported on first use, so that
#: `import link_sync.emulator` (or the CLI's start-up) does not pay for the engine.
_LAZY: dict[str, str] = {
    "ActionResult": "link_sync.result",
    "AuthFailed": "link_sync.errors",
    "Config": "link_sync.config",
    "ConfigError": "link_sync.errors",
    "FileBusy": "link_sync.errors",
    "JournalError": "link_sync.errors",
    "LinkSyncError": "link_sync.errors",
    "LockHeld": "link_sync.errors",
    "NoAnswer": "link_sync.errors",
    "NotFound": "link_sync.errors",
    "Observer": "link_sync.engine.events",
    "Op": "link_sync.core.model",
    "PrinterConfig": "link_sync.config",
    "PrinterError": "link_sync.errors",
    "PrinterResult": "link_sync.result",
    "PrinterState": "link_sync.core.model",
    "PrinterStatusReport": "link_sync.result",
    "ProtocolError": "link_sync.errors",
    "Refused": "link_sync.errors",
    "RequestTimeout": "link_sync.errors",
    "RetryPolicy": "link_sync.engine.options",
    "RunResult": "link_sync.result",
    "SafetyRefusal": "link_sync.errors",
    "ServerError": "link_sync.errors",
    "SourceMissing": "link_sync.errors",
    "StatusReports": "link_sync.result",
    "StorageFull": "link_sync.errors",
    "SyncStatus": "link_sync.core.model",
    "TransferInProgress": "link_sync.errors",
    "Unreachable": "link_sync.errors",
    "UsageError": "link_sync.errors",
    "load_config": "link_sync._api",
    "plan": "link_sync._api",
    "plan_async": "link_sync._api",
    "status": "link_sync._api",
    "status_async": "link_sync._api",
    "sync": "link_sync._api",
    "sync_async": "link_sync._api",
}


if not TYPE_CHECKING:  # hidden from type checkers, so a misspelt name stays an error

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'link_sync' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
    "NoAnswer",
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
