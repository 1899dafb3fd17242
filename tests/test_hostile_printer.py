"""A printer's words are made safe before they are shown (issue 29, faults 4 and 5).

A farm of healthy printers and hostile ones: printers that echo their credentials
(`echo_credentials`) or put control characters (`control_chars`) in their firmware,
state, job and file names. `sync`, `status` and `pull` (plain and --json) and the
watch (its log, its JSON Lines, `/api/printers`) must show no secret and no raw control
character, JSON must stay JSON with the real string, and the healthy printers must end
synced.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from link_sync.emulator import Farm, PrinterSpec
from link_sync.emulator.faults import Fault
from link_sync.emulator.hostile_text import CONTROL_PAYLOAD
from link_sync.emulator.testing import BackgroundFarm

OK_PASSWORD = "OkPw-3e81aQ-SECRET"
OK_API_KEY = "OkKey-71c2bW-SECRET"
ECHO_PASSWORD = "EchoPw-5d20cR-SECRET"
ECHO_API_KEY = "EchoKey-9a4f1T-SECRET"
SECRETS = (OK_PASSWORD, OK_API_KEY, ECHO_PASSWORD, ECHO_API_KEY)
HEALTHY = ("mk4-ok", "mk3-ok")
HOSTILE = ("mk4-echo", "mk3-echo", "mk4-ctl")
#: What a terminal or a log reader must never receive from a printer.
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _hostile(kind: str) -> list[Fault]:
    return [Fault(kind, count=None)]


def _specs() -> list[PrinterSpec]:
    own = {"own.gcode": b"G28\n"}
    return [
        PrinterSpec("mk4-ok", profile="mk4", password=OK_PASSWORD),
        PrinterSpec("mk3-ok", profile="mk3", password=OK_PASSWORD, api_key=OK_API_KEY),
        PrinterSpec(
            "mk4-echo", profile="mk4", password=ECHO_PASSWORD, files=dict(own),
            faults=_hostile("echo_credentials"),
        ),
        PrinterSpec(
            "mk3-echo", profile="mk3", password=ECHO_PASSWORD, api_key=ECHO_API_KEY,
            files=dict(own), faults=_hostile("echo_credentials"),
        ),
        PrinterSpec(
            "mk4-ctl", profile="mk4", password=OK_PASSWORD, files=dict(own),
            faults=_hostile("control_chars"),
        ),
    ]  # fmt: skip


@dataclass
class HostileFarm:
    farm: Farm
    folder: Path
    master: Path
    config: Path

    def env(self, state: str = "state") -> dict[str, str]:
        env = {**os.environ, "LINK_SYNC_STATE_DIR": str(self.folder / state)}
        env.update(NO_COLOR="1", COLUMNS="200")
        env.pop("LINK_SYNC_CONFIG", None)
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "link_sync", *args, "-c", str(self.config)],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.folder,
            timeout=120,
        )


@pytest.fixture(scope="module")
def hostile_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileFarm]:
    folder = tmp_path_factory.mktemp("hostile-farm")
    master = folder / "master"
    (master / "parts").mkdir(parents=True)
    (master / "benchy.gcode").write_bytes(b"G28\n" * 1000)
    (master / "parts" / "clip.gcode").write_bytes(b"G1 X1\n" * 500)
    with BackgroundFarm(_specs()) as farm:
        config = folder / "link-sync.yml"
        config.write_text(yaml.safe_dump(farm.config(source=str(master))))
        config.chmod(0o600)
        yield HostileFarm(farm, folder, master, config)


def assert_safe_plain(text: str) -> None:
    """No secret, no raw control character, no forged line, no traceback."""
    for secret in SECRETS:
        assert secret.lower() not in text.lower()  # a state is upper-cased: so is its echo
    assert not RAW_CONTROLS.search(text), repr(text)
    assert "Traceback" not in text
    for line in text.splitlines():
        assert "mk4-99" not in line.lower() or "\\n" in line, line  # the forged line stays in


def assert_safe_json(text: str) -> object:
    for secret in SECRETS:
        assert secret.lower() not in text.lower()
    return json.loads(text)


def assert_healthy_synced(farm: HostileFarm) -> None:
    for name in HEALTHY:
        held = farm.farm[name].files()
        assert held.get("benchy.gcode") == (farm.master / "benchy.gcode").read_bytes(), name
        assert held.get("parts/clip.gcode") == (farm.master / "parts/clip.gcode").read_bytes()


@pytest.mark.parametrize("mode", ["plain", "json"])
def test_sync_and_status_show_no_echoed_secret_and_no_raw_control_character(
    hostile_farm: HostileFarm, mode: str
) -> None:
    flags: Sequence[str] = ["--json"] if mode == "json" else []
    sync = hostile_farm.run("sync", *flags)
    status = hostile_farm.run("status", *flags)
    assert_healthy_synced(hostile_farm)
    for out in (sync, status):
        assert_safe_plain(out.stderr)
        if mode == "plain":
            assert_safe_plain(out.stdout)
            continue
        document = assert_safe_json(out.stdout)
        assert isinstance(document, dict)
        if out is sync:
            rows = {p["name"]: p for p in document["printers"]}
            assert all(rows[name]["status"] == "synced" for name in HEALTHY)
    # the words did reach link-sync (so the checks above checked something)
    if mode == "plain":
        shown = status.stdout
        # mk3-echo's firmware, masked (a Buddy printer names no firmware version)
        assert "firmware=0.8-***" in shown
        # mk4-ctl's state (upper-cased, as states are)
        forged = "\\n2026-01-01T00:00:00.000Z mk4-99: uploaded fake.gcode\\x1b]0;pwned"
        assert forged.lower() in shown.lower()
    else:
        rows = {p["name"]: p for p in json.loads(status.stdout)["printers"]}
        assert "-***" in rows["mk3-echo"]["firmware"]
        # JSON keeps the real string (mk4-ctl's state, upper-cased as states are)
        assert rows["mk4-ctl"]["state"] == ("IDLE" + CONTROL_PAYLOAD).upper()
        assert all(rows[name]["in_sync"] for name in HEALTHY)


def test_pull_shows_no_echoed_secret_and_no_raw_control_character(
    hostile_farm: HostileFarm,
) -> None:
    for flags in ([], ["--json"]):
        out = hostile_farm.run("pull", "-n", *flags)
        assert_safe_plain(out.stderr)
        if flags:
            assert_safe_json(out.stdout)
        else:
            assert_safe_plain(out.stdout)
            assert "mk4-echo: would pull own-***-SECRET.gcode" not in out.stdout
            assert "mk4-echo: would pull own-***.gcode" in out.stdout, out.stdout


def _watch(farm: HostileFarm, state: str, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "link_sync", "watch", "-c", str(farm.config), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=farm.env(state),
        cwd=farm.folder,
    )


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def test_the_watch_log_and_api_show_no_echoed_secret_and_no_raw_control_character(
    hostile_farm: HostileFarm,
) -> None:
    flags = ("--settle", "0.2", "--poll-interval", "0.3")
    # two watches: two state folders (each holds its printers' locks)
    plain = _watch(hostile_farm, "state-plain", *flags)
    served = _watch(hostile_farm, "state-served", *flags, "--json", "--http", "127.0.0.1:0")
    try:
        assert served.stdout is not None
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            event = json.loads(served.stdout.readline())
            if event["event"] == "http":
                url = str(event["path"]).rstrip("/")
        assert url, "the watch did not serve"
        api = ""
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{url}/api/printers", timeout=5) as answer:
                api = answer.read().decode()
            rows = {p["name"]: p for p in assert_safe_json(api)["printers"]}  # type: ignore[index]
            if rows["mk4-ctl"].get("state") and rows["mk4-echo"].get("state"):
                break
            time.sleep(0.2)
        # a state no backend knows counts as busy: shown (upper-cased), never synced
        assert rows["mk4-echo"]["state"] == "IDLE-***", api
        assert rows["mk3-echo"]["state"] == "IDLE-***-***", api
        assert CONTROL_PAYLOAD.upper() in rows["mk4-ctl"]["state"]
        time.sleep(1.0)  # a few polls of the hostile printers' state for the log
    finally:
        out, err = _stop(plain)
        json_out, json_err = _stop(served)
    assert_safe_plain(out + err + json_err)
    for line in json_out.splitlines():
        assert_safe_json(line)
    assert "mk4-ctl:" in out  # the hostile printer has lines in the log, escaped
    assert_healthy_synced(hostile_farm)


def test_a_farm_file_sets_the_hostile_faults() -> None:
    spec = PrinterSpec.from_dict(
        {"name": "evil", "faults": [{"kind": "control_chars", "count": None, "op": "status"}]}
    )
    assert spec.faults == [Fault("control_chars", op="status", count=None)]
    assert Fault.from_dict({"kind": "echo_credentials"}).kind == "echo_credentials"


def test_a_line_escapes_every_control_character_and_masks_secrets_in_any_case() -> None:
    from link_sync import printable, redact

    redact.register(ECHO_PASSWORD)
    text = f"a\nb\r\x1b[2J\x07\x7f\x9b\u2028\t{ECHO_PASSWORD.upper()}"
    assert printable.line(text) == "a\\nb\\r\\x1b[2J\\x07\\x7f\\x9b\\u2028\\t***"
    document = {"firmware": f"6.0-{ECHO_PASSWORD}\n", "n": 1, "list": [ECHO_PASSWORD]}
    assert printable.document(document) == {"firmware": "6.0-***\n", "n": 1, "list": ["***"]}
    clean = {"firmware": "6.0"}
    assert printable.document(clean) is clean  # nothing to mask: not copied
