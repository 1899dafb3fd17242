"""Backend bugs the suite found and that are not fixed yet, as strict xfails.

Each line names one test on one target (and parameters); its test fails today
because of a bug in src/link_sync/backends/, told to the backend's owner in
/work/team/NOTES.md. `strict`: the day the bug is fixed the test passes, the
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


KNOWN_BUGS = [
    KnownBug(
        "test_overwrite_replaces_content",
        "prusalink-0.8.1",
        "PrusaLink backend: stat() straight after an overwrite may return the old entry "
        "(0.8.1's listing lags ~1 s); the engine's upload check then fails",
        strict=False,
    ),
    *(
        KnownBug(
            test,
            "moonraker-0.11.0",
            "Moonraker backend: Moonraker answers 401 and closes the connection while the "
            "upload body is still being sent; the backend then raises Unreachable "
            "(retryable), not AuthFailed (a race: not every time)",
            strict=False,
        )
        for test in (
            "test_upload_with_wrong_credentials_is_auth_failed",
            "test_upload_after_a_refused_request_is_still_auth_failed",
        )
    ),
]


def known_bug(test: str, params: dict[str, object]) -> KnownBug | None:
    for bug in KNOWN_BUGS:
        if (
            bug.test == test
            and params.get("target") == bug.target
            and all(params.get(key) == value for key, value in bug.params.items())
        ):
            return bug
    return None
