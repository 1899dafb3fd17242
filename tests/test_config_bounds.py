"""A config cannot make link-sync blow up (issue 29, faults 9 and 17): a YAML alias bomb
is refused before it is expanded, on either YAML parser; a config error quotes a value
cut short."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from link_sync.config import files as config_files
from link_sync.config import load_config
from link_sync.config.yaml_bounds import MAX_NODES, TooLarge, check_expanded_size
from link_sync.errors import ConfigError


def alias_bomb(levels: int) -> str:
    """A config whose `model:` stands for 9**levels strings (9 levels: 387,420,489)."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        below = f"*l{level - 1}"
        lines.append(f"l{level}: &l{level} [{','.join([below] * 9)}]")
    lines.append(f'printers: {{mk4: {{host: "127.0.0.1", model: *l{levels - 1}}}}}')
    return "\n".join(lines) + "\n"


def _limit_memory() -> None:  # the old code would take the machine's memory, not just fail
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _plan(config: Path, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "link_sync", "plan", "-c", str(config)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=30,
        preexec_fn=_limit_memory,
    )
    return out, time.monotonic() - started


def test_a_9_level_alias_bomb_is_refused_with_exit_2_within_10_s(tmp_path: Path) -> None:
    config = tmp_path / "bomb.yml"
    config.write_text(alias_bomb(9))
    assert len(config.read_bytes()) < 600
    out, seconds = _plan(config, tmp_path)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert "refused: its aliases expand to more than 200,000 values" in out.stderr
    assert out.stdout == ""
    assert seconds < 10, seconds


@pytest.mark.parametrize("parser", ["libyaml", "python"])
def test_both_yaml_parsers_refuse_an_alias_bomb_and_a_self_reference(
    parser: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if parser == "python":
        monkeypatch.setattr(config_files, "_FastStrictLoader", None)
    else:
        assert config_files._FastStrictLoader is not None  # the machine has libyaml
    config = tmp_path / "link-sync.yml"
    for text, words in (
        (alias_bomb(6), "expand to more than"),  # 9**6 = 531,441 values
        ('a: &a [1, *a]\nprinters: {mk4: {host: "127.0.0.1"}}\n', "refers to itself"),
    ):
        config.write_text(text)
        with pytest.raises(ConfigError, match=words):
            load_config(config, cwd=tmp_path, environ={})


def test_ordinary_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    config = tmp_path / "link-sync.yml"
    config.write_text(
        "defaults: &d {username: maker}\n"
        "printers:\n"
        "  a: {<<: *d, host: 127.0.0.1}\n"
        "  b: {<<: *d, host: 127.0.0.2}\n"
    )
    loaded = load_config(config, cwd=tmp_path, environ={})
    assert [p.username for p in loaded.printers.values()] == ["maker", "maker"]


def test_the_expanded_size_counts_each_use_of_a_shared_node() -> None:
    node = yaml.compose(alias_bomb(3))
    assert node is not None
    # 3 levels: l0 = 1 + 9, l1 = 1 + 9 * 10, l2 = 1 + 9 * 91; used twice (anchor, model)
    assert check_expanded_size(node) > 2 * (1 + 9 * 91)
    with pytest.raises(TooLarge):
        check_expanded_size(yaml.compose(alias_bomb(7)))  # type: ignore[arg-type]
    assert MAX_NODES >= 100_000


@pytest.mark.parametrize(
    "printer",
    [
        {"host": "127.0.0.1", "model": "M" * 1_000_000},
        {"host": "127.0.0.1", "k" * 1_000_000: 1},
        {"host": "h " * 500_000},
    ],
    ids=["model", "key", "host"],
)
def test_a_config_error_quotes_a_value_cut_short(
    tmp_path: Path, printer: dict[str, object]
) -> None:
    config = tmp_path / "link-sync.yml"
    config.write_text(yaml.safe_dump({"printers": {"mk4": printer}}))
    out, _ = _plan(config, tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr) < 400, len(out.stderr)
    assert "…" in out.stderr and "printer 'mk4'" in out.stderr
