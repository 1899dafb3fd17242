"""The printer-level documents: version, info, storage, status, job, transfer, legacy printer."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from link_sync.emulator.http import Ctx, HttpError
from link_sync.emulator.printer import EmulatedPrinter
from link_sync.emulator.profiles import PI_LINK_VERSION

_PRINT_SECONDS = 3600
#: Buddy `/api/version` `server`: the firmware's lwIP version (`LWIP_VERSION_STRING`)
LWIP_VERSION = "2.1.2"
#: Buddy print states in which `marlin_server::is_printing()` holds (the status then
#: leaves out axis_x and axis_y, status_renderer.cpp)
_MOVING = frozenset({"PRINTING", "PAUSED", "ATTENTION", "BUSY"})


def version(p: EmulatedPrinter) -> dict[str, Any]:
    if p.pi:
        return {
            "api": "2.0.0",
            "server": PI_LINK_VERSION,
            "original": f"PrusaLink {p.profile.printer_type}",
            "text": f"PrusaLink {PI_LINK_VERSION}",
            "firmware": p.profile.firmware,
            "sdk": PI_LINK_VERSION,
            "capabilities": {"upload-by-put": True},
            "hostname": p.hostname,
        }
    # Buddy `get_version` (basic_gets.cpp): these keys and no others. The firmware does
    # not name its model or version here (only Prusa Connect is told the printer type);
    # `server` is the lwIP version.
    return {
        "api": "2.0.0",
        "server": LWIP_VERSION,
        "nozzle_diameter": p.spec.nozzle_diameter,
        "text": "PrusaLink",
        "hostname": p.hostname,
        "capabilities": {"upload-by-put": True},
    }


def info(p: EmulatedPrinter) -> dict[str, Any]:
    # Buddy `get_info` (basic_gets.cpp): exactly these keys
    out: dict[str, Any] = {
        "nozzle_diameter": p.spec.nozzle_diameter,
        "mmu": False,
        "serial": p.serial,
        "hostname": p.hostname,
        "min_extrusion_temp": 170,
    }
    if p.pi:
        out.update(name=p.name, location="", farm_mode=False, sd_ready=True, port="/dev/ttyAMA0")
    return out


def storage(p: EmulatedPrinter) -> dict[str, Any]:
    if not p.pi:
        usb = {"path": "/usb/", "name": "usb", "type": "USB", "read_only": False}
        # `basic_gets.cpp` `usb_available()`: whether /usb can be opened
        return {"storage_list": [{**usb, "available": p.usb}]}
    total = p.spec.capacity if p.spec.capacity is not None else 64 * 1024**3
    # As PrusaLink 0.8.1 answers: `name` is a label, `path` names the storage in URLs.
    local = {
        "path": "/local",
        "name": p.storage.root.name,
        "type": "LOCAL",
        "read_only": False,
        "available": True,
        "free_space": max(0, total - p.storage.used),
        "total_space": total,
        "print_files": p.storage.used,
        "system_files": 0,
    }
    sd = {
        "path": "/sdcard",
        "name": p.sdcard.root.name,
        "type": "SDCARD",
        "read_only": True,
        "available": True,
        "print_files": 0,
        "system_files": 0,
    }
    return {"storage_list": [local, sd]}


def _progress(p: EmulatedPrinter) -> tuple[int, int]:
    """(progress %, seconds printing) of the current job."""
    if p.job is None or p.question is not None:  # a question before the print: nothing yet
        return 0, 0
    elapsed = int(time.monotonic() - p.job.started)
    if p.state == "FINISHED":
        return 100, elapsed
    return min(99, elapsed * 100 // _PRINT_SECONDS), elapsed


def _printer(p: EmulatedPrinter) -> dict[str, Any]:
    hot = p.state in {"PRINTING", "PAUSED"}
    out: dict[str, Any] = {
        "state": p.state,
        "temp_bed": 60.0 if hot else 24.1,
        "target_bed": 60.0 if hot else 0.0,
        "temp_nozzle": 215.0 if hot else 24.6,
        "target_nozzle": 215.0 if hot else 0.0,
        "axis_z": 1.2 if hot else 0.0,
    }
    if p.pi or p.state not in _MOVING:
        out.update(axis_x=100.0, axis_y=100.0)
    out.update(flow=100, speed=100, fan_hotend=4000 if hot else 0, fan_print=3000 if hot else 0)
    return out


def status(p: EmulatedPrinter) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if p.job is not None and p.has_job:
        progress, elapsed = _progress(p)
        out["job"] = {
            "id": p.job.id,
            "progress": progress,
            "time_remaining": max(0, _PRINT_SECONDS - elapsed),
            "time_printing": elapsed,
        }
    if p.pi:
        total = p.spec.capacity if p.spec.capacity is not None else 64 * 1024**3
        out["storage"] = [
            {
                "path": "/local",
                "read_only": False,
                "free_space": max(0, total - p.storage.used),
                "name": p.storage.root.name,
            },
            {"path": "/sdcard", "read_only": True, "name": p.sdcard.root.name},
        ]
    else:
        out["storage"] = {"path": "/usb/", "name": "usb", "read_only": False}
    if p.transfer is not None:
        t = p.transfer
        out["transfer"] = {
            "id": t.id,
            "time_transferring": int(p.now() - t.started),
            "progress": round(100 * t.transferred / t.size, 1) if t.size else 0,
            "transferred": t.transferred,
        }
    out["printer"] = _printer(p)
    return out


def job(ctx: Ctx) -> web.StreamResponse:
    p = ctx.printer
    if p.job is None or not p.has_job:
        return web.Response(status=204)
    progress, elapsed = _progress(p)
    node = p.job.node
    short = p.storage.path_of(node, short=not p.pi)
    if p.pi:
        # PrusaLink 0.8.1: the whole path, starting with the storage's label
        path = f"/{p.storage.root.name}/{short}"
        file: dict[str, Any] = {"path": path, "display_path": path}
    else:
        # Buddy `get_job_v1`: the folder by its 8.3 short names, refs by the short path
        file = {
            "refs": {
                "icon": f"/thumb/s/usb/{short}",
                "thumbnail": f"/thumb/l/usb/{short}",
                "download": f"/usb/{short}",
            },
            "name": node.short,
            "display_name": node.name,
            "path": f"/usb/{short.rpartition('/')[0]}".rstrip("/"),
        }
    if p.pi:
        file.update(name=node.short, display_name=node.name)
    file.update(size=node.size, m_timestamp=node.m_timestamp)
    # Buddy `get_job_v1`: a print waiting for an answer on the screen is "PAUSED"
    state = "PAUSED" if p.state == "ATTENTION" and not p.pi else p.state
    return ctx.json(
        {
            "id": p.job.id,
            "state": state,
            "progress": progress,
            "time_remaining": max(0, _PRINT_SECONDS - elapsed),
            "time_printing": elapsed,
            "file": file,
        }
    )


def job_command(ctx: Ctx, parts: list[str]) -> web.StreamResponse:
    """DELETE /api/v1/job/{id} (stop), PUT .../pause, .../resume."""
    p = ctx.printer
    method = ctx.request.method
    action = parts[1] if len(parts) > 1 else None
    if not p.pi:
        # prusa_link_api_v1.cpp: a number, the current job's; PUT needs a known command
        if not parts or not parts[0].isdigit():
            raise HttpError(400, "Bad Request")
        if p.job is None or parts[0] != str(p.job.id):
            raise HttpError(404, "Not Found")
        if method not in {"PUT", "DELETE"}:
            raise HttpError(405, "Method Not Allowed")
        if method == "PUT" and action not in {"pause", "resume"}:
            raise HttpError(400, "Bad Request")
        if method == "DELETE":
            action = None  # stop_print, whatever follows the id
    if p.job is None or not parts or parts[0] != str(p.job.id):
        raise HttpError(404, "Not Found")
    if method == "DELETE" and action is None:
        if p.state not in {"PRINTING", "PAUSED", "ATTENTION"}:
            raise HttpError(409, "Conflict")
        if p.question is not None:
            p.screen_back()  # aborting before the print started ends idle
        else:
            p.state = "STOPPED"
    elif method == "PUT" and action == "pause" and p.state == "PRINTING":
        p.state = "PAUSED"
    elif method == "PUT" and action == "resume" and p.state == "PAUSED":
        p.state = "PRINTING"
    else:
        raise HttpError(409, "Conflict")
    return web.Response(status=204)


def transfer(ctx: Ctx) -> web.StreamResponse:
    p = ctx.printer
    t = p.transfer
    if t is None:
        return web.Response(status=204)
    progress = round(100 * t.transferred / t.size, 1) if t.size else 0
    elapsed = int(p.now() - t.started)
    if p.pi:
        return ctx.json(
            {
                "type": "FROM_CLIENT",
                "id": t.id,
                "display_name": t.path.rpartition("/")[2],
                "path": t.path,
                "size": t.size,
                "progress": progress,
                "transferred": t.transferred,
                "time_transferring": elapsed,
                "to_print": False,
            }
        )
    # Buddy `renderStateV1` (transfer_renderer.cpp): no id; `path` is the folder;
    # `size` is written with a string format, so it is text
    rate = t.transferred / elapsed if elapsed and t.transferred else 0
    return ctx.json(
        {
            "type": "FROM_CLIENT",
            "display_name": t.path.rpartition("/")[2],
            "path": _short_folder(p, t.path),
            "size": str(t.size),
            "progress": progress,
            "transferred": t.transferred,
            "time_remaining": int((t.size - t.transferred) / rate) if rate else 0,
            "time_transferring": elapsed,
            "to_print": False,
        }
    )


def _short_folder(p: EmulatedPrinter, path: str) -> str:
    """The folder of `path` by its 8.3 names, as `get_SFN_path` + `dirname` give it."""
    folder = [x for x in path.split("/")[:-1] if x]
    node = p.storage.find(folder) if folder else None
    if node is None:
        return "/usb" + "".join("/" + x for x in folder)
    return "/usb/" + p.storage.path_of(node, short=True)


_STATE_TEXT = {
    "IDLE": "Operational",
    "READY": "Operational",
    "BUSY": "Busy",
    "PRINTING": "Printing",
    "PAUSED": "Paused",
    "FINISHED": "Operational",
    "STOPPED": "Operational",
    "ERROR": "Error",
    "ATTENTION": "Attention",
}


def legacy_printer(p: EmulatedPrinter) -> dict[str, Any]:
    pr = _printer(p)
    s = p.state
    return {
        "telemetry": {
            "temp-bed": pr["temp_bed"],
            "temp-nozzle": pr["temp_nozzle"],
            "print-speed": 100,
            "z-height": pr["axis_z"],
            "material": "PLA",
        },
        "temperature": {
            "tool0": _tool0(p, pr),
            "bed": {"actual": pr["temp_bed"], "target": pr["target_bed"], "offset": 0},
        },
        "state": _buddy_state(p)
        if not p.pi
        else {
            "text": _STATE_TEXT.get(s, s.title()),
            "flags": {
                "operational": s in {"IDLE", "READY", "FINISHED", "STOPPED"},
                "paused": s == "PAUSED",
                "printing": s == "PRINTING",
                "cancelling": False,
                "pausing": False,
                "error": s == "ERROR",
                "sdReady": True,
                "closedOnError": False,
                "ready": s in {"IDLE", "READY", "FINISHED", "STOPPED"},
                "busy": s == "BUSY",
            },
        },
    }


def _tool0(p: EmulatedPrinter, pr: dict[str, Any]) -> dict[str, Any]:
    tool = {"actual": pr["temp_nozzle"], "target": pr["target_nozzle"]}
    if not p.pi:  # Buddy's own extension: the temperature its screen shows
        tool["display"] = pr["target_nozzle"]
    tool["offset"] = 0
    return tool


def _buddy_state(p: EmulatedPrinter) -> dict[str, Any]:
    """Buddy `get_printer()` (basic_gets.cpp): flags from the print state, `link_state`
    only while something runs or asks, "Printing" whenever `printing` is set."""
    s = p.state
    idle = s in {"IDLE", "READY", "FINISHED", "STOPPED", "ERROR"}
    # a question before the print (the preview's) leaves the printer operational
    before_print = s == "ATTENTION" and p.question is not None
    printing = s in {"PRINTING", "PAUSED", "ATTENTION"}
    flags: dict[str, Any] = {}
    if not idle:
        flags["link_state"] = s
    flags.update(
        operational=idle or before_print,
        paused=s == "PAUSED",
        printing=printing,
        cancelling=False,
        pausing=False,
        error=s == "ATTENTION",
        sdReady=False,  # "We don't have an SD card!"
        closedOnError=False,
        ready=idle or before_print,
        busy=s in {"BUSY", "ATTENTION"},
    )
    return {"text": "Printing" if printing else "Operational", "flags": flags}


def legacy_job(p: EmulatedPrinter) -> dict[str, Any]:
    # Pi 0.8.1 shows the selected file until it is deleted; Buddy only a running job
    if p.job is None or not (p.pi or p.has_job):
        return {"state": _STATE_TEXT.get(p.state, p.state), "job": None, "progress": None}
    progress, elapsed = _progress(p)
    node = p.job.node
    if p.pi:
        text = _STATE_TEXT.get(p.state, p.state)
        file = {
            "name": node.short,
            "display": node.name,
            "path": "/" + p.storage.path_of(node),
            "size": node.size,
            "date": node.m_timestamp,
        }
    else:
        # Buddy `get_job_octoprint`: the long name, the whole 8.3 path; a printer asking
        # a question says "Error"
        text = "Error" if p.state == "ATTENTION" else _STATE_TEXT.get(p.state, p.state)
        short = p.storage.path_of(node, short=True)
        file = {"name": node.name, "path": f"/usb/{short}", "display": node.name}
    return {
        "state": text,
        "job": {"estimatedPrintTime": _PRINT_SECONDS, "file": file},
        "progress": {
            "completion": progress / 100,
            "printTime": elapsed,
            "printTimeLeft": max(0, _PRINT_SECONDS - elapsed),
        },
    }
