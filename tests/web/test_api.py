"""The HTTP API of `watch --http` against a real server on loopback: reads, writes, auth, SSE."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from web_helpers import RecordingControl, ServerFactory

from link_sync.errors import UsageError
from link_sync.watch.state import FarmState, LastSync, Transfer
from link_sync.web.listen import check_exposure, parse_listen

TOKEN = "s3cret-farm-token-0123456789"
WRITES = [
    "/api/sync",
    "/api/printers/mk4-01/sync",
    "/api/printers/mk4-01/pause",
    "/api/printers/mk4-01/resume",
]


def sample_farm() -> FarmState:
    farm = FarmState(
        [("mk4-01", "http://127.0.0.1:9001"), ("xl-02", "http://maker:pw@127.0.0.1:9002")],
        master="/srv/gcodes",
    )
    farm.set_master("/srv/gcodes", files=12, available=True)
    farm.running = True
    farm.update_printer(
        "mk4-01",
        reachable=True,
        model="MK4",
        state="IDLE",
        in_sync=False,
        pending_files=2,
        pending_bytes=2_000,
        transfer=Transfer("parts/clip.gcode", 1_000, bytes=250),
    )
    farm.update_printer(
        "xl-02",
        reachable=True,
        model="XL",
        state="PRINTING",
        job="big.gcode",
        in_sync=True,
        last_sync=LastSync(1_700_000_000.0, "synced", {"uploaded": 1}, 3.0),
    )
    return farm


async def test_printers_lists_every_printer_with_status_and_watch_fields(
    serve: ServerFactory,
) -> None:
    farm = sample_farm()
    base = await serve(farm, RecordingControl(farm))
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{base}/api/printers")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["ok"] is True and body["error"] is None
    assert body["master"] == {"path": "/srv/gcodes", "files": 12, "available": True}
    assert body["totals"]["printers"] == 2 and body["totals"]["pending_files"] == 2
    assert body["writable"] is False  # no token configured
    by_name = {p["name"]: p for p in body["printers"]}
    assert list(by_name) == ["mk4-01", "xl-02"]
    mk4 = by_name["mk4-01"]
    assert mk4["pending"] == {"files": 2, "bytes": 2_000}
    assert mk4["transfer"]["path"] == "parts/clip.gcode"
    assert (mk4["transfer"]["bytes"], mk4["transfer"]["total"]) == (250, 1_000)
    assert mk4["transfer"]["rate"] >= 0
    assert mk4["watching"] is True
    xl = by_name["xl-02"]
    assert xl["state"] == "PRINTING" and xl["job"] == "big.gcode" and xl["in_sync"] is True
    assert xl["last_sync"]["status"] == "synced" and xl["last_sync"]["counts"]["uploaded"] == 1
    assert xl["host"] == "http://127.0.0.1:9002"  # no credentials
    # The wording of a printer's sync state comes from the server (the page shows it).
    assert mk4["summary"] == {"text": "2 files (2.0 kB) pending", "tone": "warn"}
    assert xl["summary"] == {"text": "✓ in sync", "tone": "ok"}


def test_a_watched_printer_has_every_field_of_status_json() -> None:
    # One serializer: each printer of /api/printers starts as a `status --json` printer.
    from link_sync.core.model import SyncStatus
    from link_sync.result import PrinterResult, PrinterStatusReport

    report = PrinterStatusReport.from_plan(
        PrinterResult(name="mk4-01", host="http://127.0.0.1:9001", status=SyncStatus.PLANNED)
    )
    status_printer = report.to_json()
    watched = sample_farm().printers["mk4-01"].to_json()
    assert list(watched)[: len(status_printer)] == list(status_printer)


def test_the_summary_words_each_sync_state() -> None:
    farm = FarmState([("p", "http://127.0.0.1:9001")])
    view = farm.printers["p"]
    assert view.to_json()["summary"] == {"text": "… not known yet", "tone": "unknown"}
    farm.update_printer("p", in_sync=False, reason="busy")
    assert view.to_json()["summary"] == {"text": "✗ out of sync — busy", "tone": "bad"}
    farm.update_printer("p", in_sync=True, reason=None, pending_files=1, pending_bytes=3)
    assert view.to_json()["summary"] == {"text": "1 file (3 B) pending", "tone": "warn"}
    farm.update_printer("p", pending_files=0, watching="paused", in_sync=None)
    assert view.to_json()["summary"] == {"text": "⏸ paused", "tone": "warn"}
    farm.update_printer("p", in_sync=True, watching=True, reason="paused by the master")
    assert view.to_json()["summary"] == {"text": "✓ in sync — paused by the master", "tone": "warn"}


async def test_one_printer_and_an_unknown_one(serve: ServerFactory) -> None:
    farm = sample_farm()
    base = await serve(farm, RecordingControl(farm))
    async with httpx.AsyncClient() as client:
        one = await client.get(f"{base}/api/printers/xl-02")
        missing = await client.get(f"{base}/api/printers/nope")
        no_route = await client.get(f"{base}/api/nothing-here")
    assert one.status_code == 200 and one.json()["printer"]["name"] == "xl-02"
    assert missing.status_code == 404
    assert missing.json() == {"ok": False, "error": "no printer named 'nope'"}
    assert no_route.status_code == 404 and no_route.json()["ok"] is False


@pytest.mark.parametrize("path", WRITES)
async def test_without_a_configured_token_every_write_is_forbidden(
    serve: ServerFactory, path: str
) -> None:
    farm = sample_farm()
    control = RecordingControl(farm)
    base = await serve(farm, control)
    async with httpx.AsyncClient() as client:
        bare = await client.post(f"{base}{path}")
        guessed = await client.post(f"{base}{path}", headers={"Authorization": "Bearer x"})
    for answer in (bare, guessed):
        assert answer.status_code == 403
        assert answer.json()["ok"] is False
    assert control.calls == []


@pytest.mark.parametrize("path", WRITES)
async def test_a_write_without_or_with_a_wrong_token_is_401_and_says_no_more(
    serve: ServerFactory, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    farm = sample_farm()
    control = RecordingControl(farm)
    base = await serve(farm, control, token=TOKEN)
    caplog.set_level(logging.INFO, "link_sync.web")
    async with httpx.AsyncClient() as client:
        answers = [
            await client.post(f"{base}{path}"),
            await client.post(f"{base}{path}", headers={"Authorization": "Bearer wrong"}),
            await client.post(f"{base}{path}", headers={"Authorization": f"Basic {TOKEN}"}),
            await client.post(f"{base}{path}", headers={"Authorization": f"Bearer {TOKEN}x"}),
        ]
    for answer in answers:
        assert answer.status_code == 401
        assert answer.json() == {"ok": False, "error": "unauthorized"}
        assert answer.headers["www-authenticate"] == "Bearer"
    assert control.calls == []
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 4
    assert all(path in r.getMessage() for r in refused)
    assert TOKEN not in caplog.text


async def test_writes_with_the_token_reach_the_watch_and_are_logged(
    serve: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    farm = sample_farm()
    control = RecordingControl(farm)
    base = await serve(farm, control, token=TOKEN)
    caplog.set_level(logging.INFO, "link_sync.web")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(headers=auth) as client:
        answers = [await client.post(f"{base}{path}") for path in WRITES]
        unknown = await client.post(f"{base}/api/printers/nope/sync")
        listed = (await client.get(f"{base}/api/printers")).json()
    assert [a.status_code for a in answers] == [202] * 4
    assert answers[0].json() == {"ok": True, "error": None, "accepted": "sync", "printer": None}
    assert answers[2].json()["accepted"] == "pause"
    assert control.calls == [
        ("sync_all", None),
        ("sync_printer", "mk4-01"),
        ("pause", "mk4-01"),
        ("resume", "mk4-01"),
    ]
    assert unknown.status_code == 404 and unknown.json()["ok"] is False
    assert listed["writable"] is True
    logged = [r.getMessage() for r in caplog.records if "requested" in r.getMessage()]
    assert len(logged) == 4 and "POST /api/printers/mk4-01/pause" in logged[2]
    assert TOKEN not in caplog.text


async def test_read_only_refuses_writes_even_with_the_token(serve: ServerFactory) -> None:
    farm = sample_farm()
    control = RecordingControl(farm)
    base = await serve(farm, control, token=TOKEN, read_only=True)
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{base}/api/sync", headers={"Authorization": f"Bearer {TOKEN}"})
        listed = (await client.get(f"{base}/api/printers")).json()
    assert answer.status_code == 403 and "read-only" in answer.json()["error"]
    assert listed["writable"] is False
    assert control.calls == []


async def test_the_token_appears_in_no_answer(serve: ServerFactory) -> None:
    farm = sample_farm()
    base = await serve(farm, RecordingControl(farm), token=TOKEN)
    async with httpx.AsyncClient() as client:
        bodies = [
            (await client.get(f"{base}{path}")).text
            for path in (
                "/",
                "/static/app.js",
                "/api/printers",
                "/api/printers/mk4-01",
                "/metrics",
                "/healthz",
            )
        ]
    for body in bodies:
        assert TOKEN not in body
        assert "maker:pw" not in body


async def test_healthz_follows_the_watch_and_the_master(serve: ServerFactory) -> None:
    farm = sample_farm()
    base = await serve(farm, RecordingControl(farm))
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{base}/healthz")).status_code == 200
        farm.set_master("/srv/gcodes", files=0, available=False)
        missing = await client.get(f"{base}/healthz")
        assert missing.status_code == 503
        assert "missing" in missing.json()["error"]
        farm.set_master("/srv/gcodes", files=12, available=True)
        assert (await client.get(f"{base}/healthz")).status_code == 200
        farm.running = False
        assert (await client.get(f"{base}/healthz")).status_code == 503


async def test_the_page_and_its_assets_come_from_the_package_with_a_strict_policy(
    serve: ServerFactory,
) -> None:
    farm = sample_farm()
    base = await serve(farm, RecordingControl(farm))
    async with httpx.AsyncClient() as client:
        page = await client.get(f"{base}/")
        script = await client.get(f"{base}/static/app.js")
        style = await client.get(f"{base}/static/style.css")
        other = await client.get(f"{base}/static/..%2Fapp.py")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert script.status_code == 200 and "EventSource" in script.text
    for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in script.text  # names are put in as text only
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert other.status_code == 404


async def read_sse(lines: AsyncIterator[str], want: int, timeout: float) -> list[tuple[str, Any]]:
    """Reads `want` SSE messages from a stream's lines: (event name or 'message', data)."""
    messages: list[tuple[str, Any]] = []
    name = "message"

    async def read() -> None:
        nonlocal name
        async for line in lines:
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                messages.append((name, json.loads(line[6:])))
                name = "message"
                if len(messages) >= want:
                    return

    await asyncio.wait_for(read(), timeout)
    return messages


async def test_events_stream_starts_with_a_snapshot_then_sends_events_and_changes(
    serve: ServerFactory,
) -> None:
    farm = sample_farm()
    base = await serve(farm, RecordingControl(farm))
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", f"{base}/api/events") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        [(kind, snapshot), (then, recent)] = await read_sse(lines, 2, 5)
        assert (kind, then) == ("snapshot", "recent")  # the events kept so far follow
        assert isinstance(recent, list)
        assert [p["name"] for p in snapshot["printers"]] == ["mk4-01", "xl-02"]
        loop = asyncio.get_running_loop()
        changed_at = loop.time()
        farm.update_printer("mk4-01", state="PRINTING", job="a.gcode")
        farm.event("mk4-01", "state", message="now PRINTING")
        messages = await read_sse(lines, 2, 5)
        arrived = loop.time() - changed_at
    kinds = dict(messages)
    assert kinds["message"] == {
        "time": kinds["message"]["time"],
        "printer": "mk4-01",
        "event": "state",
        "path": None,
        "bytes": None,
        "error": None,
        "message": "now PRINTING",
    }
    update = kinds["printers"]
    assert [p["name"] for p in update["printers"]] == ["mk4-01"]  # only what changed
    assert update["printers"][0]["state"] == "PRINTING"
    assert update["totals"]["printing"] == 2
    assert arrived < 1.0


def test_listen_addresses_are_parsed_and_exposure_needs_a_token_or_read_only() -> None:
    assert parse_listen("127.0.0.1:8470") == ("127.0.0.1", 8470)
    assert parse_listen("[::1]:8470") == ("::1", 8470)
    assert parse_listen("8470") == ("127.0.0.1", 8470)
    assert parse_listen(":8470") == ("0.0.0.0", 8470)
    for bad in ("localhost", "1.2.3.4:http", "1.2.3.4:70000", "::1:80"):
        with pytest.raises(UsageError):
            parse_listen(bad)
    check_exposure("127.0.0.1", None, False)
    check_exposure("::1", None, False)
    check_exposure("localhost", None, False)
    for host in ("0.0.0.0", "192.168.1.5", "farm.example", "::"):
        with pytest.raises(UsageError, match=r"http\.token"):
            check_exposure(host, None, False)
        check_exposure(host, TOKEN, False)
        check_exposure(host, None, True)


async def test_a_non_loopback_listen_without_token_never_binds(serve: ServerFactory) -> None:
    farm = sample_farm()
    with pytest.raises(UsageError, match="not loopback"):
        await serve(farm, RecordingControl(farm), listen="0.0.0.0:0")


async def test_on_loopback_only_loopback_host_names_are_answered(serve: ServerFactory) -> None:
    farm = sample_farm()
    base = await serve(farm, RecordingControl(farm))
    port = base.rsplit(":", 1)[1]
    async with httpx.AsyncClient() as client:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
            answer = await client.get(f"{base}/api/printers", headers={"Host": host})
            assert answer.status_code == 200, host
        for host in (f"evil.example:{port}", "127.0.0.1:1", "evil.example"):
            answer = await client.get(f"{base}/api/printers", headers={"Host": host})
            assert answer.status_code == 421, host
            assert answer.json() == {"ok": False, "error": "unexpected Host header"}
            assert "mk4-01" not in answer.text


async def test_clients_joining_at_different_times_each_see_the_whole_farm(
    serve: ServerFactory,
) -> None:
    farm = sample_farm()
    base = await serve(farm, RecordingControl(farm))

    async def follow(lines: AsyncIterator[str], views: dict[str, Any], until: str) -> None:
        """Applies snapshot and updates to `views` until printer xl-02 has job `until`."""
        while views.get("xl-02", {}).get("job") != until:
            for kind, data in await read_sse(lines, 1, 5):
                if kind == "snapshot":
                    views.clear()
                if kind in ("snapshot", "printers"):
                    views.update({p["name"]: p for p in data["printers"]})

    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", f"{base}/api/events") as early,
    ):
        early_lines, early_views = early.aiter_lines(), {}
        await follow(early_lines, early_views, "big.gcode")
        farm.update_printer("mk4-01", state="PAUSED")
        farm.update_printer("xl-02", job="second.gcode")
        await follow(early_lines, early_views, "second.gcode")
        async with client.stream("GET", f"{base}/api/events") as late:
            late_lines, late_views = late.aiter_lines(), {}
            await follow(late_lines, late_views, "second.gcode")
            farm.update_printer("mk4-01", state="IDLE", pending_files=0)
            farm.update_printer("xl-02", job="third.gcode")
            await follow(early_lines, early_views, "third.gcode")
            await follow(late_lines, late_views, "third.gcode")
    for views in (early_views, late_views):
        assert views["mk4-01"]["state"] == "IDLE"
        assert views["mk4-01"]["pending"]["files"] == 0
        assert views["xl-02"]["job"] == "third.gcode"
