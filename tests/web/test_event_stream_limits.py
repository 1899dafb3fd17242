"""Event streams are capped, and clients that leave cost nothing (issue 29, faults 11, 18).

Each open `/api/events` stream holds a file descriptor; without a cap, clients could
take every descriptor the watch has, and its master scan would fail (EMFILE). Past the
cap a client is answered 503 (the rest of the API still answers); a client that leaves,
even before its headers are sent, frees its slot and puts nothing on the watch's stderr.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import httpx
from watch_process import FarmInThread, WatchServer
from web_helpers import RecordingControl, ServerFactory

from link_sync.emulator import PrinterSpec
from link_sync.watch.state import FarmState
from link_sync.web.events import MAX_STREAMS

from sync_helpers import Master


async def test_streams_past_the_cap_are_answered_503_and_a_leaving_client_frees_its_slot(
    serve: ServerFactory,
) -> None:
    farm = FarmState([("mk4-01", "http://127.0.0.1:9")])
    base = await serve(farm, RecordingControl(farm), max_streams=3)
    async with aiohttp.ClientSession() as session:
        streams = [await session.get(f"{base}/api/events") for _ in range(3)]
        for stream in streams:
            assert stream.status == 200
            assert (await stream.content.readline()).startswith(b"retry:")

        refused = await session.get(f"{base}/api/events")
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "5"
        body = await refused.json()
        assert body["ok"] is False and "too many event streams" in body["error"]
        async with session.get(f"{base}/api/printers") as other:  # the rest still answers
            assert other.status == 200

        streams[0].close()  # this client leaves; the farm stays quiet
        deadline = time.monotonic() + 10
        while True:
            await asyncio.sleep(0.3)
            again = await session.get(f"{base}/api/events")
            if again.status == 200:
                break
            again.release()
            assert time.monotonic() < deadline, "the slot of the client that left was not freed"
        again.close()
        for stream in streams[1:]:
            stream.close()


def _request(host: str, port: int) -> bytes:
    return f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(_request("127.0.0.1", port))
    return sock


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset: the server's next write fails at once."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_a_running_watch_caps_streams_and_clients_leaving_early_leave_no_traceback(
    tmp_path: Path, master: Master
) -> None:
    master.write("a.gcode", b"G28\n", mtime=time.time() - 60)
    with FarmInThread([PrinterSpec("mk4-01")]) as farm:
        watch = WatchServer(farm, master.root, tmp_path)
        held: list[socket.socket] = []
        try:
            port = urlsplit(watch.url).port
            assert port is not None
            watch.wait_event(event="synced", printer="mk4-01")
            # Clients that leave before their headers are sent, or right after.
            for round_ in range(40):
                early = [_connect(port) for _ in range(5)]
                for sock in early:
                    _reset(sock)
                if round_ % 4 == 0:
                    late = _connect(port)
                    assert _head(late).startswith(b"HTTP/1.1 200")
                    _reset(late)
            # Their slots are freed within seconds: then the default cap, MAX_STREAMS
            # streams, is served at once, and the next is refused.
            deadline = time.monotonic() + 15
            while True:
                held = [_connect(port) for _ in range(MAX_STREAMS)]
                if all(_head(sock).startswith(b"HTTP/1.1 200") for sock in held):
                    break
                for sock in held:
                    _reset(sock)
                assert time.monotonic() < deadline, "streams of clients that left hold slots"
                time.sleep(0.5)
            extra = _connect(port)
            head = _head(extra)
            extra.close()
            assert head.startswith(b"HTTP/1.1 503"), head[:200]
            assert httpx.get(f"{watch.url}/api/printers", timeout=10).json()["ok"] is True
        finally:
            for sock in held:
                _reset(sock)
            code = watch.stop()
        assert code == 0
        stderr = "".join(watch.stderr)
        assert "Traceback" not in stderr, stderr[-3000:]
        assert "Error handling request" not in stderr, stderr[-3000:]
