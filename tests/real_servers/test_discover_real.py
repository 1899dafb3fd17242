"""What `discover` learns of real servers, with and without credentials (issue 26):
Moonraker's `/server/info`, OctoPrint and the Raspberry-Pi PrusaLink asked as a sync
asks them. (Their mDNS announcements are the emulator's business: tests/test_discover.py.)"""

from __future__ import annotations

from urllib.parse import urlsplit

from link_sync.discovery.identify import Credentials, Found, identify

from .servers import MoonrakerServer, OctoPrintServer, PrusaLinkServer


def found(url: str, type_: str, kind: str) -> Found:
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}"
    return Found(host, type_, "server", (), str(parts.hostname), int(parts.port or 80), kind=kind)


async def test_moonraker_without_a_key_and_with_one(moonraker_server: MoonrakerServer) -> None:
    printer = found(moonraker_server.url, "moonraker", "moonraker")
    [without] = await identify([printer], {})
    # this Moonraker requires its key (a trusted client would get /server/info): nothing
    # more is learnt, and that is not an error
    assert (without.identified_by, without.firmware, without.error) == ("announcement", None, None)
    [with_key] = await identify(
        [printer], {"moonraker": Credentials(api_key=moonraker_server.api_key)}
    )
    assert (with_key.identified_by, with_key.kind) == ("credentials", "moonraker")
    assert with_key.firmware == "0.11.0"
    assert with_key.model is None  # Moonraker does not know the Prusa model


async def test_octoprint_with_its_key(octoprint_server: OctoPrintServer) -> None:
    printer = found(octoprint_server.url, "octoprint", "octoprint")
    [without] = await identify([printer], {})
    assert (without.identified_by, without.firmware) == ("announcement", None)
    [with_key] = await identify(
        [printer], {"octoprint": Credentials(api_key=octoprint_server.api_key)}
    )
    assert (with_key.identified_by, with_key.kind, with_key.firmware) == (
        "credentials",
        "octoprint",
        "1.11.8",
    )
    assert with_key.model is None
    [wrong] = await identify([printer], {"octoprint": Credentials(api_key="WRONGKEY")})
    assert wrong.identified_by == "announcement" and wrong.error  # said, not raised
    assert "WRONGKEY" not in wrong.error


async def test_the_pi_names_its_model_with_credentials(prusalink_server: PrusaLinkServer) -> None:
    printer = found(prusalink_server.url, "prusalink", "prusalink-pi")
    [without] = await identify([printer], {})
    assert without.model is None  # its API answers nothing without credentials
    creds = Credentials(prusalink_server.username, prusalink_server.password, None)
    [with_creds] = await identify([printer], {"prusalink": creds})
    assert (with_creds.model, with_creds.kind) == ("MK3S", "prusalink-pi")
    assert with_creds.firmware == "0.8.1"
    assert with_creds.serial  # /api/v1/info
