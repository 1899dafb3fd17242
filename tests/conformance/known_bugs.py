"""Backend bugs the suite found and that are not fixed yet, as strict xfails.

Each line names one test on one target (and parameters); its test fails today
because of a bug in src/link_sync/backends/, filed as an issue for the
backend. `strict`: the day the bug is fixed the test passes, the
xfail turns into a failure, and its line here must go.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class KnownBug:
    test: str
    target: str
    reason: str
    params: dict[str, object] = field(default_factory=dict)
    #: False only where the bug shows by timing (a lagging listing)
    strict: bool = True


#: Empty: every bug the suite found is fixed. Add a line when the suite finds one.
KNOWN_BUGS: list[KnownBug] = []


def known_bug(test: str, params: dict[str, object]) -> KnownBug | None:
    for bug in KNOWN_BUGS:
        if (
            bug.test == test
            and params.get("target") == bug.target
            and all(params.get(key) == value for key, value in bug.params.items())
        ):
            return bug
    return None
