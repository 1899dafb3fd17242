from __future__ import annotations

import subprocess
import sys

from link_sync import __version__


def test_version_flag_prints_the_package_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "link_sync", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in out.stdout


def test_help_lists_examples() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "link_sync", "--help"], capture_output=True, text=True, check=True
    )
    assert "link-sync demo" in out.stdout
