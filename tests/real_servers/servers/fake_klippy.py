"""A stand-in for Klipper's API socket (klippy.sock), stdlib only.

Just enough for Moonraker to consider Klippy ready and to report a print in
progress (print_stats state/filename), so that its "file in use" checks can be
exercised.  Moonraker reads print_stats once when it subscribes, so the
harness restarts this process to change what it reports.

It touches SOCKET.subscribed once Moonraker has subscribed to print_stats,
which is when Moonraker's own file-in-use check knows the state.

usage: fake_klippy.py SOCKET GCODES_DIR [PRINTING_FILE]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

SOCK, GCODES = sys.argv[1], os.path.abspath(sys.argv[2])
PRINTING = sys.argv[3] if len(sys.argv) > 3 else ""


def status() -> dict[str, Any]:
    return {
        "webhooks": {"state": "ready", "state_message": "Printer is ready"},
        "print_stats": {
            "state": "printing" if PRINTING else "standby",
            "filename": PRINTING,
            "total_duration": 1.0,
            "print_duration": 1.0,
            "filament_used": 0.0,
            "message": "",
            "info": {},
        },
        "virtual_sdcard": {
            "file_path": os.path.join(GCODES, PRINTING) if PRINTING else None,
            "progress": 0.1,
            "is_active": bool(PRINTING),
            "file_position": 0,
        },
        "configfile": {"config": {"virtual_sdcard": {"path": GCODES}}},
        "display_status": {},
        "pause_resume": {"is_paused": False},
    }


def answer(method: str, params: dict[str, Any]) -> dict[str, Any]:
    if method == "info":
        return {
            "state": "ready",
            "state_message": "Printer is ready",
            "hostname": "fake-klippy",
            "software_version": "fake-klippy-0",
            "cpu_info": "",
            "klipper_path": "/nonexistent",
            "python_path": sys.executable,
            "log_file": "/dev/null",
            "config_file": "/dev/null",
            "process_id": os.getpid(),
            "user_id": os.getuid(),
            "group_id": os.getgid(),
        }
    if method == "list_endpoints":
        names = ["info", "objects/list", "objects/query", "objects/subscribe", "gcode/script"]
        return {"endpoints": names}
    if method == "objects/list":
        return {"objects": list(status())}
    if method in ("objects/query", "objects/subscribe"):
        current = status()
        wanted = params.get("objects", {})
        if method == "objects/subscribe" and "print_stats" in wanted:
            with open(SOCK + ".subscribed", "w"):
                pass
        return {"eventtime": time.monotonic(), "status": {k: current.get(k, {}) for k in wanted}}
    return {}


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        try:
            data = await reader.readuntil(b"\x03")
        except (asyncio.IncompleteReadError, ConnectionError):
            break
        request = json.loads(data[:-1])
        result = answer(request.get("method", ""), request.get("params", {}))
        writer.write(json.dumps({"id": request.get("id"), "result": result}).encode() + b"\x03")
        await writer.drain()


async def main() -> None:
    if os.path.exists(SOCK):
        os.unlink(SOCK)
    server = await asyncio.start_unix_server(handle, path=SOCK)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
