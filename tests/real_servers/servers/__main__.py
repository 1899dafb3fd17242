"""Run real servers by hand: python -m real_servers.servers octoprint moonraker prusalink
(from the tests/ folder). Prints each one's URL and credentials, serves until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import tempfile
import time
from pathlib import Path

from . import MoonrakerServer, OctoPrintServer, PrusaLinkServer, RealServer

KINDS: dict[str, type[RealServer]] = {
    "octoprint": OctoPrintServer,
    "moonraker": MoonrakerServer,
    "prusalink": PrusaLinkServer,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kinds", nargs="+", choices=sorted(KINDS))
    parser.add_argument("--data", type=Path, help="data folder (default: a temporary one)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    root = args.data or Path(tempfile.mkdtemp(prefix="link-sync-servers-"))
    with contextlib.ExitStack() as stack:
        for kind in args.kinds:
            server = stack.enter_context(KINDS[kind](root / kind))
            print(
                kind,
                server.url,
                f"api_key={getattr(server, 'api_key', '')}",
                f"storage={getattr(server, 'storage', '')}",
                server.timings,
                flush=True,
            )
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
