"""httpx without its command-line client at import.

`import httpx` also imports `httpx._main`, httpx's own `httpx` console command, and
with it rich's syntax highlighting and pygments' lexer table: about 0.08 s of CPU at
every link-sync start (bench/startup_bench.py), for a command link-sync never runs.
`install()`, called before httpx is first imported, puts a stand-in in its place;
`httpx.main()` still works: its first call loads the real command line client.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_NAME = "httpx._main"


def install() -> None:
    """Let the next `import httpx` skip its CLI module; no effect once httpx is loaded."""
    if "httpx" in sys.modules or _NAME in sys.modules:
        return
    stand_in = types.ModuleType(_NAME, "Stand-in: httpx.main() loads the real httpx._main")

    def main(*args: Any, **kwargs: Any) -> Any:
        if sys.modules.get(_NAME) is stand_in:
            del sys.modules[_NAME]
        return importlib.import_module(_NAME).main(*args, **kwargs)

    setattr(stand_in, "main", main)  # noqa: B010 (a module object: no typed attribute)
    sys.modules[_NAME] = stand_in
