"""A YAML config is read with libyaml's parser when PyYAML has it (7x faster for a big
farm), and gives exactly what PyYAML's own parser gives; a file libyaml refuses is read
again by PyYAML's parser, so every error keeps its wording (tests/test_bad_input.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from link_sync.commands.init import render_config
from link_sync.config import files as config_module
from link_sync.config import load_config
from link_sync.errors import ConfigError

README = Path(__file__).parents[1] / "README.md"
DOCS = sorted((Path(__file__).parents[1] / "docs").glob("*.md"))

FARM = """\
source: ~/farm/gcodes
destination: /prints/
stale_after: 60
route: all
defaults: &defaults
  username: maker
  password: ${FARM_PASSWORD}
  timeout: 30
  accept: [MK4, "MK4S"]
printers:
  "mk4-01":
    host: 192.168.1.50
  mk4-02: {host: '192.168.1.51:8080', nozzle: 0.4}
  xl-01:
    <<: *defaults
    host: https://xl.lan
    verify: no
    source: xl
    storage: usb/
  mini-01:
    host: 192.168.1.70
    model: MINIIS
    fingerprint: >-
      AB:CD
http:
  listen: 127.0.0.1:8470
  read_only: true
  token: |
    a token
"""


def yaml_documents() -> list[str]:
    """Every kind of config the project writes or shows: a hand-written farm, `init`'s
    template (commented, and with printers), the YAML examples of the README and docs/
    (which must be valid YAML), a big farm."""
    documents = [
        FARM,
        render_config("~/farm/gcodes"),
        render_config("/srv/g", [("mk4-01", "192.168.1.50"), ("xl-01", "10.0.0.2:8080")]),
    ]
    documents += [
        block
        for page in (README, *DOCS)
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(), flags=re.DOTALL)
        if "printers:" in block
    ]
    documents.append(
        "printers:\n"
        + "".join(f"  p{i:03d}:\n    host: 10.0.{i // 250}.{i % 250 + 1}\n" for i in range(500))
    )
    return documents


def both_loaders(text: str) -> tuple[Any, Any]:
    assert config_module._FastStrictLoader is not None
    fast = yaml.load(text, Loader=config_module._FastStrictLoader)
    slow = yaml.load(text, Loader=config_module._StrictLoader)
    return fast, slow


def test_pyyaml_here_has_libyaml() -> None:
    # Without it the fast path is skipped silently; on this project's machines it exists.
    assert yaml.__with_libyaml__
    assert config_module._FastStrictLoader is not None
    assert issubclass(config_module._FastStrictLoader, yaml.CSafeLoader)


@pytest.mark.parametrize("text", yaml_documents())
def test_libyaml_reads_every_config_as_pyyaml_does(text: str) -> None:
    fast, slow = both_loaders(text)
    assert fast == slow
    assert isinstance(fast, dict) and fast


def test_a_duplicate_key_is_refused_by_both() -> None:
    text = "printers:\n  a:\n    host: x\n  a:\n    host: y\n"
    for loader in (config_module._FastStrictLoader, config_module._StrictLoader):
        with pytest.raises(yaml.constructor.ConstructorError, match="duplicate printer name 'a'"):
            yaml.load(text, Loader=loader)


def test_a_file_libyaml_refuses_is_worded_by_pyyaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libyaml words this one differently; the message stays PyYAML's, as before.
    path = tmp_path / "link-sync.yml"
    path.write_text("printers:\n  a:\n    host: x\n   b: c\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, cwd=tmp_path, environ=os.environ)
    assert "line 4, column 4: YAML syntax error" in str(raised.value)
    # The same text read by PyYAML's parser alone gives the very same message.
    monkeypatch.setattr(config_module, "_FastStrictLoader", None)
    with pytest.raises(ConfigError) as alone:
        load_config(path, cwd=tmp_path, environ=os.environ)
    assert str(raised.value) == str(alone.value)


def test_a_big_farm_is_read_with_libyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[type] = []
    real_load = yaml.load

    def spy(stream: str, Loader: type) -> Any:
        used.append(Loader)
        return real_load(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "load", spy)
    path = tmp_path / "link-sync.yml"
    path.write_text(yaml_documents()[-1])
    loaded = load_config(path, cwd=tmp_path, environ={})
    assert len(loaded.printers) == 500
    assert used == [config_module._FastStrictLoader]


def test_every_buddy_printer_in_the_examples_names_its_model() -> None:
    """A Buddy printer does not say its model, so every example config (init's template,
    the README's farms) gives `model:` to each printer that is neither a Pi PrusaLink
    (it has an API key) nor OctoPrint/Moonraker; emulator farm files are not configs."""
    checked = 0
    for text in yaml_documents()[1:-1]:  # not this file's FARM, nor the generated one
        doc = yaml.safe_load(text)
        printers = doc.get("printers") or {}
        if "source" not in doc or not isinstance(printers, dict):
            continue
        for name, entry in printers.items():
            buddy = entry.get("type", "prusalink") == "prusalink" and "api_key" not in entry
            if buddy and "# model: MK4S" not in text:  # init with hosts: a commented hint
                assert "model" in entry, f"{name} in:\n{text}"
                checked += 1
    assert checked >= 6
