"""Shared machinery: cached virtualenvs, child processes, waiting, log tails."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Self, TypeVar

CACHE_ROOT = Path(
    os.environ.get("LINK_SYNC_SERVER_CACHE", Path.home() / ".cache" / "link-sync-tests")
)
#: The servers pin libraries (PrusaLink: pydantic 1.10) that have no wheels past 3.11.
PYTHON = os.environ.get("LINK_SYNC_SERVER_PYTHON", "python3.11")
SCRIPTS = Path(__file__).resolve().parent

T = TypeVar("T")


class ServerSetupError(RuntimeError):
    """Installing or starting a server failed; the message ends with its log tail."""


def free_port() -> int:
    """A port the kernel just called free on 127.0.0.1 (no fixed numbers: several
    test runs may share one machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} not readable)"
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _install_lock(target: Path) -> Iterator[None]:
    """One installer per cached venv, even across concurrent test runs."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class CachedVenv:
    """A virtualenv under CACHE_ROOT/<name>-<version>, reused while it still works."""

    def __init__(self, name: str, package: str, version: str) -> None:
        self.package = package
        self.version = version
        self.path = CACHE_ROOT / f"{name}-{version}"
        self.log = CACHE_ROOT / f"{name}-{version}.install.log"

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    def works(self) -> bool:
        probe = f"import importlib.metadata as m; print(m.version({self.package!r}))"
        try:
            out = subprocess.run(
                [str(self.python), "-c", probe], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out.returncode == 0 and out.stdout.strip() == self.version

    def ensure(self, env: dict[str, str] | None = None) -> float:
        """Install if missing or broken; returns the seconds spent (0 when cached)."""
        with _install_lock(self.path):
            if self.works():
                return 0.0
            started = time.monotonic()
            shutil.rmtree(self.path, ignore_errors=True)
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("w") as log:
                steps: list[Sequence[str]] = [
                    [PYTHON, "-m", "venv", str(self.path)],
                    [str(self.python), "-m", "pip", "install", f"{self.package}=={self.version}"],
                ]
                for step in steps:
                    log.write(f"$ {' '.join(step)}\n")
                    log.flush()
                    result = subprocess.run(
                        step,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, **(env or {})},
                        timeout=900,
                    )
                    if result.returncode != 0:
                        shutil.rmtree(self.path, ignore_errors=True)
                        raise ServerSetupError(
                            f"installing {self.package}=={self.version} failed "
                            f"(exit {result.returncode}); {self.log}:\n{tail(self.log)}"
                        )
            if not self.works():
                raise ServerSetupError(f"{self.package} installed but not importable")
            return time.monotonic() - started


class Child:
    """A process started in its own session, stopped by its PID (and its group)."""

    def __init__(
        self, argv: Sequence[str], log: Path, *, cwd: Path, env: dict[str, str] | None = None
    ) -> None:
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # its own group: children are stopped with it
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait(5)
        # Anything the server left behind in its group (e.g. OctoPrint's helpers).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


def wait_for(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.2,
) -> T:
    """Poll `check` until it returns a value that is not None; raise ServerSetupError."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception as exc:  # a server starting up fails in many ways
            last_error = exc
            value = None
        if value is not None:
            return value
        if alive is not None and not alive():
            raise ServerSetupError(f"the server died while waiting for {what}")
        time.sleep(interval)
    raise ServerSetupError(f"timeout ({timeout:.0f} s) waiting for {what} (last: {last_error!r})")


def script(name: str) -> str:
    return str(SCRIPTS / name)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class RealServer:
    """Base of the three servers: a cached venv, a data dir, child processes.

    Use as a context manager, or call `install()`, `start()` and `stop()`.
    """

    name = ""
    package = ""
    version = ""

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.venv = CachedVenv(self.name, self.package, self.version)
        self.children: dict[str, Child] = {}
        self.timings: dict[str, float] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_files(self) -> list[Path]:
        return [child.log for child in self.children.values()]

    def log_tail(self, lines: int = 40) -> str:
        parts = [f"--- {log} ---\n{tail(log, lines)}" for log in self.log_files]
        return "\n".join(parts) or "(no logs yet)"

    def install(self) -> None:
        self.timings["install"] = self.venv.ensure(self._install_env())

    def _install_env(self) -> dict[str, str]:
        return {}

    def start(self) -> None:
        started = time.monotonic()
        try:
            self._start()
        except ServerSetupError as exc:
            self.stop()
            raise ServerSetupError(f"{self.name}: {exc}\n{self.log_tail()}") from exc
        self.timings["start"] = time.monotonic() - started

    def _start(self) -> None:
        raise NotImplementedError

    def spawn(self, key: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        child = Child(argv, self.data_dir / f"{key}.log", cwd=self.data_dir, env=env)
        self.children[key] = child
        return child

    def stop(self) -> None:
        for key in reversed(list(self.children)):
            self.children[key].stop()

    def __enter__(self) -> Self:
        self.install()
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
