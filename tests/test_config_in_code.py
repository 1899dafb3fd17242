"""`Config` and `PrinterConfig` built in code: the file's keys, defaults, checks and ${VAR}."""

from __future__ import annotations

from pathlib import Path

import pytest

from link_sync import Config, ConfigError, PrinterConfig, load_config
from link_sync.config import with_source


def test_built_in_code_equals_the_same_file(tmp_path: Path) -> None:
    (tmp_path / "link-sync.yml").write_text(
        "source: master\n"
        "defaults: {username: maker, password: farm-pass}\n"
        "printers:\n"
        "  mk4-01: {host: 192.168.1.50}\n"
        "  xl-01: {host: '192.168.1.60:8080', source: xl, timeout: 5, destination: /prints/}\n"
    )
    from_file = load_config(tmp_path / "link-sync.yml", environ={})
    in_code = Config(
        source=tmp_path / "master",
        defaults={"username": "maker", "password": "farm-pass"},
        printers={
            "mk4-01": PrinterConfig(host="192.168.1.50"),
            "xl-01": PrinterConfig(
                host="192.168.1.60:8080", source="xl", timeout=5, destination="/prints/"
            ),
        },
    )
    assert in_code.printers == from_file.printers
    xl = in_code.printers["xl-01"]
    assert (xl.name, xl.base_url, xl.source, xl.destination) == (
        "xl-01",
        "http://192.168.1.60:8080",
        tmp_path / "master" / "xl",
        "prints",
    )
    assert (xl.username, xl.password, xl.timeout) == ("maker", "farm-pass", 5.0)
    assert in_code.path is None and from_file.path == tmp_path / "link-sync.yml"


def test_mappings_work_as_printers_and_explicit_keys_beat_defaults() -> None:
    config = Config(
        source="/srv/gcodes",
        defaults={"username": "maker", "timeout": 60, "verify": False},
        printers={
            "a": {"host": "a"},
            "b": PrinterConfig(host="b", username="own", timeout=30, verify=True),
        },
    )
    a, b = config.printers["a"], config.printers["b"]
    assert (a.username, a.timeout, a.verify) == ("maker", 60.0, False)
    # Given explicitly, even when equal to the built-in default, a key is the printer's own.
    assert (b.username, b.timeout, b.verify) == ("own", 30.0, True)
    assert a.source == b.source == Path("/srv/gcodes")


def test_defaults_of_the_contract_for_every_key() -> None:
    config = Config(printers={"p": PrinterConfig(host="p")})
    printer = config.printers["p"]
    assert (printer.type, printer.timeout, printer.connect_timeout) == ("prusalink", 30.0, 10.0)
    assert (printer.model, printer.nozzle, printer.accept) == (None, None, ())
    assert (printer.verify, printer.destination, printer.storage) == (True, "", None)
    assert (config.route, config.settle, config.poll_interval, config.rescan_interval) == (
        "model",
        2.0,
        5.0,
        600.0,
    )
    assert (config.http.listen, config.http.token, config.http.read_only) == (
        "127.0.0.1:8470",
        None,
        False,
    )
    assert (config.stale_after, config.source, config.destination) == (60.0, None, "")


def test_new_keys_are_read_and_normalised(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text(
        "route: all\nsettle: 0.5\npoll_interval: 2\nrescan_interval: 60\n"
        "http: {listen: '0.0.0.0:9000', token: '${TOKEN}', read_only: true}\n"
        "printers:\n"
        "  a: {host: a, connect_timeout: 3, model: MK4IS, nozzle: 0.6, accept: [mk4s, 'MK3.9']}\n"
    )
    config = load_config(tmp_path / "c.yml", environ={"TOKEN": "web-token-1"})
    printer = config.printers["a"]
    assert (printer.connect_timeout, printer.model, printer.nozzle) == (3.0, "MK4", 0.6)
    assert printer.accept == ("MK4S", "MK3.9")
    assert (config.route, config.settle, config.poll_interval, config.rescan_interval) == (
        "all",
        0.5,
        2.0,
        60.0,
    )
    assert config.http.listen == "0.0.0.0:9000" and config.http.read_only is True
    assert config.http.token == "web-token-1"
    assert "web-token-1" not in repr(config)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("printers: {a: {host: a, connect_timeout: 0}}", "printer 'a': key 'connect_timeout' "),
        ("printers: {a: {host: a, model: ZX81}}", "printer 'a': key 'model' 'ZX81' is not a"),
        ("printers: {a: {host: a, nozzle: -1}}", "printer 'a': key 'nozzle' must be more than 0"),
        ("printers: {a: {host: a, accept: MK4}}", "printer 'a': key 'accept' must be a list"),
        ("printers: {a: {host: a, accept: [MK9]}}", "printer 'a': key 'accept' 'MK9' is not a"),
        (
            "printers: {a: {host: a, while_printing: always}}",
            "printer 'a': key 'while_printing' must be one of upload, wait",
        ),
        ("route: some\nprinters: {a: {host: a}}", "key 'route' must be one of model, all"),
        ("settle: -1\nprinters: {a: {host: a}}", "key 'settle' must not be negative"),
        ("poll_interval: 0\nprinters: {a: {host: a}}", "key 'poll_interval' must be more than 0"),
        ("rescan_interval: x\nprinters: {a: {host: a}}", "key 'rescan_interval' must be a number"),
        (
            "http: {listen: here}\nprinters: {a: {host: a}}",
            "http: key 'listen' must be ADDRESS:PORT",
        ),
        ("http: {tokn: x}\nprinters: {a: {host: a}}", "http: unknown key 'tokn' (did you mean"),
        (
            "http: {read_only: 'yes'}\nprinters: {a: {host: a}}",
            "http: key 'read_only' must be true",
        ),
    ],
)
def test_new_keys_are_checked(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "link-sync.yml").write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "link-sync.yml", environ={})
    assert str(info.value).startswith(f"{tmp_path / 'link-sync.yml'}: {expected}")


def test_a_bad_value_in_code_names_the_printer_and_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        Config(printers={"mk4-01": {"host": "h", "timeout": "soon"}})
    assert str(info.value) == "printer 'mk4-01': key 'timeout' must be a number"
    with pytest.raises(ConfigError) as info:
        PrinterConfig(host="h:99999")
    assert str(info.value) == "key 'host' 'h:99999' has an invalid port"
    with pytest.raises(ConfigError) as info:
        PrinterConfig(host="h", hots="x")  # type: ignore[call-arg]
    assert str(info.value) == "unknown key 'hots' (did you mean 'host'?)"
    with pytest.raises(ConfigError, match=r"^no printers defined"):
        Config(source="/m")
    with pytest.raises(ConfigError, match=r"^unknown key 'path'"):
        Config(path=Path("x"), printers={"a": {"host": "a"}})


def test_variables_come_from_the_environment_in_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FARM_PW", "from-env-1")
    printer = PrinterConfig(host="h", password="${FARM_PW}")
    assert printer.password == "from-env-1"
    config = Config(defaults={"password": "${FARM_PW}"}, printers={"a": {"host": "a"}})
    assert config.printers["a"].password == "from-env-1"
    monkeypatch.delenv("FARM_PW")
    with pytest.raises(ConfigError) as info:
        PrinterConfig(host="h", api_key="${FARM_PW}")
    assert str(info.value) == "key 'api_key': ${FARM_PW} is not set in the environment"


def test_secret_files_and_relative_paths_resolve_against_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pw.txt").write_text("file-secret\n")
    (tmp_path / "pw.txt").chmod(0o600)
    monkeypatch.chdir(tmp_path)
    config = Config(
        source="gcodes", printers={"a": PrinterConfig(host="a", password_file="pw.txt")}
    )
    printer = config.printers["a"]
    assert printer.password == "file-secret" and config.source == tmp_path / "gcodes"
    assert "file-secret" not in repr(config)
    moved = with_source(config, tmp_path / "other")
    assert moved.printers["a"].source == tmp_path / "other"
    assert config.printers["a"].source == tmp_path / "gcodes"  # the original is untouched
