"""0.2.5's command line read as today's `sync` / `plan` (the pure translation)."""

from __future__ import annotations

import pytest

from link_sync.errors import UsageError
from link_sync.legacy_cli import is_legacy, translate


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["-c", "printers.yml", "-s", "/nas/gcodes", "-d", "/usb/", "-g"],
            ["sync", "-c", "printers.yml", "-s", "/nas/gcodes", "--destination", "/usb/"],
        ),
        (
            ["-c", "printers.yml", "-s", "/nas/gcodes", "-d", "/usb/prints"],
            ["plan", "-c", "printers.yml", "-s", "/nas/gcodes", "--destination", "/usb/prints"],
        ),
        (
            ["--config=p.yml", "--source", "m", "--destination=/usb/", "--go"],
            ["sync", "--config", "p.yml", "--source", "m", "--destination", "/usb/"],
        ),
        (
            ["-cp.yml", "-sm", "-d/usb/"],
            ["plan", "-c", "p.yml", "-s", "m", "--destination", "/usb/"],
        ),
        (
            ["-s", "m", "-p", "mk4-01", "mk4-02", "-x", "xl", "-g", "--ignore-state"],
            ["sync", "-s", "m", "-p", "mk4-01", "-p", "mk4-02", "-x", "xl", "--include-busy"],
        ),
        (
            ["-s", "m", "--printer", "a", "--exclude", "b", "-g", "--json", "--max-delete", "3"],
            ["sync", "-s", "m", "-p", "a", "-x", "b", "--json", "--max-delete", "3"],
        ),
    ],
)
def test_the_original_command_lines_become_sync_or_plan(
    args: list[str], expected: list[str]
) -> None:
    assert is_legacy(args)
    assert translate(args).args == expected


def test_the_hint_names_the_new_command_and_quiet_silences_it() -> None:
    loud = translate(["-c", "printers.yml", "-s", "/nas/gcodes", "-d", "/usb/", "-g"])
    assert loud.hint == (
        "the 0.2.5 command line; this is "
        "'link-sync sync -c printers.yml -s /nas/gcodes --destination /usb/'"
    )
    assert not loud.quiet
    assert translate(["-s", "m", "-q", "-g"]).quiet
    spaced = translate(["-s", "/nas/my gcodes", "-g"])
    assert spaced.hint.endswith("'link-sync sync -s '/nas/my gcodes''")


@pytest.mark.parametrize(
    "args", [[], ["sync", "-c", "x"], ["--help"], ["-h"], ["--version"], ["-V"], ["demo"]]
)
def test_todays_command_lines_are_left_alone(args: list[str]) -> None:
    assert not is_legacy(args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "m", "-r", "/nas"], "-r/--relative-to is not supported"),
        (["-s"], "option -s needs a value"),
        (["-s", "m", "-p", "-g"], "option -p needs a printer name"),
    ],
)
def test_what_cannot_be_translated_is_a_usage_error(args: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        translate(args)
