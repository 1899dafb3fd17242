"""Bad input, through the command line as users meet it (`python -m link_sync` in a
subprocess): every malformed config and argument gets ONE clear message, the contract's
exit code and never a traceback; usage and config errors contact no printer; a master
file that cannot go to a printer fails alone and the rest of the run goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import link_sync
from link_sync.core.planner import Action
from link_sync.emulator import Farm, PrinterSpec
from link_sync.emulator.testing import BackgroundFarm
from link_sync.engine.events import Observer

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SAFETY = 0, 1, 2, 3
PASSWORD = "bad-input-pass"


def farm_specs() -> list[PrinterSpec]:
    return [
        PrinterSpec("mk4-a", profile="mk4", password=PASSWORD),
        PrinterSpec("mk3-b", profile="mk3", password=PASSWORD, api_key="bad-input-key"),
    ]


def request_count(farm: Farm) -> int:
    return sum(len(printer.requests) for printer in farm)


def run_cli(
    args: Sequence[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LINK_SYNC") and key != "LS_UNSET_VAR"
    }
    environ.update({"LINK_SYNC_STATE_DIR": str(cwd / "state"), "NO_COLOR": "1", "COLUMNS": "200"})
    environ.update(env or {})
    return subprocess.run(
        [*prefix, sys.executable, "-m", "link_sync", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        timeout=120,
    )


def messages(stderr: str) -> list[str]:
    """The error lines: ours start with 'link-sync: ', click's with 'Error: '."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return [
        line
        for line in lines
        if line.startswith(("link-sync: ", "Error: ")) and not line.startswith("link-sync: warn")
    ]


def assert_one_message(out: subprocess.CompletedProcess[str], fragment: str) -> None:
    text = out.stdout + out.stderr
    assert "Traceback" not in text, text
    found = messages(out.stderr)
    assert len(found) == 1, out.stderr
    assert fragment in found[0], out.stderr


@pytest.fixture(scope="module")
def farm() -> Iterator[Farm]:
    with BackgroundFarm(farm_specs()) as running:
        yield running


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    master = tmp_path / "master"
    master.mkdir()
    (master / "benchy.gcode").write_bytes(b"G28\n" * 100)
    return tmp_path


# --------------------------------------------------------------------------- config files


def _case_id(case: object) -> str:
    return str(getattr(case, "id", case))


@dataclass(frozen=True)
class ConfigCase:
    id: str
    filename: str
    text: str | bytes  # {url} and {source} are filled in
    message: str  # must be in the one error line


def _yaml(printers: str, top: str = "source: {source}\n") -> str:
    return f"{top}printers:\n{printers}"


PRINTER = "  mk4-a:\n    host: {url}\n    password: " + PASSWORD + "\n"

CONFIG_CASES = [
    ConfigCase(
        "yaml-syntax",
        "link-sync.yml",
        "source: {source}\nprinters:\n  mk4-a: {host: [\n",
        "YAML syntax error",
    ),
    ConfigCase("yaml-tab", "link-sync.yml", "printers:\n\tmk4-a: {}\n", "YAML syntax error"),
    ConfigCase("toml-syntax", "link-sync.toml", 'source = "{source}"\nprinters = [\n', "TOML"),
    ConfigCase(
        "toml-duplicate",
        "link-sync.toml",
        '[printers.a]\nhost = "{url}"\n[printers.a]\nhost = "{url}"\n',
        "TOML syntax error",
    ),
    ConfigCase("json-syntax", "link-sync.json", '{"printers": }', "JSON syntax error"),
    ConfigCase(
        "json-trailing-comma",
        "link-sync.json",
        '{"printers": {"a": {"host": "{url}"},}}',
        "JSON syntax error",
    ),
    ConfigCase(
        "json-duplicate-printer",
        "link-sync.json",
        '{"printers": {"a": {"host": "{url}"}, "a": {"host": "{url}"}}}',
        "duplicate key 'a'",
    ),
    ConfigCase(
        "yaml-duplicate-printer",
        "link-sync.yml",
        _yaml(PRINTER + PRINTER),
        "duplicate printer name 'mk4-a'",
    ),
    ConfigCase(
        "yaml-duplicate-key",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: {url}\n    host: {url}\n"),
        "duplicate key 'host'",
    ),
    ConfigCase("empty", "link-sync.yml", "", "empty"),
    ConfigCase("only-comments", "link-sync.yml", "# nothing here\n", "empty"),
    ConfigCase("whitespace-json", "link-sync.json", "  \n", "empty"),
    ConfigCase("a-list", "link-sync.yml", "- mk4-a\n- mk3-b\n", "must be a mapping"),
    ConfigCase("a-scalar", "link-sync.yml", "just text\n", "must be a mapping"),
    ConfigCase("json-list", "link-sync.json", "[1, 2]", "must be a mapping"),
    ConfigCase("not-utf8", "link-sync.yml", b"printers:\n  \xff\xfe: {}\n", "not UTF-8"),
    ConfigCase("no-printers", "link-sync.yml", "source: {source}\nprinters: {}\n", "no printers"),
    ConfigCase("printers-a-list", "link-sync.yml", "printers:\n  - {url}\n", "'printers'"),
    ConfigCase("printer-a-text", "link-sync.yml", "printers:\n  mk4-a: {url}\n", "printer 'mk4-a'"),
    ConfigCase(
        "unknown-printer-key",
        "link-sync.yml",
        _yaml("  mk4-a:\n    hots: {url}\n"),
        "printer 'mk4-a': unknown key 'hots' (did you mean 'host'?)",
    ),
    ConfigCase(
        "unknown-top-key",
        "link-sync.yml",
        _yaml(PRINTER, top="sorce: {source}\n"),
        "unknown key 'sorce'",
    ),
    ConfigCase(
        "unknown-defaults-key",
        "link-sync.yml",
        _yaml(PRINTER, top="defaults:\n  pasword: x\n"),
        "unknown key 'pasword'",
    ),
    ConfigCase(
        "missing-host",
        "link-sync.yml",
        _yaml("  mk4-a:\n    username: maker\n"),
        "printer 'mk4-a': missing 'host'",
    ),
    ConfigCase(
        "empty-host", "link-sync.yml", _yaml("  mk4-a:\n    host: ''\n"), "key 'host' is empty"
    ),
    ConfigCase(
        "host-scheme",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: ftp://127.0.0.1\n"),
        "must start with http:// or https://",
    ),
    ConfigCase(
        "host-port",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: 127.0.0.1:99999\n"),
        "invalid port",
    ),
    ConfigCase(
        "host-path",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: http://127.0.0.1/api\n"),
        "without a path",
    ),
    ConfigCase(
        "host-userinfo",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: http://maker:pw@127.0.0.1\n"),
        "must not contain a user name or password",
    ),
    ConfigCase(
        "host-garbage",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: 'not a host!'\n"),
        "not a valid host name",
    ),
    ConfigCase(
        "host-a-list",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: [127.0.0.1]\n"),
        "key 'host' must be text",
    ),
    ConfigCase(
        "verify-text",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: {url}\n    verify: 'no'\n"),
        "key 'verify' must be true or false",
    ),
    ConfigCase(
        "stale-after-text",
        "link-sync.yml",
        _yaml(PRINTER, top="stale_after: soon\n"),
        "key 'stale_after' must be a number",
    ),
    ConfigCase(
        "stale-after-negative",
        "link-sync.yml",
        _yaml(PRINTER, top="stale_after: -5\n"),
        "key 'stale_after' must not be negative",
    ),
    ConfigCase(
        "unknown-type",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: {url}\n    type: klipper\n"),
        "key 'type' must be one of",
    ),
    ConfigCase(
        "destination-dotdot",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: {url}\n    destination: ../up\n"),
        "key 'destination'",
    ),
    ConfigCase(
        "undefined-var",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: {url}\n    password: ${LS_UNSET_VAR}\n"),
        "printer 'mk4-a': key 'password': ${LS_UNSET_VAR} is not set in the environment",
    ),
    ConfigCase(
        "undefined-var-in-source",
        "link-sync.yml",
        _yaml(PRINTER, top="source: ${LS_UNSET_VAR}/gcodes\n"),
        "${LS_UNSET_VAR} is not set",
    ),
    ConfigCase(
        "password-twice",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: {url}\n    password: a\n    password_file: pw.txt\n"),
        "set 'password' or 'password_file', not both",
    ),
    ConfigCase(
        "password-file-missing",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: {url}\n    password_file: no-such-file\n"),
        "key 'password_file': cannot read",
    ),
    ConfigCase(
        "ca-file-missing",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: https://127.0.0.1:1\n    ca_file: no-such.pem\n"),
        "key 'ca_file'",
    ),
    ConfigCase(
        "fingerprint-bad",
        "link-sync.yml",
        _yaml("  mk4-a:\n    host: https://127.0.0.1:1\n    fingerprint: abc\n"),
        "key 'fingerprint' must be the SHA-256",
    ),
]


CONFIG_CASES += [
    ConfigCase("yaml-too-deep", "link-sync.yml", "printers: " + "[" * 5000, "too deeply nested"),
    ConfigCase(
        "json-too-deep", "link-sync.json", '{"printers": ' + "[" * 100_000, "too deeply nested"
    ),
    ConfigCase("toml-too-deep", "link-sync.toml", "a = " + "[" * 5000, "too deeply nested"),
]


def write_config(case: ConfigCase, workdir: Path, farm: Farm) -> Path:
    path = workdir / case.filename
    if isinstance(case.text, bytes):
        path.write_bytes(case.text)
    else:
        source = str(workdir / "master")
        path.write_text(case.text.replace("{url}", farm["mk4-a"].url).replace("{source}", source))
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("case", CONFIG_CASES, ids=_case_id)
def test_bad_config_is_one_message_and_exit_2(case: ConfigCase, workdir: Path, farm: Farm) -> None:
    path = write_config(case, workdir, farm)
    before = request_count(farm)
    out = run_cli(["sync", "-c", str(path)], workdir)
    assert out.returncode == EXIT_USAGE, out.stdout + out.stderr
    assert_one_message(out, case.message)
    assert str(path.name) in messages(out.stderr)[0]  # names the file
    assert out.stdout == ""
    assert request_count(farm) == before  # nothing contacted


@pytest.mark.parametrize("command", ["plan", "status", "pull"])
def test_bad_config_gives_exit_2_for_every_command(command: str, workdir: Path, farm: Farm) -> None:
    path = write_config(CONFIG_CASES[0], workdir, farm)
    out = run_cli([command, "-c", str(path), "--json"], workdir)
    assert out.returncode == EXIT_USAGE
    assert_one_message(out, "YAML syntax error")
    assert out.stdout == ""


# --------------------------------------------------------------------------- arguments


@dataclass(frozen=True)
class ArgsCase:
    id: str
    args: tuple[str, ...]  # {config} is the path of a valid config
    message: str
    code: int = EXIT_USAGE
    with_config: bool = True  # write a valid link-sync.yml in the working folder
    extra: dict[str, str] = field(default_factory=dict)


ARGS_CASES = [
    ArgsCase("unknown-option", ("sync", "--frobnicate"), "--frobnicate"),
    ArgsCase("unknown-command", ("frobnicate",), "No such command 'frobnicate'"),
    ArgsCase("jobs-0", ("sync", "--jobs", "0"), "--jobs"),
    ArgsCase("jobs-text", ("sync", "--jobs", "many"), "--jobs"),
    ArgsCase("max-delete-negative", ("sync", "--max-delete", "-1"), "--max-delete"),
    ArgsCase("max-delete-missing-value", ("sync", "--max-delete"), "--max-delete"),
    ArgsCase("plan-jobs-0", ("plan", "--jobs", "0"), "--jobs"),
    ArgsCase("unknown-printer", ("sync", "-p", "nope"), "unknown printer 'nope'"),
    ArgsCase("unknown-excluded", ("plan", "-x", "nope"), "unknown printer 'nope'"),
    ArgsCase("status-unknown-printer", ("status", "-p", "nope"), "unknown printer 'nope'"),
    ArgsCase(
        "missing-config-file", ("sync", "-c", "missing.yml"), "missing.yml: config file not found"
    ),
    ArgsCase(
        "config-env-missing",
        ("sync",),
        "elsewhere.yml: config file not found",
        extra={"LINK_SYNC_CONFIG": "elsewhere.yml"},
    ),
    ArgsCase("no-config-here", ("sync",), "no config file found", with_config=False),
    ArgsCase("config-is-a-folder", ("sync", "-c", "master"), "master"),
    # Like a `source:` that is a file: the master is missing, a safety refusal.
    ArgsCase(
        "source-is-a-file",
        ("sync", "-s", "link-sync.yml"),
        "link-sync.yml is not a folder",
        code=EXIT_SAFETY,
    ),
    ArgsCase(
        "source-missing",
        ("sync", "-s", "no-such-folder"),
        "no-such-folder is missing",
        code=EXIT_SAFETY,
    ),
    ArgsCase("source-empty", ("sync", "-s", ""), "needs a folder"),
    ArgsCase("nothing-selected", ("sync", "-p", "mk4-a", "-x", "mk4-a"), "no printer selected"),
]


@pytest.mark.parametrize("case", ARGS_CASES, ids=_case_id)
def test_bad_arguments(case: ArgsCase, workdir: Path, farm: Farm) -> None:
    if case.with_config:
        config = {
            "source": str(workdir / "master"),
            "printers": {p.name: {"host": p.url, "password": PASSWORD} for p in farm},
        }
        (workdir / "link-sync.yml").write_text(json.dumps(config))
        (workdir / "link-sync.yml").chmod(0o600)
    before = request_count(farm)
    out = run_cli(case.args, workdir, case.extra)
    assert out.returncode == case.code, out.stdout + out.stderr
    assert_one_message(out, case.message)
    assert out.stdout == ""
    assert request_count(farm) == before  # nothing contacted


# --------------------------------------------------------------------------- warnings


def test_config_with_a_secret_readable_by_others_warns(workdir: Path, farm: Farm) -> None:
    path = workdir / "link-sync.yml"
    path.write_text(
        f"source: {workdir / 'master'}\nprinters:\n"
        f"  mk4-a:\n    host: {farm['mk4-a'].url}\n    password: {PASSWORD}\n"
    )
    path.chmod(0o644)
    out = run_cli(["plan", "-c", str(path), "-p", "mk4-a"], workdir)
    assert out.returncode == EXIT_OK, out.stdout + out.stderr
    warnings = [line for line in out.stderr.splitlines() if "readable by other users" in line]
    assert len(warnings) == 1 and "chmod 600" in warnings[0]
    assert PASSWORD not in out.stdout + out.stderr

    path.chmod(0o600)
    out = run_cli(["plan", "-c", str(path), "-p", "mk4-a"], workdir)
    assert "readable by other users" not in out.stderr


def test_config_with_only_env_secrets_does_not_warn(workdir: Path, farm: Farm) -> None:
    path = workdir / "link-sync.yml"
    path.write_text(
        f"source: {workdir / 'master'}\nprinters:\n"
        f"  mk4-a:\n    host: {farm['mk4-a'].url}\n    password: ${{LS_TEST_PW}}\n"
    )
    path.chmod(0o644)
    out = run_cli(["plan", "-c", str(path), "-p", "mk4-a"], workdir, {"LS_TEST_PW": PASSWORD})
    assert out.returncode == EXIT_OK, out.stdout + out.stderr
    assert "readable by other users" not in out.stderr


# --------------------------------------------------------------------------- master files


@pytest.fixture
def fresh_farm() -> Iterator[Farm]:
    with BackgroundFarm(farm_specs()) as running:
        yield running


def sync_cli(
    workdir: Path, farm: Farm, *args: str, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    config = {
        "source": str(workdir / "master"),
        "printers": {p.name: {"host": p.url, "password": PASSWORD} for p in farm},
    }
    config["printers"]["mk3-b"]["api_key"] = "bad-input-key"
    path = workdir / "link-sync.yml"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return run_cli(["sync", "-c", str(path), "--json", *args], workdir, prefix=prefix)


def printer_report(out: subprocess.CompletedProcess[str], name: str) -> dict[str, object]:
    document = json.loads(out.stdout)
    return next(p for p in document["printers"] if p["name"] == name)


def failed_paths(report: dict[str, object]) -> set[str]:
    actions = report["actions"]
    assert isinstance(actions, list)
    return {a["path"] for a in actions if not a["ok"]}


def uploaded_paths(report: dict[str, object]) -> set[str]:
    actions = report["actions"]
    assert isinstance(actions, list)
    return {a["path"] for a in actions if a["ok"] and a["op"] in ("upload", "replace")}


def stored(farm: Farm, name: str) -> set[str]:
    return {path.lstrip("/").lower() for path in farm[name].files()}


def test_name_invalid_on_fat_fails_alone(workdir: Path, fresh_farm: Farm) -> None:
    (workdir / "master" / "a:b.gcode").write_bytes(b"G28\n")
    out = sync_cli(workdir, fresh_farm)
    assert out.returncode == EXIT_FAILED, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    buddy = printer_report(out, "mk4-a")
    assert buddy["status"] == "failed"
    assert "a:b.gcode" in json.dumps(buddy)  # the report names the refused file
    assert "benchy.gcode" in uploaded_paths(buddy)  # the rest went on
    assert "benchy.gcode" in stored(fresh_farm, "mk4-a")
    # The Raspberry-Pi PrusaLink is not on FAT and takes both.
    pi = printer_report(out, "mk3-b")
    assert pi["status"] == "synced"
    assert {"a:b.gcode", "benchy.gcode"} <= stored(fresh_farm, "mk3-b")


def test_names_colliding_on_fat_fail_alone(workdir: Path, fresh_farm: Farm) -> None:
    (workdir / "master" / "Part.gcode").write_bytes(b"G28\n")
    (workdir / "master" / "part.gcode").write_bytes(b"G29\n")
    out = sync_cli(workdir, fresh_farm)
    assert out.returncode == EXIT_FAILED, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    buddy = printer_report(out, "mk4-a")
    assert buddy["status"] == "failed"
    assert "differs only in letter case" in json.dumps(buddy)
    assert "benchy.gcode" in uploaded_paths(buddy)
    assert "part.gcode" not in stored(fresh_farm, "mk4-a")  # neither wins by chance
    pi = printer_report(out, "mk3-b")
    assert pi["status"] == "synced"


def test_broken_symlink_in_master_is_reported_and_the_rest_synced(
    workdir: Path, fresh_farm: Farm
) -> None:
    (workdir / "master" / "gone.gcode").symlink_to(workdir / "nowhere" / "gone.gcode")
    out = sync_cli(workdir, fresh_farm)
    assert "Traceback" not in out.stdout + out.stderr
    assert out.returncode in (EXIT_OK, EXIT_FAILED)
    assert "gone.gcode" in out.stdout + out.stderr  # reported, not silently ignored
    for name in ("mk4-a", "mk3-b"):
        assert "benchy.gcode" in stored(fresh_farm, name)


def without_root_file_access() -> list[str]:
    """A command prefix that makes file modes count: root reads any file otherwise."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        # Not a skip: as root without it, this test would prove nothing; CI installs it.
        pytest.fail(
            "running as root needs setpriv to enforce file modes: apt-get install util-linux"
        )
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def test_unreadable_master_file_fails_alone(workdir: Path, fresh_farm: Farm) -> None:
    prefix = without_root_file_access()
    locked = workdir / "master" / "locked.gcode"
    locked.write_bytes(b"G28\n")
    locked.chmod(0)
    out = sync_cli(workdir, fresh_farm, prefix=prefix)
    assert out.returncode == EXIT_FAILED, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    for name in ("mk4-a", "mk3-b"):
        report = printer_report(out, name)
        assert report["status"] == "failed"
        assert "locked.gcode" in failed_paths(report)
        assert "benchy.gcode" in uploaded_paths(report)  # the rest went on
        assert "benchy.gcode" in stored(fresh_farm, name)
        assert "locked.gcode" not in stored(fresh_farm, name)


class _RemoveOnFirstTransfer(Observer):
    """Deletes a master file as soon as the first upload starts."""

    def __init__(self, victim: Path) -> None:
        self.victim = victim

    def transfer_started(self, name: str, action: Action) -> None:
        if self.victim.exists() and action.path != self.victim.name:
            self.victim.unlink()


async def test_master_file_vanishing_during_the_run_fails_alone(tmp_path: Path) -> None:
    master = tmp_path / "master"
    master.mkdir()
    (master / "a-first.gcode").write_bytes(b"G28\n" * 100)
    victim = master / "b-vanishes.gcode"
    victim.write_bytes(b"G29\n" * 100)
    (master / "c-last.gcode").write_bytes(b"G30\n" * 100)
    async with Farm([PrinterSpec("mk4-a", profile="mk4", password=PASSWORD)]) as farm:
        config = link_sync.Config(
            source=master,
            printers={"mk4-a": link_sync.PrinterConfig(host=farm["mk4-a"].url, password=PASSWORD)},
        )
        result = await link_sync.sync_async(
            config,
            parallel=1,
            observer=_RemoveOnFirstTransfer(victim),
            state_dir=tmp_path / "state",
        )
        stored_names = {path.lstrip("/").lower() for path in farm["mk4-a"].files()}
    assert not victim.exists()
    assert result.exit_code == EXIT_FAILED
    printer = result.printers[0]
    failed = [a for a in printer.actions if not a.ok]
    assert [a.path for a in failed] == ["b-vanishes.gcode"]
    assert "b-vanishes.gcode" not in stored_names  # nothing half-written
    assert {"a-first.gcode", "c-last.gcode"} <= stored_names  # the rest went on


def test_plain_sync_names_each_refused_file_and_why(workdir: Path, fresh_farm: Farm) -> None:
    """Issue 29, fault 16: not only "FAILED: 2 action(s) failed", as `plan` already did."""
    (workdir / "master" / "Part.gcode").write_bytes(b"G28\n")
    (workdir / "master" / "part.gcode").write_bytes(b"G29\n")
    (workdir / "master" / "a:b.gcode").write_bytes(b"G28\n")
    sync_cli(workdir, fresh_farm, "-n")  # writes the config
    out = run_cli(["sync", "-c", str(workdir / "link-sync.yml")], workdir)
    assert out.returncode == EXIT_FAILED, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    refused = [line for line in out.stdout.splitlines() if line.startswith("mk4-a: FAILED ")]
    assert any("Part.gcode" in line and "letter case" in line for line in refused), refused
    assert any("part.gcode" in line and "letter case" in line for line in refused), refused
    assert any("a:b.gcode" in line for line in refused), refused
    assert len(refused) == 3, refused  # each once, not twice
