"""Moonraker 0.11.0 on 127.0.0.1, with a fake Klippy on its socket."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx

from ._base import Child, RealServer, ServerSetupError, script, wait_for

CONFIG = """\
[server]
host: 127.0.0.1
port: {port}
klippy_uds_address: {socket}
# MiB
max_upload_size: 1024

[authorization]
# no trusted_clients: every request needs X-Api-Key
cors_domains:

[announcements]
enable_moonlight: False
subscriptions:

[machine]
provider: none
validate_service: False
validate_config: False

[file_manager]
enable_object_processing: False
"""


class MoonrakerServer(RealServer):
    name = "moonraker"
    package = "moonraker"
    version = "0.11.0"
    api_key = "0123456789abcdef0123456789abcdef"

    @property
    def storage(self) -> Path:
        """Moonraker's `gcodes` root."""
        return self.data_dir / "gcodes"

    @property
    def klippy_socket(self) -> Path:
        return self.data_dir / "comms" / "klippy.sock"

    def _start(self) -> None:
        for sub in ("config", "logs", "gcodes", "comms", "misc", "database", "tmp"):
            (self.data_dir / sub).mkdir(exist_ok=True)
        # Moonraker 0.11.0 receives uploads into $TMPDIR/moonraker.upload-<whole seconds of
        # the monotonic clock>.mru: the same name in every Moonraker on the machine within
        # a second. A private TMPDIR keeps parallel test sessions out of each other's uploads.
        tmp_env = {"TMPDIR": str(self.data_dir / "tmp")}
        # an existing usb.ids stops Moonraker from downloading one at start-up
        (self.data_dir / "misc" / "usb.ids").touch()
        conf = self.data_dir / "config" / "moonraker.conf"
        conf.write_text(CONFIG.format(port=self.port, socket=self.klippy_socket))
        argv = [str(self.venv.bin("moonraker")), "-d", str(self.data_dir), "-c", str(conf)]
        # The first run creates the database with a random API key; pin ours, restart.
        first = self.spawn("moonraker-init", [*argv, "-n"], tmp_env)
        wait_for(self._server_info, timeout=60, what="Moonraker's first start", alive=first.alive)
        first.stop()
        self._pin_api_key()
        self.start_klippy()
        log = ["-l", str(self.data_dir / "logs" / "mr.log")]
        server = self.spawn("moonraker", [*argv, *log], tmp_env)
        wait_for(self._server_info, timeout=60, what="Moonraker's API", alive=server.alive)
        self._wait_print_state("standby")

    def _server_info(self) -> dict[str, object]:
        with self.client() as client:
            response = client.get("/server/info")
        if response.status_code == 401:  # any answer means it runs (first start: other key)
            return {}
        response.raise_for_status()
        return dict(response.json()["result"])

    def _pin_api_key(self) -> None:
        db = sqlite3.connect(self.data_dir / "database" / "moonraker-sql.db")
        try:
            rows = db.execute(
                "UPDATE authorized_users SET password=? WHERE username='_API_KEY_USER_'",
                (self.api_key,),
            ).rowcount
            db.commit()
        finally:
            db.close()
        if rows != 1:
            raise ServerSetupError("Moonraker's database has no API key row to pin")

    # -- helpers for tests, benchmarks and demos --------------------------------

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-Api-Key": self.api_key}, timeout=30)

    def print_state(self) -> str | None:
        """print_stats.state as Moonraker reports it, None while Klippy is away."""
        with self.client() as client:
            response = client.get("/printer/objects/query", params={"print_stats": ""})
        if response.status_code != 200:
            return None
        return str(response.json()["result"]["status"]["print_stats"]["state"])

    def start_klippy(self, printing: str = "") -> Child:
        """(Re)start the fake Klippy; `printing` = gcodes-relative file it reports."""
        self.stop_klippy()
        self._subscribed_marker.unlink(missing_ok=True)
        argv = [str(self.venv.python), script("fake_klippy.py"), str(self.klippy_socket)]
        argv += [str(self.storage), printing]
        return self.spawn("fake-klippy", argv)

    def stop_klippy(self) -> None:
        old = self.children.pop("fake-klippy", None)
        if old is not None:
            old.stop()

    @property
    def _subscribed_marker(self) -> Path:
        return self.klippy_socket.with_name(self.klippy_socket.name + ".subscribed")

    def _wait_print_state(self, state: str) -> None:
        # Moonraker's file-in-use check reads print_stats from its subscription,
        # which follows a reconnect; the fake Klippy marks when that happened.
        wait_for(
            lambda: self._subscribed_marker.exists() or None,
            timeout=30,
            what="Moonraker to subscribe to the fake Klippy",
        )
        wait_for(
            lambda: self.print_state() == state or None,
            timeout=30,
            what=f"Moonraker to report print_stats {state}",
        )
        time.sleep(0.1)  # the subscription's answer is applied just after it is sent

    def start_printing(self, path: str) -> None:
        """Make Moonraker believe Klipper prints `path` (gcodes-relative)."""
        self.start_klippy(path)
        self._wait_print_state("printing")

    def stop_printing(self) -> None:
        self.start_klippy()
        self._wait_print_state("standby")
