"""The Raspberry-Pi PrusaLink 0.8.1 on 127.0.0.1, with a fake MK3S on a pty."""

from __future__ import annotations

import ctypes.util
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx

from ._base import CACHE_ROOT, RealServer, ServerSetupError, script, wait_for

# Debian packages PrusaLink needs: libcap headers to build python-prctl, and
# libturbojpeg / libmagic at run time. Installed system-wide by .ci/run when root.
DEBS = ("libcap-dev", "libturbojpeg0")
CAP_HEADER = Path("/usr/include/sys/capability.h")


class PrusaLinkServer(RealServer):
    name = "prusalink"
    package = "prusalink"
    version = "0.8.1"
    api_key = "PLTESTKEY123"  # PrusaLink wants at least 7 characters
    username = "maker"
    password = "maker-pass-1"

    def __init__(self, data_dir: Path, *, port: int | None = None, printer: bool = True) -> None:
        super().__init__(data_dir, port=port)
        self.printer = printer  # False: no serial printer (state ERROR, file API works)

    @property
    def storage(self) -> Path:
        """PrusaLink's `local` storage folder."""
        return self.data_dir / "PrusaLink gcodes"

    # -- native dependencies -----------------------------------------------------

    @property
    def _deb_root(self) -> Path:
        return CACHE_ROOT / "debs" / "root"

    def _install_env(self) -> dict[str, str]:
        if CAP_HEADER.exists():
            return {}
        root = self._unpacked_debs()
        return {
            "CPATH": str(root / "usr" / "include"),
            "LIBRARY_PATH": str(root / "usr" / "lib" / "x86_64-linux-gnu"),
        }

    def _unpacked_debs(self) -> Path:
        """Without root or system packages: fetch the .debs and unpack them in the cache."""
        root = self._deb_root
        if (root / "usr" / "include" / "sys" / "capability.h").exists():
            return root
        if shutil.which("apt-get") is None:
            raise ServerSetupError(f"PrusaLink needs {' '.join(DEBS)} (no apt-get here)")
        target = root.parent
        target.mkdir(parents=True, exist_ok=True)
        fetch = subprocess.run(
            ["apt-get", "download", *DEBS], cwd=target, capture_output=True, text=True
        )
        if fetch.returncode != 0:
            raise ServerSetupError(
                f"PrusaLink needs {' '.join(DEBS)}: apt-get install them, or run "
                f"apt-get update so that apt-get download works:\n{fetch.stderr}"
            )
        for deb in target.glob("*.deb"):
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
        return root

    def _run_env(self) -> dict[str, str]:
        if ctypes.util.find_library("turbojpeg"):
            return {}
        libdir = self._unpacked_debs() / "usr" / "lib" / "x86_64-linux-gnu"
        old = os.environ.get("LD_LIBRARY_PATH")
        return {"LD_LIBRARY_PATH": f"{libdir}:{old}" if old else str(libdir)}

    # -- start ---------------------------------------------------------------------

    def _start(self) -> None:
        if not ctypes.util.find_library("magic"):
            raise ServerSetupError("PrusaLink needs libmagic (Debian: apt-get install libmagic1)")
        data = self.data_dir
        self.storage.mkdir(exist_ok=True)
        tty = data / "ttyFAKE"
        (data / "prusalink.ini").write_text(
            f"[daemon]\ndata_dir = {data}\npid_file = {data / 'prusalink.pid'}\n\n"
            f"[http]\naddress = 127.0.0.1\nport = {self.port}\n\n"
            f"[printer]\nport = {tty}\nsettings = {data / 'prusa_printer_settings.ini'}\n"
            f"directory = {self.storage}\n\n"
            "[cameras]\nauto_detect = False\n"
        )
        # Credentials here mean no first-run wizard; the digest is PrusaLink's own format.
        digest = hashlib.md5(f"{self.username}:Administrator:{self.password}".encode())
        (data / "prusa_printer_settings.ini").write_text(
            "[printer]\ntype = MK3S\nname = fake-mk3s\nlocation = loopback\n\n"
            f"[service::local]\nenable = 1\nusername = {self.username}\n"
            f"digest = {digest.hexdigest()}\napi_key = {self.api_key}\n"
        )
        want = "ERROR"
        if self.printer:
            fake = self.spawn(
                "fake-mk3s", [str(self.venv.python), script("fake_mk3s.py"), str(tty)]
            )
            wait_for(lambda: tty.is_symlink() or None, timeout=10, what="the fake MK3S pty")
            if not fake.alive():
                raise ServerSetupError("the fake MK3S died")
            want = "IDLE"
        argv = [str(self.venv.python), script("run_prusalink.py"), "-f", "-i"]
        server = self.spawn(
            "prusalink", [*argv, "-c", str(data / "prusalink.ini")], self._run_env()
        )
        # ~9 s: PrusaLink waits a fixed ~8 s after opening a serial port.
        wait_for(
            lambda: self.printer_state() == want or None,
            timeout=90,
            what=f"PrusaLink to report {want}",
            alive=server.alive,
            interval=0.25,
        )

    # -- helpers for tests, benchmarks and demos --------------------------------

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-Api-Key": self.api_key}, timeout=30)

    def printer_state(self) -> str | None:
        with self.client() as client:
            response = client.get("/api/v1/status")
        if response.status_code != 200:  # 503 for the first seconds
            return None
        return str(response.json()["printer"]["state"])

    def start_printing(self, path: str) -> None:
        """Print `path` (relative to the `local` storage) on the fake MK3S."""
        # After a print, PrusaLink stays FINISHED/STOPPED for ~11 s (for Connect's
        # last photo) and refuses a new print with 409 until it is IDLE again.
        wait_for(
            lambda: self.printer_state() in ("IDLE", "READY") or None,
            timeout=30,
            what="PrusaLink to be ready for a print",
        )
        with self.client() as client:
            response = client.post(f"/api/v1/files/local/{quote(path)}")
        response.raise_for_status()
        wait_for(
            lambda: self.printer_state() == "PRINTING" or None,
            timeout=30,
            what=f"PrusaLink to print {path}",
        )
        # Its job answer lags the state for a moment: until it names the file, a sync
        # (rightly) leaves every file alone, as it cannot tell which one is printed.
        wait_for(
            lambda: self._job_names_a_file() or None,
            timeout=30,
            what=f"PrusaLink's job to name {path}",
        )

    def _job_names_a_file(self) -> bool:
        with self.client() as client:
            job = client.get("/api/v1/job")
        return job.status_code == 200 and isinstance(job.json().get("file"), dict)

    def stop_printing(self) -> None:
        # The stop is asked again while the print goes on: a stop sent while the job
        # answer lags (or while the print is still starting) can be lost.
        def stopped() -> bool | None:
            if self.printer_state() not in ("PRINTING", "PAUSED", None):
                return True
            with self.client() as client:
                job = client.get("/api/v1/job")
                if job.status_code == 200:
                    client.delete(f"/api/v1/job/{job.json()['id']}")
            return None

        wait_for(stopped, timeout=60, interval=2.0, what="PrusaLink to stop the print")
