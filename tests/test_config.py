"""Config loading: discovery, formats, schema, ${VAR}, secrets, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pydantic
import pytest

from link_sync.config import (
    Config,
    PrinterConfig,
    load_config,
    normalize_destination,
    normalize_host,
    select_printers,
    with_source,
)
from link_sync.errors import ConfigError, UsageError

CONTRACT_EXAMPLE = """\
source: ~/farm/gcodes          # the master folder
destination: /                 # folder on each printer that link-sync manages
stale_after: 60                # seconds a local file may be newer than the printer's copy
defaults:                      # any printer key, applied to every printer
  username: maker
  password: ${FARM_PASSWORD}   # ${VAR} is read from the environment
printers:
  mk4-01:
    host: 192.168.1.50         # host, host:port, or http(s)://host[:port]
  xl-01:
    host: 192.168.1.60
    source: xl                 # per-printer master: relative to `source`, or absolute
  mk3-01:
    host: 192.168.1.70:8080
    username: maker
    password: ${MK3_DIGEST_PASSWORD}
    api_key: ${MK3_API_KEY}
"""

ENV = {
    "FARM_PASSWORD": "farm-secret-1",
    "MK3_DIGEST_PASSWORD": "digest-secret-2",
    "MK3_API_KEY": "apikey-secret-3",
}
SECRETS = tuple(ENV.values())


def write(folder: Path, name: str, text: str, mode: int = 0o600) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def load(folder: Path, text: str, name: str = "link-sync.yml", **env: str) -> Config:
    write(folder, name, text)
    return load_config(Path(name), cwd=folder, environ={**ENV, **env})


def error_of(folder: Path, text: str, name: str = "link-sync.yml", **env: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(folder, text, name, **env)
    message = str(info.value)
    assert "\n" not in message
    for secret in SECRETS:
        assert secret not in message
    return message


# --------------------------------------------------------------------------- the contract


def test_contract_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load(tmp_path, CONTRACT_EXAMPLE)

    master = tmp_path / "home" / "farm" / "gcodes"
    assert config.path == tmp_path / "link-sync.yml"
    assert config.source == master
    assert config.destination == ""
    assert config.stale_after == 60.0
    assert list(config.printers) == ["mk4-01", "xl-01", "mk3-01"]
    assert config.warnings == []

    mk4, xl, mk3 = config.printers.values()
    assert mk4 == PrinterConfig(
        name="mk4-01",
        type="prusalink",
        host="192.168.1.50",
        username="maker",
        password="farm-secret-1",
        source=master,
        destination="",
    )
    assert mk4.base_url == "http://192.168.1.50"
    assert xl.source == master / "xl"
    assert mk3.base_url == "http://192.168.1.70:8080"
    assert mk3.password == "digest-secret-2"
    assert mk3.api_key == "apikey-secret-3"
    assert mk4.api_key is None


def self_signed_pem(folder: Path) -> str:
    """A real certificate: `ca_file` must hold one that ssl can load."""
    key, cert = folder / "ca.key", folder / "ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=farm-ca",
         "-days", "2", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert.read_text()


def test_all_printer_keys(tmp_path: Path) -> None:
    ca = write(tmp_path, "farm-ca.pem", self_signed_pem(tmp_path))
    fingerprint = "AB:" * 31 + "AB"
    config = load(
        tmp_path,
        f"""
source: master
printers:
  p:
    host: https://printer.local
    type: octoprint
    username: u
    password: pw
    api_key: key
    source: /abs/master
    destination: /prints/p/
    storage: /usb/
    verify: false
    ca_file: {ca.name}
    fingerprint: "{fingerprint}"
""",
    )
    printer = config.printers["p"]
    assert printer.type == "octoprint"
    assert printer.base_url == "https://printer.local"
    assert printer.source == Path("/abs/master")
    assert printer.destination == "prints/p"
    assert printer.storage == "usb"
    assert printer.verify is False
    assert printer.ca_file == ca
    assert printer.fingerprint == "ab" * 32


def test_defaults_apply_and_printers_override(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
destination: /all
defaults: {username: maker, verify: false, destination: /shared, type: moonraker}
printers:
  a: {host: a}
  b: {host: b, username: other, destination: own, verify: true}
""",
    )
    a, b = config.printers["a"], config.printers["b"]
    assert (a.username, a.verify, a.destination, a.type) == ("maker", False, "shared", "moonraker")
    assert (b.username, b.verify, b.destination) == ("other", True, "own")
    assert config.destination == "all"


def test_top_level_destination_is_the_printer_default(tmp_path: Path) -> None:
    config = load(tmp_path, "destination: /prints/\nprinters: {a: {host: a}}\n")
    assert config.printers["a"].destination == "prints"


def test_numbers_are_accepted_as_text(tmp_path: Path) -> None:
    config = load(tmp_path, "printers: {a: {host: a, username: 1000, password: 123456}}\n")
    assert config.printers["a"].password == "123456"
    assert config.printers["a"].username == "1000"


@pytest.mark.parametrize("value", ["30", "2.5", "0"])
def test_stale_after_numbers(tmp_path: Path, value: str) -> None:
    config = load(tmp_path, f"stale_after: {value}\nprinters: {{a: {{host: a}}}}\n")
    assert config.stale_after == float(value)


# --------------------------------------------------------------------------- discovery


def test_discovery_prefers_explicit_then_env_then_cwd(tmp_path: Path) -> None:
    for name in ("link-sync.yml", "other.yml", "env.yml"):
        write(tmp_path, name, f"printers: {{{name.split('.')[0]}: {{host: h}}}}\n")

    explicit = load_config(Path("other.yml"), cwd=tmp_path, environ={"LINK_SYNC_CONFIG": "x"})
    from_env = load_config(
        None, cwd=tmp_path, environ={"LINK_SYNC_CONFIG": str(tmp_path / "env.yml")}
    )
    found = load_config(None, cwd=tmp_path, environ={})

    assert list(explicit.printers) == ["other"]
    assert explicit.path == tmp_path / "other.yml"
    assert list(from_env.printers) == ["env"]
    assert list(found.printers) == ["link-sync"]


@pytest.mark.parametrize(
    ("present", "chosen"),
    [
        (["printers.yml", "link-sync.json"], "link-sync.json"),
        (["printers.yml", "link-sync.toml", "link-sync.yaml"], "link-sync.yaml"),
        (["printers.yml", "link-sync.toml"], "link-sync.toml"),
        (["printers.yml"], "printers.yml"),
    ],
)
def test_discovery_order_in_cwd(tmp_path: Path, present: list[str], chosen: str) -> None:
    bodies = {
        ".yml": "a:\n  host: h\n",
        ".yaml": "printers: {a: {host: h}}\n",
        ".toml": "[printers.a]\nhost = 'h'\n",
        ".json": '{"printers": {"a": {"host": "h"}}}',
    }
    for name in present:
        write(tmp_path, name, bodies[Path(name).suffix])
    assert load_config(None, cwd=tmp_path, environ={}).path.name == chosen


def test_no_config_found_mentions_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"link-sync init"):
        load_config(None, cwd=tmp_path, environ={})


def test_explicit_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^nope\.yml: config file not found"):
        load_config(Path("nope.yml"), cwd=tmp_path, environ={})


def test_explicit_folder(tmp_path: Path) -> None:
    (tmp_path / "dir.yml").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(Path("dir.yml"), cwd=tmp_path, environ={})


# --------------------------------------------------------------------------- formats


def test_toml_and_json_equal_yaml(tmp_path: Path) -> None:
    yml = load(tmp_path, "stale_after: 5\nprinters:\n  a: {host: 'a:81', verify: false}\n")
    toml = load(
        tmp_path, "stale_after = 5\n[printers.a]\nhost = 'a:81'\nverify = false\n", "c.toml"
    )
    doc = {"stale_after": 5, "printers": {"a": {"host": "a:81", "verify": False}}}
    jsn = load(tmp_path, json.dumps(doc), "c.json")
    for other in (toml, jsn):
        assert other.printers == yml.printers
        assert other.stale_after == yml.stale_after == 5.0


def test_unknown_extension_is_read_as_yaml(tmp_path: Path) -> None:
    write(tmp_path, "farm.conf", "printers: {a: {host: a}}\n")
    config = load_config(tmp_path / "farm.conf", cwd=tmp_path, environ={})
    assert config.printers["a"].base_url == "http://a"


def test_seed_format(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
mk4-a:
  printer_type: MK4
  host: http://127.0.0.1:8081
  username: maker
  password: pw-a
xl-b:
  printer_type: XL
  host: http://127.0.0.1:8082
  username: maker
  password: pw-b
""",
        "printers.yml",
    )
    assert list(config.printers) == ["mk4-a", "xl-b"]
    a = config.printers["mk4-a"]
    assert (a.type, a.base_url, a.username, a.password) == (
        "prusalink",
        "http://127.0.0.1:8081",
        "maker",
        "pw-a",
    )
    assert a.source is None and config.source is None
    assert a.destination == ""
    # printer_type names the model, which routing needs (Buddy printers do not say it)
    assert (a.model, config.printers["xl-b"].model) == ("MK4", "XL")


def test_seed_printer_type_of_no_known_model_sets_none(tmp_path: Path) -> None:
    text = "a:\n  printer_type: {}\n  host: http://a\n  username: maker\n  password: pw\n"
    for given, model in (("mk3.9", "MK3.9"), ("MINIIS", "MINI"), ("Voron", None), ("", None)):
        config = load(tmp_path, text.format(given or "''"), "printers.yml")
        assert config.printers["a"].model == model, given


def test_top_level_keys_rule_out_the_seed_format(tmp_path: Path) -> None:
    message = error_of(tmp_path, "defaults:\n  host: h\n")
    assert message == "link-sync.yml: no printers defined; add a 'printers:' section"


def test_defaults_with_password_and_password_file(tmp_path: Path) -> None:
    message = error_of(
        tmp_path, "defaults: {password: x, password_file: f}\nprinters: {a: {host: a}}\n"
    )
    assert message == "link-sync.yml: defaults: set 'password' or 'password_file', not both"


def test_seed_format_checks_keys(tmp_path: Path) -> None:
    message = error_of(tmp_path, "mk4:\n  host: h\n  pasword: x\n")
    assert (
        message == "link-sync.yml: printer 'mk4': unknown key 'pasword' (did you mean 'password'?)"
    )


# --------------------------------------------------------------------------- hosts


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("192.168.1.50", "http://192.168.1.50"),
        ("192.168.1.50:8080", "http://192.168.1.50:8080"),
        ("http://Printer.LOCAL", "http://printer.local"),
        ("https://h:8443/", "https://h:8443"),
        ("HTTPS://h", "https://h"),
        ("http://h:80", "http://h"),
        ("https://h:443", "https://h"),
        ("  mk4-01.farm  ", "http://mk4-01.farm"),
        ("[::1]:8080", "http://[::1]:8080"),
        ("http://[fe80::1]", "http://[fe80::1]"),
    ],
)
def test_host_normalised(host: str, url: str) -> None:
    assert normalize_host(host) == url


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("h:99999", "invalid port"),
        ("h:0", "invalid port"),
        ("h:abc", "invalid port"),
        ("h:", "invalid port"),
        ("ftp://h", "http:// or https://"),
        ("h/api", "without a path"),
        ("http://h/prusa", "without a path"),
        ("http://h?x=1", "without a path"),
        ("http://user:pw@h", "user name or password"),
        ("bad host", "not a valid host"),
        ("http://:8080", "no host name"),
    ],
)
def test_bad_host(host: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalize_host(host)


def test_bad_host_in_file_names_printer_and_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers:\n  mk4-01: {host: '10.0.0.5:70000'}\n")
    assert message.startswith("link-sync.yml: printer 'mk4-01': key 'host' ")
    assert "invalid port" in message


def test_host_with_credentials_is_not_echoed(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers: {p: {host: 'http://maker:farm-secret-1@h'}}\n")
    assert "printer 'p': key 'host'" in message


# --------------------------------------------------------------------------- destination


@pytest.mark.parametrize(
    ("value", "normal"),
    [("/", ""), ("", ""), ("/prints/", "prints"), ("a//b///c", "a/b/c"), ("./a/./b", "a/b")],
)
def test_destination_normalised(value: str, normal: str) -> None:
    assert normalize_destination(value) == normal


def test_destination_with_dotdot_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers: {p: {host: h, destination: 'a/../../b'}}\n")
    assert (
        message == "link-sync.yml: printer 'p': key 'destination' 'a/../../b' must not contain '..'"
    )
    top = error_of(tmp_path, "destination: ../x\nprinters: {p: {host: h}}\n")
    assert top == "link-sync.yml: key 'destination' '../x' must not contain '..'"


# --------------------------------------------------------------------------- schema errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "printers:\n  mk4-01: {hots: 1.2.3.4}\n",
            "printer 'mk4-01': unknown key 'hots' (did you mean 'host'?)",
        ),
        ("printers:\n  x: {username: maker}\n", "printer 'x': missing 'host'"),
        ("printers:\n  x:\n", "printer 'x': missing 'host'"),
        ("stale_after: soon\nprinters: {a: {host: a}}\n", "key 'stale_after' must be a number"),
        ("stale_after: -1\nprinters: {a: {host: a}}\n", "key 'stale_after' must not be negative"),
        ("stale_after: true\nprinters: {a: {host: a}}\n", "key 'stale_after' must be a number"),
        (
            "printers: {a: {host: a, verify: 'no'}}\n",
            "printer 'a': key 'verify' must be true or false",
        ),
        (
            "printers: {a: {host: a, type: klipper}}\n",
            "printer 'a': key 'type' must be one of prusalink, octoprint, moonraker",
        ),
        ("printers: {a: {host: [a, b]}}\n", "printer 'a': key 'host' must be text"),
        ("printers: {a: {host: a}}\nsorce: x\n", "unknown key 'sorce' (did you mean 'source'?)"),
        ("defaults: {usrname: m}\nprinters: {a: {host: a}}\n", "defaults: unknown key 'usrname'"),
        ("printers: [a, b]\n", "key 'printers' must be a mapping"),
        (
            "printers: {a: [host]}\n",
            "printer 'a': must be a mapping of keys (host, ...), not a list",
        ),
        ("printers: {}\n", "no printers defined"),
        ("source: /m\n", "no printers defined"),
        ("- a\n- b\n", "must be a mapping of settings (source, printers, ...), not a list"),
        ("just text\n", "must be a mapping of settings (source, printers, ...), not a text"),
        ("", "the config file is empty; write one with `link-sync init`"),
        ("# only a comment\n", "the config file is empty"),
    ],
)
def test_schema_errors_are_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(tmp_path, text).startswith(f"link-sync.yml: {expected}")


def test_several_problems_are_counted(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers: {a: {host: a, x: 1, y: 2, z: 3}}\n")
    assert message == "link-sync.yml: printer 'a': unknown key 'x' (and 2 more problems)"


def test_wrong_type_for_secret_does_not_echo_it(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers: {a: {host: a, password: [farm-secret-1]}}\n")
    assert message == "link-sync.yml: printer 'a': key 'password' must be text"


def test_password_and_password_file_together(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers: {a: {host: a, password: x, password_file: f}}\n")
    assert message == "link-sync.yml: printer 'a': set 'password' or 'password_file', not both"


# --------------------------------------------------------------------------- syntax errors


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers:\n  a:\n    host: [unclosed\n  b: {host: b}\n")
    assert message.startswith("link-sync.yml: line ")
    assert "YAML syntax error" in message


def test_yaml_bad_indent_line_number(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers:\n  a:\n    host: a\n   bad: x\n")
    assert message.startswith("link-sync.yml: line 4, column 4: YAML syntax error")


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[printers.a]\nhost = 'a'\nverify = \n", "c.toml")
    assert message.startswith("c.toml: TOML syntax error")
    assert "line 3" in message


def test_json_syntax_error_has_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, '{\n "printers": {\n  "a": {"host": "a",}\n }\n}', "c.json")
    assert message.startswith("c.json: line 3, column ")
    assert "JSON syntax error" in message


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "link-sync.yml").write_bytes(b"printers: {a: {host: \xff}}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(None, cwd=tmp_path, environ={})


# --------------------------------------------------------------------------- duplicates


def test_duplicate_printer_names_in_yaml(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers:\n  mk4-01: {host: a}\n  mk4-01: {host: b}\n")
    assert message == (
        "link-sync.yml: line 3, column 3: YAML syntax error: duplicate printer name 'mk4-01'"
    )


def test_duplicate_keys_in_yaml(tmp_path: Path) -> None:
    top = error_of(tmp_path, "source: a\nsource: b\nprinters: {p: {host: h}}\n")
    assert top == "link-sync.yml: line 2, column 1: YAML syntax error: duplicate key 'source'"
    inner = error_of(tmp_path, "printers:\n  p:\n    host: a\n    host: b\n")
    assert inner.endswith("line 4, column 5: YAML syntax error: duplicate key 'host'")


def test_duplicate_printers_in_seed_format(tmp_path: Path) -> None:
    message = error_of(tmp_path, "a:\n  host: h\nb:\n  host: h\na:\n  host: h2\n")
    assert "line 5" in message and "duplicate key 'a'" in message


def test_yaml_merge_keys_are_allowed(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "defaults: &c {username: maker}\nprinters:\n  a:\n    <<: *c\n    username: own\n"
        "    host: a\n",
    )
    assert config.printers["a"].username == "own"


def test_duplicate_printer_names_in_json(tmp_path: Path) -> None:
    text = '{"printers": {"a": {"host": "x"}, "a": {"host": "y"}}}'
    assert error_of(tmp_path, text, "c.json") == "c.json: duplicate key 'a'"


def test_duplicate_printer_tables_in_toml(tmp_path: Path) -> None:
    text = "[printers.a]\nhost = 'x'\n[printers.a]\nhost = 'y'\n"
    message = error_of(tmp_path, text, "c.toml")
    assert message.startswith("c.toml: TOML syntax error") and "line 3" in message


# --------------------------------------------------------------------------- ${VAR}


def test_undefined_variable_names_variable_file_printer_key(tmp_path: Path) -> None:
    text = "printers:\n  mk3-01: {host: h, api_key: '${NOT_SET}'}\n"
    assert error_of(tmp_path, text) == (
        "link-sync.yml: printer 'mk3-01': key 'api_key': ${NOT_SET} is not set in the environment"
    )


def test_undefined_variable_in_defaults_and_top_level(tmp_path: Path) -> None:
    in_defaults = error_of(tmp_path, "defaults: {password: '${PW}'}\nprinters: {a: {host: a}}\n")
    assert (
        in_defaults
        == "link-sync.yml: defaults: key 'password': ${PW} is not set in the environment"
    )
    top = error_of(tmp_path, "source: '${MASTER}/g'\nprinters: {a: {host: a}}\n")
    assert top == "link-sync.yml: key 'source': ${MASTER} is not set in the environment"


def test_variables_substituted_in_any_string(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "source: ${ROOT}/master\nprinters:\n  a:\n"
        "    host: ${SUBNET}.7:${PORT}\n    username: u-${X}\n",
        ROOT="/srv",
        SUBNET="10.1.2",
        PORT="8081",
        X="",
    )
    assert config.source == Path("/srv/master")
    assert config.printers["a"].base_url == "http://10.1.2.7:8081"
    assert config.printers["a"].username == "u-"


def test_variable_values_are_not_parsed_again(tmp_path: Path) -> None:
    config = load(tmp_path, "printers: {a: {host: a, password: '${PW}'}}\n", PW="${FARM_PASSWORD}")
    assert config.printers["a"].password == "${FARM_PASSWORD}"


# --------------------------------------------------------------------------- secrets


def test_password_file_and_api_key_file(tmp_path: Path) -> None:
    write(tmp_path, "pw.txt", "file-secret\n")
    (tmp_path / "keys").mkdir()
    write(tmp_path / "keys", "mk3.key", "key-secret\r\n")
    config = load(
        tmp_path,
        "printers:\n  a: {host: a, password_file: pw.txt, api_key_file: keys/mk3.key}\n",
    )
    assert config.printers["a"].password == "file-secret"
    assert config.printers["a"].api_key == "key-secret"
    assert config.warnings == []


def test_printer_password_file_overrides_defaults_password(tmp_path: Path) -> None:
    write(tmp_path, "pw.txt", "own\n")
    config = load(
        tmp_path,
        "defaults: {password: '${FARM_PASSWORD}'}\n"
        "printers:\n  a: {host: a, password_file: pw.txt}\n  b: {host: b}\n",
    )
    assert config.printers["a"].password == "own"
    assert config.printers["b"].password == "farm-secret-1"


def test_unreadable_password_file(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers: {a: {host: a, password_file: missing.txt}}\n")
    assert message.startswith("link-sync.yml: printer 'a': key 'password_file': cannot read ")
    assert "missing.txt" in message


def test_exposed_config_with_literal_secret_warns(tmp_path: Path) -> None:
    write(tmp_path, "link-sync.yml", "printers: {a: {host: a, password: plain}}\n", 0o644)
    config = load_config(None, cwd=tmp_path, environ={})
    assert len(config.warnings) == 1
    assert "readable by other users" in config.warnings[0]
    assert "chmod 600" in config.warnings[0]
    assert "plain" not in config.warnings[0]


def test_private_config_or_variables_only_do_not_warn(tmp_path: Path) -> None:
    write(tmp_path, "link-sync.yml", "printers: {a: {host: a, password: plain}}\n", 0o600)
    assert load_config(None, cwd=tmp_path, environ={}).warnings == []
    write(tmp_path, "link-sync.yml", "printers: {a: {host: a, password: '${PW}'}}\n", 0o644)
    assert load_config(None, cwd=tmp_path, environ={"PW": "x"}).warnings == []
    write(tmp_path, "link-sync.yml", "printers: {a: {host: a}}\n", 0o644)
    assert load_config(None, cwd=tmp_path, environ={}).warnings == []


def test_exposed_password_file_warns(tmp_path: Path) -> None:
    write(tmp_path, "pw.txt", "s\n", 0o640)
    config = load(tmp_path, "printers: {a: {host: a, password_file: pw.txt}}\n")
    assert len(config.warnings) == 1 and "pw.txt" in config.warnings[0]


def test_secrets_never_in_repr(tmp_path: Path) -> None:
    config = load(tmp_path, CONTRACT_EXAMPLE)
    for text in (repr(config), str(config), repr(config.printers["mk3-01"])):
        for secret in SECRETS:
            assert secret not in text
    assert "maker" in repr(config)  # the repr still shows what is not secret


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load(tmp_path, CONTRACT_EXAMPLE)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        config.printers["mk4-01"].password = "x"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        config.source = None  # type: ignore[misc]


# --------------------------------------------------------------------------- https


def test_fingerprint_formats(tmp_path: Path) -> None:
    digest = "0123456789abcdef" * 4
    config = load(
        tmp_path,
        f"printers:\n  a: {{host: 'https://a', fingerprint: 'sha256/{digest.upper()}'}}\n"
        f"  b: {{host: 'https://b', fingerprint: '{digest}'}}\n",
    )
    assert config.printers["a"].fingerprint == digest
    assert config.printers["b"].fingerprint == digest


def test_bad_fingerprint(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers: {a: {host: 'https://a', fingerprint: abc}}\n")
    assert message == (
        "link-sync.yml: printer 'a': key 'fingerprint' must be the SHA-256 "
        "of the certificate (64 hex digits)"
    )


def test_missing_ca_file(tmp_path: Path) -> None:
    message = error_of(tmp_path, "printers: {a: {host: 'https://a', ca_file: ca.pem}}\n")
    assert message.startswith("link-sync.yml: printer 'a': key 'ca_file': ")
    assert "ca.pem is not a readable file" in message


def test_pinning_on_http_warns(tmp_path: Path) -> None:
    config = load(tmp_path, f"printers: {{a: {{host: a, fingerprint: '{'e' * 64}'}}}}\n")
    assert config.warnings == [
        "link-sync.yml: printer 'a': 'fingerprint' is ignored for an http:// host"
    ]


# --------------------------------------------------------------------------- sources


def test_relative_source_is_relative_to_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    write(
        folder, "farm.yml", "source: gcodes\nprinters: {a: {host: a}, b: {host: b, source: ../x}}\n"
    )
    config = load_config(Path("conf/farm.yml"), cwd=tmp_path, environ={})
    assert config.source == folder / "gcodes"
    assert config.printers["b"].source == folder / "x"


def test_no_source_anywhere(tmp_path: Path) -> None:
    config = load(tmp_path, "printers: {a: {host: a}, b: {host: b, source: /abs}}\n")
    assert config.source is None
    assert config.printers["a"].source is None
    assert config.printers["b"].source == Path("/abs")


def test_printer_source_without_top_source_is_relative_to_config(tmp_path: Path) -> None:
    config = load(tmp_path, "printers: {a: {host: a, source: xl}}\n")
    assert config.printers["a"].source == tmp_path / "xl"


def test_tilde_expanded_in_printer_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load(tmp_path, "source: /m\nprinters: {a: {host: a, source: ~/own}}\n")
    assert config.printers["a"].source == tmp_path / "own"


def test_with_source_reresolves_relative_printer_sources(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "source: /old\nprinters:\n"
        "  {a: {host: a}, b: {host: b, source: xl}, c: {host: c, source: /c}}\n",
    )
    new = with_source(config, tmp_path / "new")
    assert new.source == tmp_path / "new"
    assert new.printers["a"].source == tmp_path / "new"
    assert new.printers["b"].source == tmp_path / "new" / "xl"
    assert new.printers["c"].source == Path("/c")
    assert config.printers["b"].source == Path("/old/xl")  # the original is untouched


def test_with_relative_source_uses_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(tmp_path, "printers: {a: {host: a}}\n")
    monkeypatch.chdir(tmp_path)
    assert with_source(config, Path("m")).printers["a"].source == tmp_path / "m"


# --------------------------------------------------------------------------- selection


@pytest.fixture
def farm(tmp_path: Path) -> Config:
    return load(tmp_path, "printers: {a: {host: a}, b: {host: b}, c: {host: c}, d: {host: d}}\n")


def names(printers: list[PrinterConfig]) -> list[str]:
    return [printer.name for printer in printers]


def test_select_all(farm: Config) -> None:
    assert names(select_printers(farm, [], [])) == ["a", "b", "c", "d"]


def test_select_include_keeps_config_order(farm: Config) -> None:
    assert names(select_printers(farm, ["c", "a", "c"], [])) == ["a", "c"]


def test_select_exclude(farm: Config) -> None:
    assert names(select_printers(farm, [], ["b"])) == ["a", "c", "d"]
    assert names(select_printers(farm, ["a", "b"], ["b"])) == ["a"]


@pytest.mark.parametrize(("include", "exclude"), [(["zz"], []), ([], ["zz"])])
def test_select_unknown_name(farm: Config, include: list[str], exclude: list[str]) -> None:
    with pytest.raises(UsageError) as info:
        select_printers(farm, include, exclude)
    assert not isinstance(info.value, ConfigError)
    assert str(info.value) == "unknown printer 'zz' (printers in link-sync.yml: a, b, c, d)"


def test_environment_is_not_read_implicitly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONLY_IN_OS", "x")
    assert "ONLY_IN_OS" in os.environ
    message = error_of(tmp_path, "printers: {a: {host: a, password: '${ONLY_IN_OS}'}}\n")
    assert "${ONLY_IN_OS} is not set" in message


def test_ca_file_without_a_certificate_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, "farm-ca.pem", "-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="holds no usable certificate"):
        load(
            tmp_path,
            "printers:\n  p:\n    host: https://127.0.0.1:1\n    ca_file: farm-ca.pem\n",
        )
