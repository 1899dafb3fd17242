"""pytest plugin: the real servers as session fixtures, shared by every test folder
(tests/real_servers/ and tests/conformance/ use the same instances).

A server that fails to install or start FAILS the tests using it, with its log
tail: these tests prove link-sync against the real thing, so they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest

from .servers import (
    OCTOPRINT_NEXT_VERSION,
    MoonrakerServer,
    OctoPrintServer,
    PrusaLinkServer,
    RealServer,
)
from .servers._base import ServerSetupError

#: First installs take about a minute each; the per-test default is too tight for them.
SETUP_TIMEOUT = 900

S = TypeVar("S", bound=RealServer)

_timings: dict[str, dict[str, float]] = {}


def _run(server: S) -> Iterator[S]:
    try:
        server.install()
        server.start()
    except ServerSetupError as exc:
        server.stop()
        pytest.fail(f"{server.name} {server.version} could not be set up:\n{exc}", pytrace=False)
    _timings[f"{server.name} {server.version}"] = server.timings
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def octoprint_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OctoPrintServer]:
    server = OctoPrintServer(tmp_path_factory.mktemp("octoprint"))
    yield from _run(server)


@pytest.fixture(scope="session")
def octoprint_next_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OctoPrintServer]:
    """The next OctoPrint (2.0.0rc7), beside the current one."""
    server = OctoPrintServer(
        tmp_path_factory.mktemp("octoprint-next"), version=OCTOPRINT_NEXT_VERSION
    )
    yield from _run(server)


@pytest.fixture(scope="session")
def moonraker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoonrakerServer]:
    server = MoonrakerServer(tmp_path_factory.mktemp("moonraker"))
    yield from _run(server)


@pytest.fixture(scope="session")
def prusalink_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrusaLinkServer]:
    server = PrusaLinkServer(tmp_path_factory.mktemp("prusalink"))
    yield from _run(server)


def mark_real_server(item: pytest.Item) -> None:
    """Mark a test that uses a real server, with room for a first install."""
    item.add_marker(pytest.mark.real_server)
    if item.get_closest_marker("timeout") is None:
        item.add_marker(pytest.mark.timeout(SETUP_TIMEOUT))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, timings in sorted(_timings.items()):
        parts = ", ".join(f"{key} {value:.1f} s" for key, value in timings.items())
        terminalreporter.write_line(f"real server {name}: {parts}")
