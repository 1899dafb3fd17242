"""Fixtures of the conformance suite: every test runs once per target.

The emulated printers are started per test (milliseconds); the real servers are
the session's shared instances (tests/real_servers/fixtures.py), so each test
works in a folder of its own (`folder`).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from link_sync.backends.base import Backend
from link_sync.emulator import PrinterSpec
from link_sync.emulator.testing import FarmFactory

from .known_bugs import known_bug
from .targets import (
    BUDDY,
    PI,
    EmulatedTarget,
    RealMoonraker,
    RealOctoPrint,
    RealPrusaLink,
    Target,
)
from real_servers.fixtures import mark_real_server
from real_servers.servers import OCTOPRINT_NEXT_VERSION, OCTOPRINT_VERSION

OCTOPRINT = f"octoprint-{OCTOPRINT_VERSION}"
OCTOPRINT_NEXT = f"octoprint-{OCTOPRINT_NEXT_VERSION}"
TARGETS = ["buddy-emu", "pi-emu", "prusalink-0.8.1", OCTOPRINT, OCTOPRINT_NEXT, "moonraker-0.11.0"]
REAL = {"prusalink-0.8.1", OCTOPRINT, OCTOPRINT_NEXT, "moonraker-0.11.0"}

_folders = itertools.count(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if "conformance" not in item.path.parts or callspec is None:
            continue
        if callspec.params.get("target") in REAL:
            mark_real_server(item)
        bug = known_bug(getattr(item, "originalname", item.name), callspec.params)
        if bug is not None:
            item.add_marker(pytest.mark.xfail(reason=bug.reason, strict=bug.strict))


@pytest.fixture(params=TARGETS)
async def target(request: pytest.FixtureRequest, farm_factory: FarmFactory) -> Target:
    which = request.param
    if which == "buddy-emu":
        farm = await farm_factory([PrinterSpec("buddy", profile="mk4", capacity=1 << 30)])
        return EmulatedTarget(which, farm["buddy"], BUDDY)
    if which == "pi-emu":
        farm = await farm_factory(
            [PrinterSpec("pi", profile="mk3", api_key="PiEmuKey123", capacity=1 << 30)]
        )
        return EmulatedTarget(which, farm["pi"], PI)
    if which == "prusalink-0.8.1":
        return RealPrusaLink(request.getfixturevalue("prusalink_server"))
    if which == OCTOPRINT:
        return RealOctoPrint(request.getfixturevalue("octoprint_server"))
    if which == OCTOPRINT_NEXT:
        return RealOctoPrint(request.getfixturevalue("octoprint_next_server"))
    return RealMoonraker(request.getfixturevalue("moonraker_server"))


@pytest.fixture
async def backend(target: Target) -> AsyncIterator[Backend]:
    """A probed backend with the target's default credentials."""
    made = target.backend()
    try:
        await made.probe()
        yield made
    finally:
        await made.aclose()


@pytest.fixture
def folder() -> str:
    """A storage folder no other test uses (short: Buddy URLs hold 168 bytes)."""
    return f"cf{next(_folders)}"
