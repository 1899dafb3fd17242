"""A slow link: `timeout` counts silence, not the time a printer takes to read a body.

Once link-sync has handed an upload's last chunk to the kernel, up to the socket's send
buffer (megabytes) may still be on its way to the printer. At 34 kB/s (Buddy's Wi-Fi
bridge) that outlasts `timeout`: the wait for the answer must keep moving while the
printer still acknowledges the body, and end `timeout` after it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from link_sync.backends import open_backend, send_queue
from link_sync.config import PrinterConfig
from link_sync.emulator import PrinterSpec
from tcp_proxy import TcpProxy

from sync_helpers import Master, SyncRunner

RATE = 34_000  # bytes/s: Buddy's Wi-Fi bridge
TIMEOUT = 3  # s: the printer's `timeout`, far less than the body takes at RATE
#: ~12 s at RATE: all of it fits in the client's send buffer at once (loopback: ~4 MB)
BODY = b"G1 X10.5 Y20.25 E0.0125\n" * (400_000 // 24)


async def test_a_body_that_outlasts_timeout_on_a_slow_link_is_waited_for(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    master.write("big.gcode", BODY)
    farm = await farm_factory([PrinterSpec("mk4", rate=RATE)])
    started = time.monotonic()
    result = await run_sync(farm, printer_extra={"mk4": {"timeout": TIMEOUT}})
    took = time.monotonic() - started
    report = result.printers[0]
    assert report.status == "synced", json.dumps(report.to_json(), default=str)
    assert farm["mk4"].files()["big.gcode"] == BODY
    assert took >= len(BODY) / RATE * 0.9  # the body really went at the printer's rate


async def test_a_printer_that_stops_reading_mid_body_fails_after_timeout(
    farm_factory: Any, master: Master, run_sync: SyncRunner
) -> None:
    master.write("big.gcode", BODY)
    farm = await farm_factory([PrinterSpec("mk4", rate=RATE)])
    proxy = TcpProxy(farm["mk4"].port)
    await proxy.start()
    # Half the body reaches the printer; then nothing is read or answered. The rest
    # fits in the socket buffers, so link-sync has sent "all" of it and waits.
    proxy.stall_upload_at = 0.5
    try:
        started = time.monotonic()
        result = await run_sync(
            farm, printer_extra={"mk4": {"host": proxy.url, "timeout": TIMEOUT}}
        )
        took = time.monotonic() - started
    finally:
        await proxy.stop()
    report = result.printers[0]
    assert proxy.stalls == 1
    assert report.status == "unreachable", report.to_json()
    assert f"no answer in {TIMEOUT} s" in str(report.to_json())
    # half the body at RATE (~6 s), then `timeout` of silence; not a retry more
    assert took < len(BODY) / 2 / RATE + TIMEOUT + 4, took
    assert "big.gcode" not in farm["mk4"].files()


async def test_without_the_send_queue_count_the_answer_wait_starts_when_the_body_is_written(
    farm_factory: Any, master: Master, run_sync: SyncRunner, monkeypatch: Any
) -> None:
    # Where the kernel cannot say (not Linux), uploads work as before the count: a
    # body whose tail the printer reads within `timeout` is waited for.
    monkeypatch.setattr(send_queue, "_OUTQ", None)
    small = BODY[: RATE * 1]  # ~1 s at RATE
    master.write("small.gcode", small)
    farm = await farm_factory([PrinterSpec("mk4", rate=RATE)])
    result = await run_sync(farm, printer_extra={"mk4": {"timeout": TIMEOUT}})
    assert result.printers[0].status == "synced", result.printers[0].to_json()
    assert farm["mk4"].files()["small.gcode"] == small


async def test_an_upload_given_up_mid_body_frees_the_printers_transfer_at_once(
    farm_factory: Any, tmp_path: Path
) -> None:
    # Given up with most of the body still in link-sync's send queue (a stopped watch,
    # a failed wait): closed normally, the socket would still send it all, the printer
    # would read it at RATE (~10 s) before seeing the end, and answer the next upload
    # 409 "Another transfer in progress" meanwhile. The queue is dropped with a reset.
    farm = await farm_factory([PrinterSpec("mk4", rate=RATE)])
    printer = farm["mk4"]
    big = tmp_path / "big.gcode"
    big.write_bytes(BODY)
    small = tmp_path / "small.gcode"
    small.write_bytes(b"G1\n")
    config = PrinterConfig(
        name="mk4", type="prusalink", host=printer.url, password=printer.spec.password
    )
    backend = await open_backend(config)
    try:
        upload = asyncio.create_task(backend.upload("big.gcode", big, len(BODY), overwrite=True))
        while printer.transfer is None or printer.transfer.transferred < RATE // 2:
            await asyncio.sleep(0.05)
        upload.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upload
        given_up = time.monotonic()
        while printer.transfer is not None and time.monotonic() - given_up < 15:
            await asyncio.sleep(0.05)
        held = time.monotonic() - given_up
        assert printer.transfer is None
        assert held < 3.0, held
        await backend.upload("small.gcode", small, 3, overwrite=True)  # not 409
    finally:
        await backend.aclose()
    assert printer.files() == {"small.gcode": b"G1\n"}
