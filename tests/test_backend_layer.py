"""The backend layer's own rules: the registry, Buddy/Pi chosen by probing, name rules
as data, and the one place where answers become errors."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from link_sync import errors
from link_sync.backends import (
    PRINTER_TYPES,
    buddy,
    moonraker,
    octoprint,
    open_backend,
    prusalink_pi,
)
from link_sync.backends.buddy import BuddyBackend
from link_sync.backends.http import HttpBackend
from link_sync.backends.names import NameRules, check
from link_sync.backends.octoprint import OctoPrintBackend
from link_sync.backends.prusalink_pi import PiBackend
from link_sync.config import PrinterConfig
from link_sync.emulator import PrinterSpec


def emulated(printer: Any) -> PrinterConfig:
    return PrinterConfig(
        name=printer.name,
        type="prusalink",
        host=printer.url,
        username=printer.spec.username,
        password=printer.spec.password,
        api_key=printer.spec.api_key,
    )


@pytest.mark.parametrize("type_name", sorted(PRINTER_TYPES))
def test_every_registered_type_names_an_http_backend_class(type_name: str) -> None:
    module_name, _, class_name = PRINTER_TYPES[type_name].backend.partition(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    assert issubclass(backend_class, HttpBackend)
    assert PRINTER_TYPES[type_name].description


@pytest.mark.parametrize(
    ("profile", "api_key", "backend_class", "kind"),
    [("mk4", None, BuddyBackend, "buddy"), ("mk3", "PiBackendKey-4711", PiBackend, "prusalink-pi")],
)
async def test_prusalink_is_buddy_or_pi_as_probing_shows(
    farm_factory: Any, profile: str, api_key: str | None, backend_class: type, kind: str
) -> None:
    farm = await farm_factory([PrinterSpec("p", profile=profile, api_key=api_key)])
    backend = await open_backend(emulated(farm["p"]))
    try:
        assert type(backend) is backend_class
        # Known before any call on the backend itself, and not changed by one.
        capabilities = backend.capabilities
        info = await backend.probe()
        assert info.kind == kind
        assert backend.capabilities is capabilities == backend_class.capabilities
    finally:
        await backend.aclose()


async def test_a_prusalink_without_usb_or_local_storage_is_named() -> None:
    async def storage(request: web.Request) -> web.Response:
        return web.json_response({"storage_list": [{"path": "/sdcard", "name": "SD Card"}]})

    app = web.Application()
    app.router.add_get("/api/v1/storage", storage)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    config = PrinterConfig(name="odd", type="prusalink", host=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(errors.ProtocolError, match=r"no writable storage \(found \['sdcard'\]"):
            await open_backend(config)
    finally:
        await runner.cleanup()


async def test_stat_after_upload_asks_the_printer(farm_factory: Any, tmp_path: Path) -> None:
    """Buddy answers a PUT with the file's info; stat must not answer from it."""
    farm = await farm_factory([PrinterSpec("p", profile="mk4")])
    printer = farm["p"]
    source = tmp_path / "a.gcode"
    source.write_bytes(b"G28\n" * 100)
    backend = await open_backend(emulated(printer))
    try:
        await backend.probe()
        await backend.upload("a.gcode", source, 400, overwrite=False)
        printer.requests.clear()
        entry = await backend.stat("a.gcode")
        assert entry is not None and entry.size == 400
        assert [r.method for r in printer.requests] == ["GET"]
    finally:
        await backend.aclose()


async def test_file_is_busy_is_not_a_transfer_conflict(farm_factory: Any, tmp_path: Path) -> None:
    farm = await farm_factory([PrinterSpec("p", profile="mk4", files={"x.gcode": b"G1\n" * 9})])
    printer = farm["p"]
    printer.start_print("x.gcode")
    source = tmp_path / "x.gcode"
    source.write_bytes(b"G28\n")
    backend = await open_backend(emulated(printer))
    try:
        await backend.probe()
        with pytest.raises(errors.PrinterError) as caught:
            await backend.upload("x.gcode", source, 4, overwrite=True)
        assert isinstance(caught.value, errors.FileBusy)
        assert not caught.value.retryable
    finally:
        await backend.aclose()


# --------------------------------------------------------------------------- names

BUDDY = buddy.name_rules("usb")
CASES = [
    (BUDDY, "ok/Würfel 20 mm.gcode", None),
    (BUDDY, "a:b.gcode", "FAT storage refuses: ':'"),
    (BUDDY, "dir./x.gcode", "ends with a dot or space"),
    (BUDDY, "x" * 200 + ".gcode", "path too long for the printer"),
    (prusalink_pi.NAME_RULES, "50% #2.gcode", "PrusaLink refuses: '#' '%'"),
    (prusalink_pi.NAME_RULES, "x" * 249, "longer than 248 bytes"),
    (prusalink_pi.NAME_RULES, "x" * 249 + "/a.gcode", None),  # folders may hold 255
    (octoprint.NAME_RULES, "a/what?.gcode", "OctoPrint drops from file names: '?'"),
    (octoprint.NAME_RULES, ".hidden.gcode", "hides names starting with a dot"),
    (octoprint.NAME_RULES, "com1.gcode", "'com1' is a reserved name"),
    (octoprint.NAME_RULES, "Größe #2/x.gcode", None),
    (moonraker.NAME_RULES, " a.gcode", "starts or ends with a space"),
    (moonraker.NAME_RULES, "a\x00.gcode", "Moonraker does not keep: '\\x00'"),
    (moonraker.NAME_RULES, 'say "hi".gcode', "Moonraker does not keep: '\"'"),
    (octoprint.NAME_RULES, "semi;colon $5.gcode", "OctoPrint drops from file names: '$' ';'"),
    (BUDDY, ".hidden.gcode", "never lists them"),
    (moonraker.NAME_RULES, "ok/Würfel 20 mm?.gcode", None),
]


@pytest.mark.parametrize(("rules", "path", "expected"), CASES)
def test_name_rules(rules: NameRules, path: str, expected: str | None) -> None:
    problem = check(rules, path)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


# --------------------------------------------------------------------------- registry readers


def test_init_template_help_and_readme_list_every_printer_type() -> None:
    from click.testing import CliRunner

    from link_sync.cli import main
    from link_sync.commands.init import render_config

    template = render_config("/srv/gcodes")
    help_text = CliRunner().invoke(main, ["--help"]).output
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    support = readme.split("## Printer support", 1)[1].split("\n## ", 1)[0]
    readme_types = {
        row.split("|")[2].strip().strip("`")
        for row in support.splitlines()
        if row.startswith("|") and "`" in row.split("|")[2]
    } - {"backend (`type:`)"}
    assert readme_types == set(PRINTER_TYPES)
    for printer_type in PRINTER_TYPES.values():
        line = f"{printer_type.name:<11}{printer_type.description}"
        assert line in template
        assert printer_type.name in help_text and printer_type.description in help_text


@pytest.mark.parametrize("backend_class", [OctoPrintBackend, BuddyBackend, PiBackend])
async def test_creating_a_backend_leaves_the_root_logger_alone(backend_class: type) -> None:
    import logging

    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        before = (list(root.filters), [list(h.filters) for h in root.handlers], root.level)
        printer = PrinterConfig(
            name="x", type="prusalink", host="127.0.0.1:1", password="pass-word-1", api_key="k-123"
        )
        backend = backend_class(printer)
        await backend.aclose()
        assert (list(root.filters), [list(h.filters) for h in root.handlers], root.level) == before
    finally:
        root.removeHandler(handler)


class OldBuddyDigest:
    """A printer that, like Buddy firmware before 6.0.0, takes a digest answer only with
    every parameter quoted (RFC 2069 form), and whose nonces run out on demand."""

    realm = "Printer API"
    password = "old-fw-pass"

    def __init__(self) -> None:
        self.nonce = "00000001"
        self.authorizations: list[str] = []
        self.stored: dict[str, bytes] = {}

    def verdict(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        self.authorizations.append(header)
        if not header.startswith("Digest "):
            return "challenge"
        params = dict(
            (key.strip(), value.strip())
            for key, _, value in (part.partition("=") for part in header[7:].split(","))
        )
        if any(not value.startswith('"') for value in params.values()):
            return "refused"  # the old firmware's parser wants every value quoted
        params = {key: value.strip('"') for key, value in params.items()}
        if params.get("nonce") != self.nonce:
            return "challenge"
        ha1 = _md5(f"maker:{self.realm}:{self.password}")
        ha2 = _md5(f"{request.method}:{request.raw_path}")
        ok = params.get("response") == _md5(f"{ha1}:{self.nonce}:{ha2}")
        return "ok" if ok else "challenge"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        verdict = self.verdict(request)
        if verdict != "ok":
            await request.read()
            if verdict == "refused":
                return web.Response(status=400, text="400: Bad Request\n\nBad auth header\n")
            return web.Response(
                status=401,
                headers={"WWW-Authenticate": f'Digest realm="{self.realm}", nonce="{self.nonce}"'},
            )
        if request.method == "PUT":
            self.stored[request.path] = await request.read()
            return web.Response(status=201)
        if request.path == "/api/v1/storage":
            return web.json_response({"storage_list": [{"path": "/usb/", "available": True}]})
        return web.json_response({"printer": {"state": "IDLE"}})


def _md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()


async def _serve(handler: Any) -> tuple[web.AppRunner, PrinterConfig]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    config = PrinterConfig(
        name="old", type="prusalink", host=f"http://127.0.0.1:{port}", password="old-fw-pass"
    )
    return runner, config


async def test_digest_answers_quote_the_algorithm_as_old_buddy_firmware_needs() -> None:
    printer = OldBuddyDigest()
    runner, config = await _serve(printer.handle)
    try:
        backend = await open_backend(config)
        try:
            assert (await backend.status()).state == "IDLE"
        finally:
            await backend.aclose()
    finally:
        await runner.cleanup()
    answers = [a for a in printer.authorizations if a.startswith("Digest ")]
    assert answers and all('algorithm="MD5"' in a for a in answers)


async def test_a_nonce_that_runs_out_is_renewed_before_an_upload_not_during_it(
    tmp_path: Path,
) -> None:
    printer = OldBuddyDigest()
    runner, config = await _serve(printer.handle)
    source = tmp_path / "part.gcode"
    source.write_bytes(b"G1 X1\n" * 50_000)
    try:
        backend = await open_backend(config)
        try:
            await backend.status()
            printer.nonce = "00000002"  # the old one is no longer taken
            backend._client.auth.challenged_at = 0.0  # type: ignore[attr-defined]
            await backend.upload("part.gcode", source, source.stat().st_size, overwrite=False)
            assert printer.stored["/api/v1/files/usb/part.gcode"] == source.read_bytes()
            # An upload met by a new challenge is not sent again with an empty body.
            printer.nonce = "00000003"
            with pytest.raises(errors.ServerError, match="authentication renewed"):
                await backend.upload("again.gcode", source, source.stat().st_size, overwrite=False)
            assert "/api/v1/files/usb/again.gcode" not in printer.stored
        finally:
            await backend.aclose()
    finally:
        await runner.cleanup()


async def test_a_pi_names_its_printed_file_without_the_storage_label_before_any_probe(
    farm_factory: Any,
) -> None:
    # The run reads the state while it probes; the job's path ("/PrusaLink gcodes/...")
    # must lose its storage label even when the status answer comes first, or the
    # printed file is not recognised and could be replaced (seen under load).
    files = {"prints/job.gcode": b"G28\n" * 10}
    spec = PrinterSpec(
        "p",
        profile="mk3",
        api_key="PiJobKey-4711",
        files=files,
        state="PRINTING",
        job_file="prints/job.gcode",
    )
    farm = await farm_factory([spec])
    backend = await open_backend(emulated(farm["p"]))
    try:
        status = await backend.status()  # no probe yet
        assert status.job_path == "prints/job.gcode"
    finally:
        await backend.aclose()
