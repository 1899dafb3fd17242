"""The live farm state (watch/state.py): views, change tracking, events, and the engine feed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import link_sync
from link_sync.emulator.spec import PrinterSpec
from link_sync.emulator.testing import FarmFactory
from link_sync.watch.events import WatchEvent
from link_sync.watch.observer import FarmObserver
from link_sync.watch.state import PROGRESS_EVERY, FarmState, Transfer, public_host

from sync_helpers import FAST_RETRY, Master

CONTRACT_KEYS = {"time", "printer", "event", "path", "bytes", "error"}


def farm_of(*names: str) -> FarmState:
    return FarmState([(n, f"http://127.0.0.1:{8000 + i}") for i, n in enumerate(names)])


def test_changed_since_returns_only_printers_changed_after_a_version() -> None:
    farm = farm_of("a", "b", "c")
    seen = farm.version
    farm.update_printer("b", state="PRINTING")
    farm.update_printer("a", pending_files=2, pending_bytes=10)
    changed, removed = farm.changed_since(seen)
    assert [v.name for v in changed] == ["b", "a"]  # oldest change first
    assert removed == []
    seen = farm.version
    farm.update_printer("b", state="IDLE")
    farm.remove_printer("c")
    changed, removed = farm.changed_since(seen)
    assert [(v.name, v.state) for v in changed] == [("b", "IDLE")]
    assert removed == ["c"]
    assert farm.changed_since(farm.version) == ([], [])


def test_update_printer_refuses_unknown_fields_and_printers() -> None:
    farm = farm_of("a")
    with pytest.raises(TypeError, match="colour"):
        farm.update_printer("a", colour="red")
    with pytest.raises(TypeError):
        farm.update_printer("a", version=99)
    with pytest.raises(KeyError):
        farm.update_printer("nope", state="IDLE")


def test_view_json_has_the_status_fields_and_the_watch_fields() -> None:
    farm = farm_of("mk4-01")
    farm.update_printer(
        "mk4-01",
        state="IDLE",
        pending_files=3,
        pending_bytes=300,
        transfer=Transfer("a.gcode", 100),
    )
    data = farm.printers["mk4-01"].to_json()
    for key in ("name", "host", "reachable", "model", "state", "job", "managed_files", "in_sync"):
        assert key in data
    assert data["pending"] == {"files": 3, "bytes": 300}
    assert data["transfer"]["path"] == "a.gcode" and data["transfer"]["total"] == 100
    assert data["watching"] is True
    farm.update_printer("mk4-01", watching="paused")
    assert farm.printers["mk4-01"].to_json()["watching"] == "paused"
    json.dumps(farm.to_json())  # the whole farm serialises


def test_hosts_are_shown_without_credentials() -> None:
    assert public_host("http://maker:s3cret@10.0.0.5:8080") == "http://10.0.0.5:8080"
    assert public_host("maker:s3cret@10.0.0.5") == "10.0.0.5"
    assert public_host("https://10.0.0.5") == "https://10.0.0.5"
    farm = FarmState([("a", "http://u:topsecret@printer.lan")])
    farm.update_printer("a", host="http://u:topsecret@printer.lan:81")
    assert "topsecret" not in json.dumps(farm.to_json())


def test_events_keep_the_contract_keys() -> None:
    event = WatchEvent(1.0, "a", "uploaded", "x.gcode", 5, None, seconds=0.25)
    data = event.to_json()
    assert data.keys() >= CONTRACT_KEYS
    assert data["seconds"] == 0.25
    assert set(WatchEvent(1.0, None, "started").to_json()) == CONTRACT_KEYS


def test_a_subscriber_sees_events_after_it_subscribed_and_counts_what_it_lost() -> None:
    farm = FarmState([("a", "h")], ring_size=5)
    farm.event("a", "state", message="now IDLE")
    sub = farm.subscribe()
    assert sub.take() == []
    farm.event("a", "state", message="now PRINTING")
    assert [e.message for e in sub.take()] == ["now PRINTING"]
    for i in range(8):
        farm.event("a", "progress", bytes=i)
    events = sub.take()
    assert [e.bytes for e in events] == [3, 4, 5, 6, 7]
    assert sub.lost == 3


def test_listeners_get_every_event() -> None:
    farm = farm_of("a")
    got: list[str] = []
    farm.listen(lambda e: got.append(e.event))
    farm.event("a", "sync_started")
    farm.event("a", "synced")
    assert got == ["sync_started", "synced"]


async def test_waiting_subscribers_wake_on_publish_and_time_out_without() -> None:
    farm = farm_of("a")
    first, second = farm.subscribe(), farm.subscribe()
    assert await first.next(timeout=0.05) == []

    async def later() -> None:
        await asyncio.sleep(0.05)
        farm.event("a", "state", message="now PRINTING")

    task = asyncio.create_task(later())
    a, b = await asyncio.gather(first.next(timeout=5), second.next(timeout=5))
    await task
    assert [e.event for e in a] == [e.event for e in b] == ["state"]


async def test_wait_changed_wakes_on_a_view_change() -> None:
    farm = farm_of("a")
    seen = farm.version
    asyncio.get_running_loop().call_later(0.05, lambda: farm.update_printer("a", state="BUSY"))
    assert await farm.wait_changed(seen, timeout=5)
    assert farm.changed_since(seen)[0][0].state == "BUSY"


def test_progress_moves_the_view_on_every_chunk_and_publishes_once_a_second() -> None:
    now = [100.0]
    farm = FarmState([("a", "h")], monotonic=lambda: now[0])
    farm.update_printer("a", transfer=Transfer("big.gcode", 1000))
    sub = farm.subscribe()
    for _ in range(10):
        farm.add_progress("a", 10)
    assert farm.printers["a"].transfer is not None
    assert farm.printers["a"].transfer.bytes == 100
    assert [(e.event, e.bytes) for e in sub.take()] == [("progress", 10)]
    now[0] += PROGRESS_EVERY
    farm.add_progress("a", 10)
    assert [(e.event, e.bytes) for e in sub.take()] == [("progress", 110)]


def test_totals_add_up() -> None:
    farm = farm_of("a", "b", "c")
    farm.update_printer("a", in_sync=True, state="IDLE", reachable=True)
    farm.update_printer("b", in_sync=False, pending_files=2, pending_bytes=50, state="PRINTING")
    farm.update_printer("c", reachable=False, watching="paused")
    totals = farm.totals()
    assert totals["printers"] == 3
    assert totals["in_sync"] == 1 and totals["out_of_sync"] == 1 and totals["unknown"] == 1
    assert totals["pending_files"] == 2 and totals["pending_bytes"] == 50
    assert totals["printing"] == 1 and totals["unreachable"] == 1 and totals["paused"] == 1


async def test_the_engine_feeds_the_state_through_its_observer(
    farm_factory: FarmFactory, master: Master, tmp_path: Path, state_env: dict[str, str]
) -> None:
    emulated = await farm_factory(
        [
            PrinterSpec("mk4-01", rate=4_000_000),
            PrinterSpec(
                "xl-02",
                profile="xl",
                files={"job.gcode": 10},
                job_file="job.gcode",
                state="PRINTING",
            ),
        ]
    )
    master.write("a.gcode", b"G1\n" * 4_000_000)
    master.write("b/c.gcode", b"G28\n")
    farm = FarmState([(p.name, p.url) for p in emulated], master=str(master.root))
    sub = farm.subscribe()
    moving: list[int] = []

    async def watch_progress() -> None:
        while True:
            transfer = farm.printers["mk4-01"].transfer
            if transfer is not None and transfer.bytes and transfer.bytes not in moving:
                moving.append(transfer.bytes)
            await asyncio.sleep(0.02)

    # 12 MB at 4 MB/s: bigger than what loopback socket buffers swallow at once (~3 MB)
    poller = asyncio.create_task(watch_progress())
    result = await link_sync.sync_async(
        link_sync.Config(**emulated.config(source=master.root)),
        observer=FarmObserver(farm),
        retry=FAST_RETRY,
        state_dir=state_env["LINK_SYNC_STATE_DIR"],
    )
    poller.cancel()
    assert {p.name: p.status for p in result.printers} == {"mk4-01": "synced", "xl-02": "busy"}

    mk4 = farm.printers["mk4-01"]
    assert mk4.in_sync is True and mk4.reachable is True and mk4.reason is None
    assert (mk4.pending_files, mk4.pending_bytes, mk4.transfer) == (0, 0, None)
    assert mk4.last_sync is not None and mk4.last_sync.status == "synced"
    assert mk4.last_sync.counts["uploaded"] == 2
    assert mk4.last_sync.counts["bytes"] == 12_000_000 + 4
    assert mk4.model and mk4.state == "IDLE"
    assert len(moving) >= 2, "the transfer's progress was seen moving"

    xl = farm.printers["xl-02"]
    assert xl.state == "PRINTING" and xl.reason == "busy (PRINTING)" and xl.job

    events = [(e.printer, e.event, e.path) for e in sub.take()]
    mine = [(ev, path) for who, ev, path in events if who == "mk4-01"]
    assert mine[0] == ("sync_started", None)
    assert ("pending", None) in mine
    assert ("upload_started", "a.gcode") in mine and ("uploaded", "a.gcode") in mine
    assert ("uploaded", "b/c.gcode") in mine
    assert ("progress", "a.gcode") in mine
    assert mine[-1] == ("synced", None)
    assert ("xl-02", "busy", None) in events


def test_a_view_is_serialised_once_per_change() -> None:
    farm = farm_of("a", "b")
    first = farm.view_json(farm.printers["a"])
    assert farm.view_json(farm.printers["a"]) is first  # unchanged: the same object
    farm.update_printer("a", state="PRINTING")
    again = farm.view_json(farm.printers["a"])
    assert again is not first and again["state"] == "PRINTING"
    assert [p["state"] for p in farm.to_json()["printers"]] == ["PRINTING", None]


def test_a_printer_that_takes_files_while_printing_says_so_in_the_api_and_the_table() -> None:
    from link_sync.watch.output import cells

    farm = farm_of("octo", "mk4")
    farm.update_printer("octo", reachable=True, state="PRINTING", while_printing="upload")
    farm.update_printer("mk4", reachable=True, state="PRINTING", while_printing="wait")
    printers = {p["name"]: p for p in farm.to_json()["printers"]}
    assert printers["octo"]["while_printing"] == "upload"
    assert printers["mk4"]["while_printing"] == "wait"
    assert str(cells(farm.printers["octo"])[1]) == "PRINTING (takes files)"
    assert str(cells(farm.printers["mk4"])[1]) == "PRINTING"
