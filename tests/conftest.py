"""Shared fixtures: emulated farms (in-process), master folders, running a sync in-process."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import link_sync
from link_sync import redact
from link_sync.result import RunResult

from sync_helpers import FAST_RETRY, Master, SyncRunner
from synced_check import assert_synced_printers_hold_the_master

pytest_plugins = ["link_sync.emulator.testing", "real_servers.fixtures"]


@pytest.fixture(autouse=True)
def secrets_registered_by_a_test_stay_in_it() -> Iterator[None]:
    """The redaction registry is process-wide (a backend registers the secrets it is
    given, for the process's life): each test leaves it as it found it, so a short
    secret one test registers (`pi-key`) does not mask text in the next."""
    with redact._lock:
        before = set(redact._secrets)
    yield
    with redact._lock:
        redact._secrets.clear()
        redact._secrets.update(before)


@pytest.fixture
def master(tmp_path: Path) -> Master:
    return Master(tmp_path / "master")


@pytest.fixture
def state_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment whose state dir (journal, lock) is private to the test."""
    env = {"LINK_SYNC_STATE_DIR": str(tmp_path / "state")}
    yield env


@pytest.fixture
def run_sync(tmp_path: Path, master: Master, state_env: Mapping[str, str]) -> SyncRunner:
    """`await run_sync(farm, **request_fields, config_extra={...})` -> RunResult."""

    async def runner(
        farm: Any,
        *,
        config_extra: Mapping[str, Any] | None = None,
        printer_extra: Mapping[str, Mapping[str, Any]] | None = None,
        **fields: Any,
    ) -> RunResult:
        config = farm.config(source=str(master.root))
        config.update(config_extra or {})
        for name, extra in (printer_extra or {}).items():
            config["printers"][name].update(extra)
        fields.setdefault("retry", FAST_RETRY)
        states = state_env["LINK_SYNC_STATE_DIR"]
        result = await link_sync.sync_async(link_sync.Config(**config), state_dir=states, **fields)
        # every printer reported `synced` is read again and compared with the master
        delete = fields.get("delete", True)
        assert_synced_printers_hold_the_master(result, farm, config, delete=delete)
        return result

    return runner
