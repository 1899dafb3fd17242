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


_OCTOPRINT_STAT = (
    "OctoPrint backend: stat() of a path under a missing folder raises ServerError "
    "(OctoPrint answers 500) instead of returning None"
)
_DOT_NAMES = (
    "PrusaLink backend: check_name() accepts '.hidden.gcode', which the printer stores "
    "but never lists"
)
_DIGEST_UPLOAD = (
    "PrusaLink backend: after a 401, upload() with a wrong password raises a retryable "
    "ServerError ('authentication renewed during upload'), not AuthFailed"
)

_OCTOPRINT_NAMES = (
    "OctoPrint backend: check_name() accepts ';', '&' and '$', which OctoPrint strips from "
    "names (octoprint/util/files.py _STRIPPED_FILE_NAME_CHARS = ';|&?$*<>')"
)
_MOONRAKER_NAMES = (
    "Moonraker backend: check_name() accepts '\"' and '\\', which do not survive the "
    "multipart filename ('say %22hi%22.gcode', 'backslash.gcode' on disk)"
)
_OCTOPRINT_CSRF = (
    "OctoPrint backend: a POST or DELETE with a wrong API key gets 400 'CSRF validation "
    "failed', raised as Refused instead of AuthFailed"
)

KNOWN_BUGS = [
    KnownBug("test_stat", "octoprint-1.11.8", _OCTOPRINT_STAT),
    KnownBug("test_names_compare_as_the_capabilities_say", "octoprint-1.11.8", _OCTOPRINT_STAT),
    KnownBug(
        "test_overwrite_replaces_content",
        "prusalink-0.8.1",
        "PrusaLink backend: stat() straight after an overwrite may return the old entry "
        "(0.8.1's listing lags ~1 s); the engine's upload check then fails",
        strict=False,
    ),
    *(
        KnownBug(test, target, reason)
        for test in (
            "test_check_name_matches_what_the_printer_keeps",
            "test_accepted_names_round_trip",
        )
        for target, reason in (
            ("octoprint-1.11.8", _OCTOPRINT_NAMES),
            ("moonraker-0.11.0", _MOONRAKER_NAMES),
        )
    ),
    KnownBug(
        "test_upload_with_wrong_credentials_is_auth_failed", "octoprint-1.11.8", _OCTOPRINT_CSRF
    ),
    KnownBug(
        "test_wrong_credentials_are_auth_failed",
        "octoprint-1.11.8",
        _OCTOPRINT_CSRF,
        {"what": "delete"},
    ),
    KnownBug(
        "test_upload_after_a_refused_request_is_still_auth_failed",
        "octoprint-1.11.8",
        _OCTOPRINT_CSRF,
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
    *(
        KnownBug(test, target, _DOT_NAMES)
        for test in (
            "test_check_name_matches_what_the_printer_keeps",
            "test_accepted_names_round_trip",
        )
        for target in ("buddy-emu", "pi-emu", "prusalink-0.8.1")
    ),
    *(
        KnownBug("test_upload_after_a_refused_request_is_still_auth_failed", target, _DIGEST_UPLOAD)
        for target in ("buddy-emu", "pi-emu", "prusalink-0.8.1")
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
