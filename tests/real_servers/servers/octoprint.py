"""OctoPrint with its virtual printer, headless, on 127.0.0.1: 1.11.8, and the next
release, 2.0.0rc7 (its API versioning, bearer tokens and renames), side by side."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx
import yaml

from ._base import RealServer, ServerSetupError, is_root, wait_for

#: The OctoPrint versions link-sync is proven against (the one place they are pinned):
#: the current release and the next one.
OCTOPRINT_VERSION = "1.11.8"
OCTOPRINT_NEXT_VERSION = "2.0.0rc7"

CONFIG = """\
server:
  host: 127.0.0.1
  port: {port}
  firstRun: false
  onlineCheck: {{enabled: false}}
  pluginBlacklist: {{enabled: false}}
  pythonEolCheck: {{enabled: false}}
  seenWizards: {{corewizard: 4, backup: null, tracking: null}}
serial:
  port: VIRTUAL
  baudrate: 115200
  autoconnect: true
plugins:
  # plugins that phone home or multicast (discovery: SSDP/zeroconf) on a closed network
  _disabled: [announcements, tracking, softwareupdate, pluginmanager, discovery,
              errortracking, health_check]
  virtual_printer:
    enabled: true
"""


class OctoPrintServer(RealServer):
    name = "octoprint"
    package = "octoprint"
    version = OCTOPRINT_VERSION
    api_key = "LINKSYNCTESTKEY0123456789ABCDEF0"
    username = "admin"
    password = "admin-pass"

    def __init__(
        self, data_dir: Path, *, port: int | None = None, version: str = OCTOPRINT_VERSION
    ) -> None:
        self.version = version  # before the base class picks the cached venv
        super().__init__(data_dir, port=port)

    @property
    def basedir(self) -> Path:
        return self.data_dir / "base"

    @property
    def storage(self) -> Path:
        """Where OctoPrint keeps uploaded files ("local" storage)."""
        return self.basedir / "uploads"

    def _start(self) -> None:
        self.basedir.mkdir(parents=True, exist_ok=True)
        (self.basedir / "config.yaml").write_text(CONFIG.format(port=self.port))
        shutil.copy(self._users_template(), self.basedir / "users.yaml")
        argv = [str(self.venv.bin("octoprint")), "--basedir", str(self.basedir), "serve"]
        argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        if is_root():
            argv.append("--iknowwhatimdoing")  # it refuses to run as root otherwise
        server = self.spawn("octoprint", argv)
        wait_for(
            lambda: self._get("/api/version").json()["server"],
            timeout=120,
            what="OctoPrint's API",
            alive=server.alive,
        )
        wait_for(
            lambda: self._job_state() == "Operational" or None,
            timeout=60,
            what="the virtual printer to connect",
            alive=server.alive,
        )

    def _users_template(self) -> Path:
        """users.yaml with the admin user and our API key, made once per install
        (the CLI takes seconds to start; hashing the password is its business)."""
        template = self.venv.path / "link-sync-users.yaml"
        if template.exists():
            return template
        scratch = self.data_dir / "users-scratch"
        cmd = [str(self.venv.bin("octoprint")), "--basedir", str(scratch), "user", "add"]
        cmd += [self.username, "--password", self.password, "--admin"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise ServerSetupError(f"octoprint user add failed:\n{result.stdout}{result.stderr}")
        users = yaml.safe_load((scratch / "users.yaml").read_text())
        users[self.username]["apikey"] = self.api_key
        partial = template.with_suffix(".tmp")
        partial.write_text(yaml.safe_dump(users))
        partial.replace(template)
        shutil.rmtree(scratch, ignore_errors=True)
        return template

    # -- helpers for tests, benchmarks and demos --------------------------------

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-Api-Key": self.api_key}, timeout=30)

    def _get(self, path: str) -> httpx.Response:
        with self.client() as client:
            response = client.get(path)
        response.raise_for_status()
        return response

    def _job_state(self) -> str:
        return str(self._get("/api/job").json()["state"])

    def start_printing(self, path: str) -> None:
        """Select and print `path` (already uploaded) on the virtual printer.

        The file should last long enough for the test: see `slow_gcode()`.
        """
        with self.client() as client:
            response = client.post(
                f"/api/files/local/{quote(path)}", json={"command": "select", "print": True}
            )
        response.raise_for_status()
        wait_for(
            lambda: self._job_state().startswith("Printing") or None,
            timeout=30,
            what=f"OctoPrint to print {path}",
        )

    def stop_printing(self) -> None:
        """Cancel the current print and wait until the printer is Operational again."""
        with self.client() as client:
            response = client.post("/api/job", json={"command": "cancel"})
        if response.status_code != 409:  # 409: nothing is printing
            response.raise_for_status()
        wait_for(
            lambda: self._job_state() == "Operational" or None,
            timeout=60,
            what="OctoPrint to cancel the print",
        )


def slow_gcode(seconds: float) -> bytes:
    """G-code that keeps a virtual printer (OctoPrint's or our fake MK3S) busy for
    about `seconds`, in short dwells so that a cancel takes effect quickly."""
    lines = max(1, int(seconds / 0.2))
    return b"; link-sync test print\nG28\n" + b"G4 P200\n" * lines
