"""Security: TLS for https:// printers (verification, `ca_file:`, `verify: false`, pinned
fingerprints) and secrets kept out of every output.

TLS is tested against real TLS servers on 127.0.0.1: a TLS-terminating proxy in front
of an emulated printer, with certificates made by the `openssl` command line tool.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from link_sync import errors, redact
from link_sync.backends import open_backend
from link_sync.backends.tls import connector_ssl, normalize_fingerprint, tls_settings
from link_sync.config import PrinterConfig
from link_sync.emulator import Farm, PrinterSpec
from link_sync.emulator.testing import BackgroundFarm

PASSWORD = "Pw-9f2b7cQx-SECRET"
API_KEY = "Key-4d81eZt-SECRET"
PI_PASSWORD = "PiPw-77ab3Lm-SECRET"
WRONG_PASSWORD = "Wrong-51c0Vr-SECRET"
WRONG_KEY = "WrongKey-a93eKp-SECRET"
ALL_SECRETS = (PASSWORD, API_KEY, PI_PASSWORD, WRONG_PASSWORD, WRONG_KEY)


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Cert:
    pem: Path
    key: Path

    @property
    def fingerprint(self) -> str:
        der = ssl.PEM_cert_to_DER_cert(self.pem.read_text())
        return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Certs:
    ca: Cert  # a private CA
    signed: Cert  # 127.0.0.1, signed by `ca`
    self_signed: Cert  # 127.0.0.1, self-signed (a printer's own certificate)
    impostor: Cert  # 127.0.0.1, self-signed, another key


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
_LEAF_EXT = (
    "subjectAltName=IP:127.0.0.1\n"
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature\n"
    "extendedKeyUsage=serverAuth\n"
    "subjectKeyIdentifier=hash\n"
    "authorityKeyIdentifier=keyid\n"
)


def _self_signed(folder: Path, name: str) -> Cert:
    _openssl(
        "req", "-x509", *_EC, "-days", "2", "-subj", f"/CN={name}",
        "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", f"{name}.key", "-out", f"{name}.pem",
        cwd=folder,
    )  # fmt: skip
    return Cert(folder / f"{name}.pem", folder / f"{name}.key")


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if shutil.which("openssl") is None:
        # Not a skip: the TLS promises would go unchecked; CI installs it (.ci/run).
        pytest.fail("the openssl command makes the test certificates: apt-get install openssl")
    folder = tmp_path_factory.mktemp("certs")
    _openssl(
        "req", "-x509", *_EC, "-days", "2", "-subj", "/CN=link-sync test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", "ca.key", "-out", "ca.pem",
        cwd=folder,
    )  # fmt: skip
    (folder / "leaf.ext").write_text(_LEAF_EXT)
    _openssl(
        "req", "-new", *_EC, "-subj", "/CN=127.0.0.1",
        "-keyout", "signed.key", "-out", "signed.csr",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "signed.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "leaf.ext", "-out", "signed.pem",
        cwd=folder,
    )  # fmt: skip
    return Certs(
        ca=Cert(folder / "ca.pem", folder / "ca.key"),
        signed=Cert(folder / "signed.pem", folder / "signed.key"),
        self_signed=_self_signed(folder, "printer"),
        impostor=_self_signed(folder, "impostor"),
    )


# --------------------------------------------------------------------------- a TLS printer


class TlsProxy:
    """TLS on 127.0.0.1 in front of a plain-HTTP emulated printer.

    Records every byte clients send after the handshake, so a test can prove that
    nothing at all (no header, no digest answer) reached a server.
    """

    def __init__(self, upstream_port: int, cert: Cert) -> None:
        self.upstream_port = upstream_port
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.use_cert(cert)
        self.received = bytearray()
        self.handshakes = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    def use_cert(self, cert: Cert) -> None:
        """Present `cert` from the next handshake on."""
        self.context.load_cert_chain(cert.pem, cert.key)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> TlsProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.drop_connections()
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    def drop_connections(self) -> None:
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pump(reader, up_writer, record=True), self._pump(up_reader, writer)
        )

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bool = False
    ) -> None:
        try:
            while data := await reader.read(65536):
                if record:
                    self.received += data
                writer.write(data)
                await writer.drain()
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@contextlib.asynccontextmanager
async def tls_printer(cert: Cert, profile: str = "mk4") -> AsyncIterator[tuple[Any, TlsProxy]]:
    spec = PrinterSpec(
        "secure",
        profile=profile,
        password=PI_PASSWORD if profile == "mk3" else PASSWORD,
        api_key=API_KEY if profile == "mk3" else None,
    )
    async with Farm([spec]) as farm, TlsProxy(farm["secure"].port, cert) as proxy:
        yield farm["secure"], proxy


def printer_config(url: str, profile: str = "mk4", **tls: Any) -> PrinterConfig:
    pi = profile == "mk3"
    return PrinterConfig(
        name="secure",
        type="prusalink",
        host=url,
        username="maker",
        password=PI_PASSWORD if pi else PASSWORD,
        api_key=API_KEY if pi else None,
        **tls,
    )


async def probe(config: PrinterConfig) -> str:
    """The printer's hostname (the firmware's default), through the real backend."""
    backend = await open_backend(config)
    try:
        info = await backend.probe()
        await backend.status()
        return info.extra.get("hostname") or "?"
    finally:
        await backend.aclose()


async def probe_error(config: PrinterConfig) -> errors.PrinterError:
    with pytest.raises(errors.PrinterError) as caught:
        await probe(config)
    return caught.value


# --------------------------------------------------------------------------- TLS


async def test_self_signed_certificate_is_refused_by_default(certs: Certs) -> None:
    async with tls_printer(certs.self_signed) as (printer, proxy):
        exc = await probe_error(printer_config(proxy.url))
    assert isinstance(exc, errors.AuthFailed)  # not retried, not "unreachable"
    assert "TLS certificate not trusted" in str(exc)
    assert "use ca_file: or fingerprint: in the config" in str(exc)
    assert proxy.received == b""
    assert printer.requests == []


async def test_ca_file_trusts_a_private_ca(certs: Certs) -> None:
    async with tls_printer(certs.signed) as (printer, proxy):
        assert await probe(printer_config(proxy.url, ca_file=certs.ca.pem)) == "prusa-mk4"
        # The same certificate without the CA is not trusted.
        exc = await probe_error(printer_config(proxy.url))
    assert "TLS certificate not trusted" in str(exc)
    assert printer.requests


async def test_ca_file_does_not_trust_other_certificates(certs: Certs) -> None:
    async with tls_printer(certs.self_signed) as (printer, proxy):
        exc = await probe_error(printer_config(proxy.url, ca_file=certs.ca.pem))
    assert "TLS certificate not trusted" in str(exc)
    assert printer.requests == []


async def test_ca_file_that_is_not_a_certificate_fails_that_printer_cleanly(
    certs: Certs, tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    async with tls_printer(certs.signed) as (printer, proxy):
        exc = await probe_error(printer_config(proxy.url, ca_file=bogus))
    assert isinstance(exc, errors.AuthFailed)
    assert f"cannot load ca_file {bogus}" in str(exc)
    assert printer.requests == []


async def test_verify_false_accepts_a_self_signed_certificate(certs: Certs) -> None:
    async with tls_printer(certs.self_signed) as (_, proxy):
        assert await probe(printer_config(proxy.url, verify=False)) == "prusa-mk4"


@pytest.mark.parametrize("spelling", ["plain", "colons"])
async def test_matching_fingerprint_pins_a_self_signed_certificate(
    certs: Certs, spelling: str
) -> None:
    pin = certs.self_signed.fingerprint
    if spelling == "colons":  # as `openssl x509 -fingerprint -sha256` prints it
        pin = ":".join(pin[i : i + 2] for i in range(0, 64, 2)).upper()
    async with tls_printer(certs.self_signed) as (printer, proxy):
        assert await probe(printer_config(proxy.url, fingerprint=pin)) == "prusa-mk4"
    assert printer.requests


@pytest.mark.parametrize("profile", ["mk4", "mk3"])  # digest password; X-Api-Key
async def test_mismatching_fingerprint_sends_nothing(certs: Certs, profile: str) -> None:
    async with tls_printer(certs.impostor, profile) as (printer, proxy):
        config = printer_config(proxy.url, profile, fingerprint=certs.self_signed.fingerprint)
        exc = await probe_error(config)
        await asyncio.sleep(0.05)  # let the proxy see anything that might have been sent
    assert isinstance(exc, errors.AuthFailed)
    assert "does not match the configured fingerprint" in str(exc)
    assert certs.impostor.fingerprint in str(exc)  # what to pin, if the change was intended
    assert proxy.handshakes >= 1  # the server was reached...
    assert proxy.received == b""  # ...but not one request byte went to it
    assert printer.requests == []


async def test_a_pin_is_not_weakened_by_verify_false(certs: Certs) -> None:
    async with tls_printer(certs.impostor) as (_, proxy):
        config = printer_config(proxy.url, verify=False, fingerprint=certs.self_signed.fingerprint)
        exc = await probe_error(config)
    assert "does not match the configured fingerprint" in str(exc)
    assert proxy.received == b""


async def test_the_pin_is_checked_on_every_new_connection(certs: Certs) -> None:
    async with tls_printer(certs.self_signed) as (_, proxy):
        config = printer_config(proxy.url, fingerprint=certs.self_signed.fingerprint)
        backend = await open_backend(config)
        try:
            await backend.probe()
            seen = len(proxy.received)
            assert seen > 0
            # An impostor takes over the address; the kept-alive connections drop.
            proxy.use_cert(certs.impostor)
            proxy.drop_connections()
            await asyncio.sleep(0.05)
            with pytest.raises(errors.AuthFailed, match="does not match"):
                await backend.status()
            assert len(proxy.received) == seen
        finally:
            await backend.aclose()


def test_the_connections_check_what_each_printers_tls_settings_say() -> None:
    pinned = tls_settings(printer_config("https://127.0.0.1:1", fingerprint="ab" * 32))
    check = connector_ssl(pinned)
    assert isinstance(check, aiohttp.Fingerprint)  # compared after every handshake
    assert check.fingerprint == bytes.fromhex("ab" * 32)
    verified = connector_ssl(tls_settings(printer_config("https://127.0.0.1:1")))
    assert isinstance(verified, ssl.SSLContext)
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
    off = connector_ssl(tls_settings(printer_config("https://127.0.0.1:1", verify=False)))
    assert isinstance(off, ssl.SSLContext) and off.verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize(
    "text",
    [
        "AB:" * 31 + "AB",
        "sha256/" + "ab" * 32,
        "  " + "Ab" * 32 + " ",
    ],
)
def test_fingerprint_spellings(text: str) -> None:
    assert normalize_fingerprint(text) == "ab" * 32


@pytest.mark.parametrize("text", ["", "ab" * 31, "zz" * 32, "ab" * 33])
def test_bad_fingerprints_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="64 hex digits"):
        normalize_fingerprint(text)


# --------------------------------------------------------------------------- redaction


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _log_secrets(name: str) -> None:
    log = logging.getLogger(name)
    log.setLevel(logging.DEBUG)
    log.warning("header X-Api-Key: %s, auth %r", API_KEY, {"password": PASSWORD})
    try:
        raise RuntimeError(f"failed with {PASSWORD}")
    except RuntimeError:
        log.exception("boom")


@pytest.mark.parametrize("name", redact.OWN_LOGGERS)
def test_link_syncs_own_log_records_never_carry_a_registered_secret(name: str) -> None:
    handler = _ListHandler()  # the application's handler: link-sync does not touch it
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        redact.register(PASSWORD, API_KEY, None, "")
        _log_secrets(name)
    finally:
        root.removeHandler(handler)
    assert handler.filters == []
    text = "\n".join(handler.lines)
    assert "header X-Api-Key: ***" in text
    assert "RuntimeError: failed with ***" in text
    assert PASSWORD not in text and API_KEY not in text


def test_the_clis_handlers_mask_secrets_in_any_librarys_records() -> None:
    handler = _ListHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        redact.register(PASSWORD, API_KEY, None, "")
        redact.install([handler])  # what the CLI does with the handlers it creates
        _log_secrets("httpcore.some.deep.child")
    finally:
        root.removeHandler(handler)
    text = "\n".join(handler.lines)
    assert "header X-Api-Key: ***" in text
    assert "RuntimeError: failed with ***" in text
    assert PASSWORD not in text and API_KEY not in text


async def test_a_printer_echoing_credentials_does_not_get_them_printed() -> None:
    async def echo(request: web.Request) -> web.Response:
        key = request.headers.get("X-Api-Key", "")
        return web.json_response({"message": f"bad key {key}"}, status=403)

    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)  # whatever it is asked first
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        exc = await probe_error(printer_config(f"http://127.0.0.1:{port}", "mk3"))
    finally:
        await runner.cleanup()
    assert isinstance(exc, errors.AuthFailed)
    assert "bad key ***" in str(exc)
    assert API_KEY not in str(exc)


def test_redact_masks_longest_secrets_first() -> None:
    assert redact.redact("a=abcdef b=abcd", ["abcd", "abcdef"]) == "a=*** b=***"


# --------------------------------------------------------------------------- CLI output


@dataclass
class SecretFarm:
    farm: Farm
    folder: Path
    master: Path

    def config(self, *, wrong: bool = False) -> Path:
        """A config reaching both printers, secrets given in all three ways."""
        suffix = "wrong" if wrong else "right"
        secret_file = self.folder / f"pi-password-{suffix}"
        secret_file.write_text((WRONG_PASSWORD if wrong else PI_PASSWORD) + "\n")
        secret_file.chmod(0o600)
        config = {
            "source": str(self.master),
            "printers": {
                "mk4-a": {
                    "host": self.farm["mk4-a"].url,
                    "username": "maker",
                    "password": WRONG_PASSWORD if wrong else PASSWORD,  # literal
                },
                "mk3-b": {
                    "host": self.farm["mk3-b"].url,
                    "username": "maker",
                    "password_file": str(secret_file),
                    "api_key": "${LS_TEST_API_KEY}",
                },
            },
        }
        path = self.folder / f"link-sync-{suffix}.yml"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def env(self, *, wrong: bool = False) -> dict[str, str]:
        return {
            **os.environ,
            "LS_TEST_API_KEY": WRONG_KEY if wrong else API_KEY,
            "LINK_SYNC_STATE_DIR": str(self.folder / "state"),
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }


@pytest.fixture(scope="module")
def secret_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretFarm]:
    folder = tmp_path_factory.mktemp("secret-farm")
    master = folder / "master"
    (master / "parts").mkdir(parents=True)
    (master / "benchy.gcode").write_bytes(b"G28\n" * 1000)
    (master / "parts" / "clip.gcode").write_bytes(b"G1 X1\n" * 500)
    specs = [
        PrinterSpec("mk4-a", profile="mk4", password=PASSWORD),
        PrinterSpec("mk3-b", profile="mk3", password=PI_PASSWORD, api_key=API_KEY),
    ]
    with BackgroundFarm(specs) as farm:
        yield SecretFarm(farm, folder, master)


def run_cli(
    args: Sequence[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "link_sync", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def assert_no_secret(out: subprocess.CompletedProcess[str]) -> None:
    for secret in ALL_SECRETS:
        assert secret not in out.stdout, f"{secret} on stdout"
        assert secret not in out.stderr, f"{secret} on stderr"
    assert "Traceback" not in out.stdout + out.stderr, out.stdout + out.stderr


MODES = {
    "plain": [],
    "json": ["--json"],
    "verbose": ["-v"],
    "json-verbose": ["--json", "-v"],
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("command", ["sync", "plan", "status", "pull"])
def test_no_secret_in_cli_output(secret_farm: SecretFarm, command: str, mode: str) -> None:
    into = ["--into", str(secret_farm.folder / "pulled")] if command == "pull" else []
    out = run_cli(
        [command, "-c", str(secret_farm.config()), *into, *MODES[mode]],
        secret_farm.env(),
        secret_farm.folder,
    )
    assert_no_secret(out)
    assert out.returncode in (0, 1), out.stderr  # 1: status of a printer not yet in sync
    if command == "sync":
        assert out.returncode == 0, out.stdout + out.stderr
    if "json" in mode:
        document = json.loads(out.stdout)
        assert {p["name"] for p in document["printers"]} == {"mk4-a", "mk3-b"}
    if "verbose" in mode:
        assert "/api/" in out.stderr  # the HTTP trace is there, and redacted


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("command", ["sync", "status"])
def test_no_secret_in_cli_output_with_wrong_credentials(
    secret_farm: SecretFarm, command: str, mode: str
) -> None:
    out = run_cli(
        [command, "-c", str(secret_farm.config(wrong=True)), *MODES[mode]],
        secret_farm.env(wrong=True),
        secret_farm.folder,
    )
    assert_no_secret(out)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "wrong password or API key" in text


# --------------------------------------------------------------------------- TLS, end to end


class BackgroundTls:
    """An emulated printer behind a TLS proxy, on a loop in a thread."""

    def __init__(self, cert: Cert, password: str) -> None:
        self.cert = cert
        self.password = password
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._stack = contextlib.AsyncExitStack()

    def __enter__(self) -> tuple[Any, TlsProxy]:
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> tuple[Any, TlsProxy]:
        farm = await self._stack.enter_async_context(
            Farm([PrinterSpec("tls-1", profile="mk4", password=self.password)])
        )
        proxy = await self._stack.enter_async_context(TlsProxy(farm["tls-1"].port, self.cert))
        return farm["tls-1"], proxy

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stack.aclose(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.mark.parametrize("pinned", [False, True])
def test_cli_sync_over_tls(certs: Certs, tmp_path: Path, pinned: bool) -> None:
    master = tmp_path / "master"
    master.mkdir()
    (master / "part.gcode").write_bytes(b"G28\n" * 100)
    with BackgroundTls(certs.self_signed, PASSWORD) as (printer, proxy):
        entry: dict[str, Any] = {"host": proxy.url, "username": "maker", "password": PASSWORD}
        if pinned:  # colon-separated upper case, as browsers and openssl show it
            fp = certs.self_signed.fingerprint.upper()
            entry["fingerprint"] = ":".join(fp[i : i + 2] for i in range(0, 64, 2))
        config = tmp_path / "link-sync.yml"
        config.write_text(yaml.safe_dump({"source": str(master), "printers": {"tls-1": entry}}))
        config.chmod(0o600)
        env = {**os.environ, "LINK_SYNC_STATE_DIR": str(tmp_path / "state"), "NO_COLOR": "1"}
        out = run_cli(["sync", "-c", str(config), "-v"], env, tmp_path)
        files = printer.files()
    assert_no_secret(out)
    if pinned:
        assert out.returncode == 0, out.stdout + out.stderr
        assert "part.gcode" in {Path(name).name.lower() for name in files}
    else:
        assert out.returncode == 1
        assert "TLS certificate not trusted" in out.stdout + out.stderr
        assert "use ca_file: or fingerprint: in the config" in out.stdout + out.stderr
        assert files == {}
        assert proxy.received == b""
