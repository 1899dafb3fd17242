"""Runs inside a private network namespace (`unshare -n`, started by tests/test_discover.py):
loopback up with multicast, emulated printers announcing themselves, and link-sync's
`discover` and `init --discover` run as a user would. Writes what each command printed
to OUT/results.json for the test to judge. No packet can leave the namespace.

usage: python discovery_netns.py OUT
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FARM = """\
printers:
  mk4-1: {profile: mk4}
  mini-1: {profile: mini}
  mk3-1: {profile: mk3}
"""
EXISTING = """\
# my farm, by hand
source: {source}   # the NAS
defaults:
  username: maker
  password: ${{FARM_PASSWORD}}
printers:
  # the MINI on the bench
  bench-mini:
    host: {mini}
    model: MINI
# the end of my printers
route: model   # keep routing on
"""


def loopback_with_multicast() -> None:
    for command in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "link", "set", "lo", "multicast", "on"],
        ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"],
    ):
        subprocess.run(command, check=True)


def link_sync(cwd: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "link_sync", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or os.environ.copy(),
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    return {
        "code": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "seconds": time.monotonic() - started,
    }


def init_on_a_terminal(folder: Path, init: list[str], env: dict[str, str]) -> dict[str, Any]:
    """`init --discover` on a terminal: it asks each Buddy printer's model."""
    import pexpect

    folder.mkdir()
    child = pexpect.spawn(
        sys.executable, ["-m", "link_sync", *init], cwd=str(folder), env=env, encoding="utf-8"
    )
    prompts = []
    child.expect(r"prusa-mini at \S+: its model \(MINI\), empty to leave it \[MINI\]: ", 60)
    prompts.append(child.after)
    child.sendline("")  # the suggestion
    child.expect(r"prusa-mk4 at \S+: its model \(MK4, MK4S, MK3.9\), empty to leave it: ", 30)
    prompts.append(child.after)
    child.sendline("MK5")  # not a model: asked again
    child.expect("'MK5' is not a model link-sync knows", 30)
    child.expect("prusa-mk4 at ", 30)
    child.sendline("mk4s")
    child.expect(pexpect.EOF, 30)
    child.close()
    return {
        "code": child.exitstatus,
        "prompts": prompts,
        "config": (folder / "link-sync.yml").read_text(),
    }


def two_xls(home: Path, listen: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Two XLs of one emulator, of one default hostname: each is announced (the second
    renamed by mDNS) and found."""
    second = subprocess.Popen(
        [
            *(sys.executable, "-m", "link_sync", "emulate", "--port", "0"),
            *("--printers", "2", "--profile", "xl", "--announce"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert second.stdout is not None
        urls = [second.stdout.readline().split()[1] for _ in range(2)]
        return {"urls": urls, "discover": link_sync(home, "discover", "--json", *listen, env=env)}
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(15)


def main(out: Path) -> None:
    loopback_with_multicast()
    (out / "farm.yml").write_text(FARM)
    emulator = subprocess.Popen(
        [
            *(sys.executable, "-m", "link_sync", "emulate", "--port", "0", "--announce"),
            *("--farm", str(out / "farm.yml"), "--config-out", str(out / "emulated.yml")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    results: dict[str, Any] = {}
    try:
        assert emulator.stdout is not None
        urls = {}
        for _ in range(3):
            line = emulator.stdout.readline()
            if not line:
                raise SystemExit(
                    "emulator ended: " + (emulator.stderr.read() if emulator.stderr else "")
                )
            name, url, _profile = line.split()
            urls[name] = url
        results["urls"] = urls
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_PASSWORD", "_API_KEY"))}
        env.pop("LINK_SYNC_CONFIG", None)
        env["LINK_SYNC_STATE_DIR"] = str(out / "state")
        home = out / "home"
        home.mkdir()
        listen = ["--interface", "127.0.0.1", "--timeout", "3"]
        results["discover_plain"] = link_sync(home, "discover", *listen, env=env)
        results["discover_json"] = link_sync(home, "discover", "--json", *listen, env=env)
        results["discover_config"] = link_sync(
            home, "discover", "--json", "-c", str(out / "emulated.yml"), *listen, env=env
        )
        with_password = {**env, "FARM_PASSWORD": "maker-pass"}
        results["discover_credentials"] = link_sync(
            home, "discover", "--json", *listen, env=with_password
        )

        empty = out / "empty"
        empty.mkdir()
        (out / "master").mkdir()
        for model in ("MK4", "MINI", "MK3S"):
            (out / "master" / f"part_{model}.gcode").write_text(
                f'M862.3 P "{model}" ; printer model check\nG28\n'
            )
        init = ["init", "--discover", "-s", str(out / "master"), *listen]
        results["init_empty"] = link_sync(empty, *init, env=with_password)
        results["config_written"] = (empty / "link-sync.yml").read_text()
        results["plan_json"] = link_sync(empty, "plan", "--json", env=with_password)
        results["init_again"] = link_sync(empty, *init, env=with_password)
        results["config_after_again"] = (empty / "link-sync.yml").read_text()

        results["terminal"] = init_on_a_terminal(out / "terminal", init, with_password)

        existing = out / "existing"
        existing.mkdir()
        text = EXISTING.format(source=out / "master", mini=urls["mini-1"].removeprefix("http://"))
        (existing / "link-sync.yml").write_text(text)
        results["existing_before"] = text
        results["init_existing"] = link_sync(existing, *init, env=with_password)
        results["existing_after"] = (existing / "link-sync.yml").read_text()
        results["two_xls"] = two_xls(home, listen, env)
    finally:
        emulator.send_signal(signal.SIGTERM)
        try:
            emulator.wait(15)
        except subprocess.TimeoutExpired:
            emulator.kill()
        results["emulator_stderr"] = emulator.stderr.read() if emulator.stderr else ""
        results["emulator_code"] = emulator.returncode
        (out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
