"""The settings of a run, in one value: what the CLI, the library API and the watch
hand to the engine (`SyncOptions`), and the retry policy inside it.

Every default lives on the config model (`link_sync.config.Config`); `stale_after`'s
here is read from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from link_sync.config import Config


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff for retryable printer errors."""

    attempts: int = 4
    first_delay: float = 1.0
    max_delay: float = 15.0

    def delays(self) -> list[float]:
        return [min(self.first_delay * 2**i, self.max_delay) for i in range(self.attempts - 1)]


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How a run treats every printer: the options of `sync`, `plan`, `status` and `watch`."""

    dry_run: bool = False
    #: sync printers that are printing too (never touching the file being printed)
    include_busy: bool = False
    #: delete excess files (`--no-delete`: False)
    delete: bool = True
    #: refuse a printer whose plan deletes more files than this (`--max-delete`)
    max_delete: int | None = None
    #: sync from a master folder with no print file (`--allow-empty`)
    allow_empty: bool = False
    #: printers worked on at once (`--jobs`); None: all
    parallel: int | None = None
    #: seconds a master file may be newer than the printer's copy before it is stale
    stale_after: float = Config.model_fields["stale_after"].default
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def planning(self) -> SyncOptions:
        """These options for a dry run that looks at busy printers too (`status`, and
        the watch counting what waits for a printing printer)."""
        return replace(self, dry_run=True, include_busy=True)

    def too_many_deletes(self, deletes: int) -> str | None:
        """Why a printer whose plan deletes `deletes` files is refused, or None."""
        limit = self.max_delete
        if limit is None or deletes <= limit:
            return None
        return (
            f"refused: {deletes} files would be deleted, more than "
            f"--max-delete {limit}; nothing was changed on this printer"
        )
