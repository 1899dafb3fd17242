"""Every test here runs against a real server (the fixtures: `fixtures.py`, a plugin
loaded by tests/conftest.py so that tests/conformance/ shares the same servers)."""

from __future__ import annotations

import pytest

from .fixtures import mark_real_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "real_servers" in item.path.parts:
            mark_real_server(item)
