"""How the `link-sync` console script tunes its own process: the garbage collector.

Only the command line does this, and only when it is the process (`cli.run`, the
console script and `python -m link_sync`): the library (`link_sync.sync`, `plan`,
`status`) and `main` called in a caller's process never change the collector or
anything else process-wide.

Two tunings:
- start-up: collection is held off while the command and its engine load (what
  start-up makes lives as long as the process; ~100 collections meanwhile free
  nothing and cost ~10 ms before the first request), then what exists is frozen
  out of later collections and collection resumes;
- a sync or plan: the young generation is collected less often (`RUN_GC_THRESHOLDS`).
  A run over 50 printers x 1,000 files holds ~100,000 listing objects, and Python's
  default threshold (700) has the collector walk them ~160 times, 0.1 s of a 1 s run;
  a run leaves little cyclic garbage (an upload's chunks are freed by reference
  counting), so a 50,000-object young generation costs memory only in passing.
"""

from __future__ import annotations

import gc
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from link_sync.config import Config

#: gc.set_threshold for a sync or plan run by the console script (Python's: 700, 10, 10).
RUN_GC_THRESHOLDS = (50_000, 20, 10)


class _Process:
    #: the console script runs this process (`hold_collection` was called)
    owned = False
    #: collection is held off until the engine is loaded
    held = False


def hold_collection() -> None:
    """The console script starts: the process is ours, and collection waits."""
    gc.disable()
    _Process.owned = _Process.held = True


def engine_ready(config: Config, *, run: bool = False) -> None:
    """Load the backends of `config`'s printer types, then `resume_collection`; for a
    sync or plan (`run`), space the collector's passes while it goes on.

    The registry imports a printer type's backend (and with it the HTTP client
    library, a run's largest import) when the first such printer is opened, inside
    the run; imported here, it is still made while collection is held off.
    """
    if _Process.held:
        from link_sync.backends.registry import PRINTER_TYPES

        for kind in sorted({printer.type for printer in config.printers.values()}):
            importlib.import_module(PRINTER_TYPES[kind].backend.partition(":")[0])
    resume_collection()
    if run and _Process.owned:
        gc.set_threshold(*RUN_GC_THRESHOLDS)


def resume_collection() -> None:
    """Collect cyclic garbage again, if `hold_collection` held it off; a no-op otherwise.

    What exists by now is frozen (left out of every later collection): it is the
    program itself, and a long run would otherwise scan it again at each full
    collection.
    """
    if _Process.held:
        _Process.held = False
        gc.freeze()
        gc.enable()
