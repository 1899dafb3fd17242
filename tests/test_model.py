"""The hand-written constructors of the hot paths build the same objects as the
dataclasses' own, field for field."""

from __future__ import annotations

import dataclasses

import pytest

from link_sync.core.model import RemoteEntry, remote_entry
from link_sync.engine.journal import JournalEntry, journal_entry


def test_remote_entry_sets_every_field_as_the_dataclass_does() -> None:
    names = [f.name for f in dataclasses.fields(RemoteEntry)]
    # A distinct value per field, so a field set from the wrong argument shows.
    values = ["a/b.gcode", True, 7, 8.5, "sha1:ab", "A/B~1.GCO", True, False, "/usb/B~1.GCO"]
    assert len(values) == len(names), "a field was added: extend remote_entry"
    built = remote_entry(*values)  # type: ignore[arg-type]
    assert built == RemoteEntry(*values)  # type: ignore[arg-type]
    assert [getattr(built, n) for n in names] == values
    assert built.with_path("c/b.gcode") == dataclasses.replace(built, path="c/b.gcode")


def test_journal_entry_sets_every_field_as_the_dataclass_does() -> None:
    names = [f.name for f in dataclasses.fields(JournalEntry)]
    values = ["a.gcode", 10, 20, "sha256:cd", 30.5, 11, 40.25]
    assert len(values) == len(names), "a field was added: extend journal_entry"
    built = journal_entry(*values)  # type: ignore[arg-type]
    assert built == JournalEntry(*values)  # type: ignore[arg-type]
    assert [getattr(built, n) for n in names] == values


def test_the_entries_stay_frozen() -> None:
    entry = remote_entry("a", False, None, None, None, None, False, True, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.path = "b"  # type: ignore[misc]
