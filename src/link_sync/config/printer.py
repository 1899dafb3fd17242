"""One printer's settings (`PrinterConfig`) and `watch --http`'s (`HttpConfig`).

Each key of the config file is a field, with its default written here and
nowhere else, and its check; a bad value raises `ConfigError` naming the key
(and the printer). `password`, `api_key` and the HTTP token stay out of repr.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from link_sync.backends.registry import DEFAULT_TYPE, PRINTER_TYPES, type_names
from link_sync.config.hosts import normalize_destination, normalize_host
from link_sync.config.variables import check_secret_pairs, context_of, substitute
from link_sync.config.wording import reword
from link_sync.core.printer_models import normalize_model
from link_sync.errors import ConfigError

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")

StrPath = str | os.PathLike[str]
Text = Annotated[str, Field(strict=True)]
Seconds = Annotated[float, Field(strict=True, gt=0, le=3600, allow_inf_nan=False)]
Interval = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]


class PrinterConfig(BaseModel):
    """One printer's settings, with the config file's keys as keyword arguments.

    Checked on construction (a bad value raises `ConfigError` naming the key).
    Inside a `Config` it is resolved: `name` is its key in `printers`, `defaults`
    are merged in, `source`, `ca_file` are absolute, secrets from `*_file` are in
    `password` / `api_key`, `destination` is the managed folder ("" = storage root).
    `password`, `api_key` are kept out of repr.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    #: required: `192.168.1.50`, `192.168.1.50:8080`, `https://printer.lan`
    host: Text
    #: `prusalink` (Buddy firmware or Raspberry-Pi PrusaLink), `octoprint`, `moonraker`
    type: str = DEFAULT_TYPE
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    password_file: Path | None = None
    api_key: str | None = Field(default=None, repr=False)
    api_key_file: Path | None = None
    #: this printer's master folder: relative to the config's `source`, or absolute
    source: Path | None = None
    #: the managed folder on the printer (None: the config's `destination`)
    destination: str | None = None
    #: storage name (default `usb` on Buddy, `local` on the Pi)
    storage: str | None = None
    #: seconds without progress before a request fails
    timeout: Seconds = 30.0
    #: seconds to wait for a connection
    connect_timeout: Seconds = 10.0
    #: check the certificate of an https:// host
    verify: Annotated[bool, Field(strict=True)] = True
    #: trust this CA bundle for an https:// host
    ca_file: Path | None = None
    #: SHA-256 of the printer's certificate: lower-case hex, no colons, once checked
    fingerprint: str | None = None
    #: the printer's model (firmware name, e.g. `MK4S`), overriding what it says
    model: str | None = None
    #: nozzle diameter in mm, overriding what the printer says
    nozzle: Annotated[float, Field(gt=0, le=5, allow_inf_nan=False)] | None = None
    #: other models whose files this printer takes
    accept: tuple[str, ...] = ()
    #: `bgcode`: plain G-code master files reach this printer as binary G-code (`.bgcode`)
    send_as: Literal["as-is", "bgcode"] = "as-is"
    #: `upload`: files arrive during a print too (all but the printed one); `wait`: not
    #: until it ends. None: the printer's default (`upload` on OctoPrint and Moonraker)
    while_printing: Literal["upload", "wait"] | None = None
    #: not a file key: the printer's name in `Config.printers`
    name: str = ""
    #: its `source` as given (for `with_source`)
    _source_setting: Path | None = PrivateAttr(default=None)

    if TYPE_CHECKING:  # what callers may pass (paths as text too); pydantic checks the rest

        def __init__(
            self,
            *,
            host: str,
            type: str = ...,
            username: str | None = None,
            password: str | None = None,
            password_file: StrPath | None = None,
            api_key: str | None = None,
            api_key_file: StrPath | None = None,
            source: StrPath | None = None,
            destination: str | None = None,
            storage: str | None = None,
            timeout: float = ...,
            connect_timeout: float = ...,
            verify: bool = True,
            ca_file: StrPath | None = None,
            fingerprint: str | None = None,
            model: str | None = None,
            nozzle: float | None = None,
            accept: Sequence[str] = (),
            send_as: Literal["as-is", "bgcode"] = ...,
            while_printing: Literal["upload", "wait"] | None = None,
            name: str = "",
        ) -> None: ...

    @property
    def base_url(self) -> str:
        """`http(s)://host[:port]`, from `host`."""
        return normalize_host(self.host)

    @model_validator(mode="wrap")
    @classmethod
    def _as_config_error(
        cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        context = context_of(info)
        name = context.name
        if name is None and isinstance(data, Mapping) and isinstance(data.get("name"), str):
            name = data["name"] or None
        where = f"printer '{name}': " if name else ""
        if isinstance(data, Mapping):
            if not context.substituted:
                data = substitute(dict(data), (), context.environ, where)
            check_secret_pairs(data, where)
        try:
            printer = handler(data)
        except ValidationError as exc:
            raise ConfigError(where + reword(exc)) from None
        if printer.send_as == "bgcode" and not PRINTER_TYPES[printer.type].may_print_bgcode:
            raise ConfigError(
                f"{where}key 'send_as': a {printer.type} printer cannot print binary G-code "
                "(bgcode); remove the key or set it to as-is"
            )
        return printer

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in PRINTER_TYPES:  # the registry: one entry per printer type
            raise ValueError(f"must be one of {', '.join(type_names())}")
        return value

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str | None) -> str | None:
        if value is not None:
            normalize_host(value)  # ValueError says why not
        return value

    @field_validator("destination")
    @classmethod
    def _normal_destination(cls, value: str | None) -> str | None:
        return None if value is None else normalize_destination(value)

    @field_validator("storage")
    @classmethod
    def _normal_storage(cls, value: str | None) -> str | None:
        return (value or "").strip("/") or None

    @field_validator("fingerprint")
    @classmethod
    def _normal_fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digest = value.replace(":", "").replace(" ", "").lower()
        if digest.startswith("sha256"):
            digest = digest.removeprefix("sha256").lstrip("/=")
        if not _FINGERPRINT.match(digest):
            raise ValueError("must be the SHA-256 of the certificate (64 hex digits)")
        return digest

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str | None) -> str | None:
        return None if value is None else _model_name(value)

    @field_validator("accept")
    @classmethod
    def _known_models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_model_name(item) for item in value)


def _model_name(value: str) -> str:
    name = normalize_model(value)
    if name is None:
        raise ValueError(f"'{value}' is not a printer model link-sync knows (e.g. MK4S, XL, MINI)")
    return name


class HttpConfig(BaseModel):
    """`http:` of `watch --http`: where to listen, the token for POSTs, read-only mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: Text = "127.0.0.1:8470"
    token: Text | None = Field(default=None, repr=False)
    read_only: Annotated[bool, Field(strict=True)] = False

    @model_validator(mode="wrap")
    @classmethod
    def _as_config_error(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            raise ConfigError("http: " + reword(exc)) from None

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, _, port = value.strip().rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError("must be ADDRESS:PORT, e.g. 127.0.0.1:8470")
        return value.strip()
