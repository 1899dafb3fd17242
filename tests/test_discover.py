"""Finding a farm (issue 26): `discover`, `init --discover` and `emulate --announce`.

The end-to-end tests run the real thing in a private network namespace the test makes
(`unshare -n`: loopback up, multicast routed to it): three emulated printers (an MK4,
a MINI, the Pi's MK3S) announce themselves as their firmware does, and link-sync's
commands run as a user would (tests/discovery_netns.py). No packet leaves the machine:
multicast is only ever sent inside that namespace. The pure parts (merging
announcements, hostnames, adding to a config without re-serialising it) are tables.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from link_sync.commands.init_discover import add_to_file, insert_printers, model_lines
from link_sync.discovery.browse import Sighting
from link_sync.discovery.hostnames import family_of
from link_sync.discovery.identify import Found, merge, unique_names

HERE = Path(__file__).resolve().parent


# -- the real thing, in a network namespace of its own --------------------------------------


def namespace_refused() -> str | None:
    """Why the kernel refuses this process a private network namespace, or None. A
    missing tool is a failure, not a skip: it would leave discovery unchecked."""
    for tool, package in (("unshare", "util-linux"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: apt-get install {package} (.ci/run installs it)")
    done = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if done.returncode != 0:
        return f"the kernel refuses a private network namespace: {done.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def netns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    why = namespace_refused()
    if why is not None:
        pytest.skip(why)
    out = tmp_path_factory.mktemp("netns")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        ["unshare", "-n", sys.executable, str(HERE / "discovery_netns.py"), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    assert results["emulator_code"] == 0, results["emulator_stderr"]
    return results


def by_port(results: dict[str, Any], document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entries of a discover document, by the emulated printer's name."""
    port_to_name = {url.rsplit(":", 1)[1]: name for name, url in results["urls"].items()}
    return {port_to_name[p["host"].rsplit(":", 1)[1]]: p for p in document["printers"]}


def test_discover_finds_each_announcing_printer_once_as_prusalink(netns: dict[str, Any]) -> None:
    done = netns["discover_json"]
    assert done["code"] == 0, done["stderr"]
    found = by_port(netns, json.loads(done["stdout"]))
    assert set(found) == {"mk4-1", "mini-1", "mk3-1"}  # the Pi's three services: one entry
    assert {p["type"] for p in found.values()} == {"prusalink"}
    for name, printer in found.items():
        assert f"http://{printer['host']}" == netns["urls"][name]
    # Buddy: named by the firmware's default hostname, which names the MINI's family
    mini, mk4, pi = found["mini-1"], found["mk4-1"], found["mk3-1"]
    assert (mini["hostname"], mini["name"], mini["kind"]) == ("prusa-mini", "prusa-mini", "buddy")
    assert mini["model"] is None and mini["suggested_model"] == "MINI"
    assert mk4["model"] is None and mk4["suggested_model"] is None
    assert mk4["model_choices"] == ["MK4", "MK4S", "MK3.9"]  # prusa-mk4 cannot decide
    assert pi["kind"] == "prusalink-pi" and pi["hostname"] == "mk3-1"
    # it announces _http._tcp too, which discover does not browse
    assert pi["services"] == ["_octoprint._tcp", "_prusalink._tcp"]
    assert pi["model"] is None  # the Pi's API answers nothing without credentials


def test_discover_with_credentials_names_the_pis_model(netns: dict[str, Any]) -> None:
    found = by_port(netns, json.loads(netns["discover_credentials"]["stdout"]))
    assert found["mk3-1"]["model"] == "MK3S"
    assert found["mk3-1"]["identified_by"] == "credentials"
    assert found["mk3-1"]["firmware"]
    assert found["mini-1"]["model"] is None  # a Buddy printer never says it
    assert found["mini-1"]["suggested_model"] == "MINI"
    assert found["mini-1"]["serial"].startswith("EMU")  # /api/v1/info, with credentials


def test_discover_uses_the_credentials_of_a_config_naming_the_same_host(
    netns: dict[str, Any],
) -> None:
    done = netns["discover_config"]  # emulate --config-out's file, no FARM_PASSWORD
    assert done["code"] == 0, done["stderr"]
    found = by_port(netns, json.loads(done["stdout"]))
    assert found["mk3-1"]["model"] == "MK3S"
    assert {p["identified_by"] for p in found.values()} == {"credentials"}
    assert "maker-pass" not in done["stdout"] + done["stderr"]


def test_printers_of_one_default_hostname_are_each_announced_and_found(
    netns: dict[str, Any],
) -> None:
    xls = netns["two_xls"]
    printers = json.loads(xls["discover"]["stdout"])["printers"]
    hosts = {f"http://{p['host']}": p for p in printers}
    assert set(xls["urls"]) | set(netns["urls"].values()) == set(hosts)  # five, each once
    found = [hosts[url] for url in xls["urls"]]
    assert sorted(p["name"] for p in found) == ["prusa-xl", "prusa-xl-2"]
    assert {p["suggested_model"] for p in found} == {"XL"}


def test_discover_prints_a_table(netns: dict[str, Any]) -> None:
    lines = netns["discover_plain"]["stdout"].splitlines()
    assert lines[0].split() == ["NAME", "HOST", "TYPE", "MODEL", "FIRMWARE", "SERIAL/UUID"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"prusa-mk4", "prusa-mini", "mk3-1"}
    assert "MINI?" in rows["prusa-mini"]
    assert "MK4 / MK4S / MK3.9?" in rows["prusa-mk4"]


def test_init_discover_in_an_empty_folder_writes_all_three(netns: dict[str, Any]) -> None:
    assert netns["init_empty"]["code"] == 0, netns["init_empty"]["stderr"]
    text = netns["config_written"]
    config = yaml.safe_load(text)
    printers = config["printers"]
    assert set(printers) == {"prusa-mk4", "prusa-mini", "mk3-1"}
    hosts = {f"http://{p['host']}" for p in printers.values()}
    assert hosts == set(netns["urls"].values())
    assert config["defaults"]["password"] == "${FARM_PASSWORD}"  # a reference, no secret
    assert "maker-pass" not in text
    assert printers["mk3-1"]["model"] == "MK3S"  # the Pi says it (FARM_PASSWORD was set)
    assert printers["prusa-mini"]["model"] == "MINI"  # its default hostname decides
    assert "model" not in printers["prusa-mk4"]  # prusa-mk4 does not: a line to complete
    assert "# model: MK4   # complete: one of MK4, MK4S, MK3.9" in text


def test_the_written_config_plans_with_routing_said(netns: dict[str, Any]) -> None:
    plan = netns["plan_json"]
    assert plan["code"] == 0, plan["stderr"]
    routing = {p["name"]: p["routing"] for p in json.loads(plan["stdout"])["printers"]}
    assert routing == {"prusa-mk4": "off", "prusa-mini": "model", "mk3-1": "model"}
    assert (
        plan["stderr"]
        .splitlines()[-1]
        .endswith(
            "routing is off for prusa-mk4: its model is unknown, so it gets every file; "
            "set model: for it in the config"
        )
    )


def test_init_discover_on_a_terminal_asks_each_buddy_printers_model(
    netns: dict[str, Any],
) -> None:
    terminal = netns["terminal"]
    assert terminal["code"] == 0
    printers = yaml.safe_load(terminal["config"])["printers"]
    assert printers["prusa-mini"]["model"] == "MINI"  # the suggestion, taken with Enter
    assert printers["prusa-mk4"]["model"] == "MK4S"  # typed "mk4s" after a wrong "MK5"
    assert printers["mk3-1"]["model"] == "MK3S"  # the Pi says it: not asked


def test_init_discover_again_adds_nothing(netns: dict[str, Any]) -> None:
    assert netns["init_again"]["code"] == 0, netns["init_again"]["stderr"]
    assert "added 0 printer(s)" in netns["init_again"]["stdout"]
    assert "(3 already in it)" in netns["init_again"]["stdout"]
    assert netns["config_after_again"] == netns["config_written"]


def test_init_discover_adds_to_an_existing_file_keeping_it_as_it_was(
    netns: dict[str, Any],
) -> None:
    done = netns["init_existing"]
    assert done["code"] == 0, done["stderr"]
    assert "added 2 printer(s)" in done["stdout"] and "(1 already in it)" in done["stdout"]
    before, after = netns["existing_before"], netns["existing_after"]
    # every line of the file is still there, in order, comments included
    kept = [line for line in after.splitlines() if line in before.splitlines()]
    assert kept == before.splitlines()
    config = yaml.safe_load(after)
    assert set(config["printers"]) == {"bench-mini", "prusa-mk4", "mk3-1"}  # MINI: same host
    assert config["route"] == "model"
    assert after.rstrip().endswith("route: model   # keep routing on")


def test_emulate_announce_prints_its_lines_only_once_announced(netns: dict[str, Any]) -> None:
    # the discover run right after the emulator's lines found all three at once
    assert len(json.loads(netns["discover_json"]["stdout"])["printers"]) == 3
    assert "Traceback" not in netns["emulator_stderr"]


# -- pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hostname", "choices"),
    [
        ("prusa-mini", ("MINI",)),
        ("PRUSA-XL.local", ("XL",)),
        ("prusa-core-one", ("COREONE",)),
        ("prusa-mk3-5", ("MK3.5",)),
        ("prusa-ix", ("iX",)),
        ("prusa-mk4", ("MK4", "MK4S", "MK3.9")),
        ("prusa-mini-2", ("MINI",)),  # made unique on the network
        ("prusa-mini (2)", ("MINI",)),
        ("farm-mini-3", None),  # renamed by its owner: says nothing
        ("prusa-minis", None),
        ("", None),
    ],
)
def test_a_default_hostname_names_its_family(
    hostname: str, choices: tuple[str, ...] | None
) -> None:
    family = family_of(hostname)
    assert (family.choices if family else None) == choices
    if family is not None:
        assert family.model == (choices[0] if len(choices) == 1 else None)


def sighting(service: str, instance: str, port: int = 80, **kw: Any) -> Sighting:
    return Sighting(f"_{service}._tcp.local.", instance, kw.pop("address", "10.0.0.5"), port, **kw)


def test_one_printer_under_several_service_types_is_one_entry() -> None:
    found = merge(
        [
            sighting("octoprint", "PrusaLink at pi-mk3", server="pi-mk3", txt={"path": "/"}),
            sighting("prusalink", "PrusaLink at pi-mk3", server="pi-mk3", txt={"path": "/"}),
            sighting("prusalink", "prusa-xl", address="10.0.0.6", server="prusa-xl"),
            sighting(
                "octoprint",
                "octopi",
                5000,
                address="10.0.0.7",
                server="octopi",
                txt={"version": "1.11.8", "model": "Original Prusa MK3S", "path": "/"},
            ),
            sighting(
                "moonraker", "voron", 7125, address="10.0.0.8", server="voron", txt={"uuid": "ab12"}
            ),
        ]
    )
    assert [(f.name, f.host, f.type, f.kind) for f in found] == [
        ("octopi", "10.0.0.7:5000", "octoprint", "octoprint"),
        ("pi-mk3", "10.0.0.5", "prusalink", "prusalink-pi"),
        ("prusa-xl", "10.0.0.6", "prusalink", "buddy"),
        ("voron", "10.0.0.8:7125", "moonraker", "moonraker"),
    ]
    octopi, _, xl, voron = found
    assert octopi.firmware == "1.11.8" and octopi.suggested_model == "MK3S"
    assert octopi.model is None  # OctoPrint's profile is a suggestion, not the printer's word
    assert xl.suggested_model == "XL"
    assert voron.uuid == "ab12"
    assert json.loads(json.dumps(xl.to_json()))["model"] is None


def test_names_are_hostnames_made_unique() -> None:
    two = [
        Found("10.0.0.1", "prusalink", "prusa-mk4", (), "10.0.0.1", 80),
        Found("10.0.0.2", "prusalink", "prusa-mk4", (), "10.0.0.2", 80),
        Found("10.0.0.3", "prusalink", "Prusa MINI!", (), "10.0.0.3", 80),
    ]
    names = [f.name for f in unique_names(two, taken=["prusa-mk4-2"])]
    assert names == ["prusa-mk4", "prusa-mk4-3", "prusa-mini"]


def test_without_a_terminal_an_undecided_model_is_a_commented_line() -> None:
    mk4 = Found("10.0.0.1", "prusalink", "prusa-mk4", (), "10.0.0.1", 80, kind="buddy")
    renamed = Found("10.0.0.2", "prusalink", "farm-07", (), "10.0.0.2", 80, kind="buddy")
    mini = Found("10.0.0.3", "prusalink", "prusa-mini", (), "10.0.0.3", 80, kind="buddy")
    assert model_lines(mk4, None)[0].startswith("# model: MK4   # complete: one of MK4, MK4S")
    assert model_lines(renamed, None)[0].startswith("# model: MK4S   # complete:")
    assert model_lines(mini, None)[0].startswith("model: MINI   # from its default hostname")
    # on a terminal the answer is written, whatever the hostname suggests
    assert model_lines(mk4, lambda printer, suggestion: "MK4S") == ["model: MK4S"]


def test_adding_to_a_file_keeps_its_comments_and_other_keys(tmp_path: Path) -> None:
    path = tmp_path / "farm.yml"
    text = (
        "source: /srv/g   # NAS\nprinters:\n    # first\n    a:\n        host: 10.0.0.1\n"
        "    # trailing comment of the block\n\n# about route\nroute: all\n"
    )
    path.write_text(text)
    path.chmod(0o640)
    new = [
        Found("10.0.0.1", "prusalink", "prusa-xl", (), "10.0.0.1", 80, kind="buddy", name="x"),
        Found(
            "10.0.0.9", "moonraker", "voron", (), "10.0.0.9", 7125, kind="moonraker", name="voron"
        ),
    ]
    assert add_to_file(path, new, None) == (1, 1)  # 10.0.0.1 is there already
    after = path.read_text()
    config = yaml.safe_load(after)
    assert config["route"] == "all" and set(config["printers"]) == {"a", "voron"}
    assert config["printers"]["voron"] == {"host": "10.0.0.9", "type": "moonraker"}
    assert after.startswith(text.split("    # trailing")[0])
    assert "    voron:\n        # found as voron\n" in after  # the block's own indent
    assert "# about route\nroute: all\n" in after
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_printer_whose_address_changed_is_known_by_its_serial(tmp_path: Path) -> None:
    path = tmp_path / "farm.yml"
    path.write_text("printers:\n  xl:\n    # found as prusa-xl, serial SN123\n    host: 10.0.0.1\n")
    moved = Found("10.0.0.7", "prusalink", "prusa-xl", (), "10.0.0.7", 80, serial="SN123")
    other = Found("10.0.0.8", "prusalink", "prusa-xl", (), "10.0.0.8", 80, serial="SN999")
    assert add_to_file(path, [moved, replace(other, name="prusa-xl")], None) == (1, 1)
    after = path.read_text()
    assert "10.0.0.7" not in after
    assert "# found as prusa-xl, serial SN999\n" in after


def test_a_file_without_printers_gets_a_block_and_a_flow_mapping_is_refused(
    tmp_path: Path,
) -> None:
    assert insert_printers("source: x", lambda indent: f"{indent}a:\n").endswith(
        "source: x\nprinters:\n  a:\n"
    )
    path = tmp_path / "farm.yml"
    path.write_text("printers: {a: {host: 10.0.0.1}}\n")
    found = [Found("10.0.0.2", "prusalink", "b", (), "10.0.0.2", 80, name="b")]
    from link_sync.errors import UsageError

    with pytest.raises(UsageError, match="add them by hand"):
        add_to_file(path, found, None)
    assert path.read_text() == "printers: {a: {host: 10.0.0.1}}\n"
