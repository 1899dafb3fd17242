"""The configuration: built in code or read from a file, checked the same way either way.

    config = Config(source="/srv/gcodes", printers={"mk4-01": PrinterConfig(host="10.0.0.5")})
    config = load_config(Path("link-sync.yml"), cwd=Path.cwd(), environ=os.environ)

`PrinterConfig` and `Config` take keyword arguments named as the file's keys, with
the file's defaults and checks and `${VAR}` from the environment. A `Config` holds
its printers *resolved*: named, `defaults` merged in, `source` made absolute,
secrets read from `*_file`, `destination` normalised. That resolved `PrinterConfig`
is the one shape of a printer's settings from here to the backend.

Everything the user can get wrong becomes ONE `ConfigError` line naming the file
(when there is one), the printer and the key, e.g.::

    link-sync.yml: printer 'mk4-01': unknown key 'hots' (did you mean 'host'?)

Secret values (passwords, API keys, the HTTP token) never appear in a message or a repr.
"""

from __future__ import annotations

import functools
import json
import os
import re
import ssl
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import yaml
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
from link_sync.errors import ConfigError, UsageError
from link_sync.printer_models import normalize_model

#: Files looked for in the working folder, in this order.
CONFIG_NAMES: tuple[str, ...] = (
    "link-sync.yml",
    "link-sync.yaml",
    "link-sync.toml",
    "link-sync.json",
    "printers.yml",
)
CONFIG_ENV = "LINK_SYNC_CONFIG"
DEFAULT_STALE_AFTER = 60.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_SETTLE = 2.0
DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_RESCAN_INTERVAL = 600.0
DEFAULT_LISTEN = "127.0.0.1:8470"

_SECRET_KEYS = ("password", "api_key")
# A key and the key that supplies the same secret from a file: setting one in a
# printer overrides the other one from `defaults`.
_SECRET_PARTNERS = {
    "password": "password_file",
    "password_file": "password",
    "api_key": "api_key_file",
    "api_key_file": "api_key",
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")

StrPath = str | os.PathLike[str]
_Text = Annotated[str, Field(strict=True)]
_Seconds = Annotated[float, Field(strict=True, gt=0, le=3600, allow_inf_nan=False)]
_Interval = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
_NonNegative = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]


@dataclass(frozen=True, slots=True)
class _Context:
    """How values are resolved: relative paths, `${VAR}`, and the file for messages."""

    base: Path
    environ: Mapping[str, str]
    path: Path | None = None
    #: `${VAR}` already replaced (the file loader does it, naming the place)
    substituted: bool = False
    #: the printer being built, for messages
    name: str | None = None


def _context(info: ValidationInfo) -> _Context:
    given = info.context
    if isinstance(given, _Context):
        return given
    return _Context(base=Path.cwd(), environ=os.environ)


# --------------------------------------------------------------------------- printers


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
    host: _Text
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
    timeout: _Seconds = DEFAULT_TIMEOUT
    #: seconds to wait for a connection
    connect_timeout: _Seconds = DEFAULT_CONNECT_TIMEOUT
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
    #: not a file key: the printer's name in `Config.printers`
    name: str = ""
    #: its `source` as given (for `with_source`)
    _source_setting: Path | None = PrivateAttr(default=None)

    if TYPE_CHECKING:  # what callers may pass (paths as text too); pydantic checks the rest

        def __init__(
            self,
            *,
            host: str,
            type: str = "prusalink",
            username: str | None = None,
            password: str | None = None,
            password_file: StrPath | None = None,
            api_key: str | None = None,
            api_key_file: StrPath | None = None,
            source: StrPath | None = None,
            destination: str | None = None,
            storage: str | None = None,
            timeout: float = DEFAULT_TIMEOUT,
            connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
            verify: bool = True,
            ca_file: StrPath | None = None,
            fingerprint: str | None = None,
            model: str | None = None,
            nozzle: float | None = None,
            accept: Sequence[str] = (),
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
        context = _context(info)
        name = context.name
        if name is None and isinstance(data, Mapping) and isinstance(data.get("name"), str):
            name = data["name"] or None
        where = f"printer '{name}': " if name else ""
        if isinstance(data, Mapping):
            if not context.substituted:
                data = _substitute(dict(data), (), context.environ, where)
            _check_secret_pairs(data, where)
        try:
            return handler(data)
        except ValidationError as exc:
            raise ConfigError(where + _reword(exc)) from None

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

    listen: _Text = DEFAULT_LISTEN
    token: _Text | None = Field(default=None, repr=False)
    read_only: Annotated[bool, Field(strict=True)] = False

    @model_validator(mode="wrap")
    @classmethod
    def _as_config_error(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            raise ConfigError("http: " + _reword(exc)) from None

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, _, port = value.strip().rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError("must be ADDRESS:PORT, e.g. 127.0.0.1:8470")
        return value.strip()


# --------------------------------------------------------------------------- the config


class _TopLevel(BaseModel):
    """The top-level keys as written, before printers are resolved."""

    model_config = ConfigDict(extra="forbid")

    source: _Text | Path | None = None
    destination: _Text = "/"
    stale_after: _NonNegative = DEFAULT_STALE_AFTER
    defaults: dict[str, Any] = Field(default_factory=dict)
    printers: dict[str, Any] = Field(default_factory=dict)
    route: Literal["model", "all"] = "model"
    settle: _NonNegative = DEFAULT_SETTLE
    poll_interval: _Interval = DEFAULT_POLL_INTERVAL
    rescan_interval: _Interval = DEFAULT_RESCAN_INTERVAL
    http: HttpConfig | None = None


def _no_warnings() -> list[str]:
    # Not `default_factory=list`: pydantic reads a factory's signature, and the builtin's
    # is parsed from text (compiling tokenize's regular expressions, ~2 ms at start-up).
    return []


class Config(BaseModel):
    """The whole configuration, with the file's top-level keys as keyword arguments.

    `printers` maps names to `PrinterConfig` (or to mappings of printer keys);
    `defaults` holds printer keys applied to every printer. Relative paths are
    relative to the config file's folder (the working folder for a config built
    in code). `path` (the file read, if any) and `warnings` are set by link-sync.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the master folder (absolute once built)
    source: Path | None = None
    #: the managed folder on every printer: normalised, "" = storage root
    destination: str = ""
    #: seconds a local file may be newer than the printer's copy
    stale_after: float = DEFAULT_STALE_AFTER
    #: printer keys applied to every printer (as given; secrets kept out of repr)
    defaults: dict[str, Any] = Field(default_factory=dict, repr=False)
    #: resolved printers, in the order given
    printers: dict[str, PrinterConfig] = Field(default_factory=dict)
    #: `model`: each printer gets the files sliced for it; `all`: every file everywhere
    route: Literal["model", "all"] = "model"
    #: watch: seconds a master file must stay unchanged before it is sent
    settle: float = DEFAULT_SETTLE
    #: watch: seconds between printer state reads
    poll_interval: float = DEFAULT_POLL_INTERVAL
    #: watch: seconds between full rescans of the master folder
    rescan_interval: float = DEFAULT_RESCAN_INTERVAL
    #: watch --http settings
    http: HttpConfig = Field(default_factory=HttpConfig)
    #: not a file key: the file this config was read from
    path: Path | None = None
    #: not a file key: things worth telling the user (readable secrets, ignored keys)
    warnings: list[str] = Field(default_factory=_no_warnings)

    if TYPE_CHECKING:  # what callers may pass; pydantic checks the rest

        def __init__(
            self,
            *,
            printers: Mapping[str, PrinterConfig | Mapping[str, Any]],
            source: StrPath | None = None,
            destination: str = "/",
            stale_after: float = DEFAULT_STALE_AFTER,
            defaults: Mapping[str, Any] | None = None,
            route: Literal["model", "all"] = "model",
            settle: float = DEFAULT_SETTLE,
            poll_interval: float = DEFAULT_POLL_INTERVAL,
            rescan_interval: float = DEFAULT_RESCAN_INTERVAL,
            http: HttpConfig | Mapping[str, Any] | None = None,
        ) -> None: ...

    @model_validator(mode="wrap")
    @classmethod
    def _resolve(
        cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if not isinstance(data, Mapping):
            return handler(data)
        resolved = _Resolver(_context(info)).resolve(dict(data))
        try:
            return handler(resolved)
        except ValidationError as exc:
            raise ConfigError(_reword(exc)) from None

    @property
    def name(self) -> str:
        """How the config is named in messages: its file, or 'config' when built in code."""
        return self.path.name if self.path is not None else "config"


class _Resolver:
    """Checks a config given as keys (from a file or code) and resolves its printers."""

    def __init__(self, context: _Context) -> None:
        self.context = context
        self.warnings: list[str] = []
        #: the file's name in messages (prefix added by the loader)
        self.shown = context.path.name if context.path is not None else "config"

    def resolve(self, raw: dict[str, Any]) -> dict[str, Any]:
        if not self.context.substituted:
            raw = _substitute(raw, (), self.context.environ, "")
        if raw.get("defaults", {}) is None:  # `defaults:` left empty
            del raw["defaults"]
        top = _validate(_TopLevel, raw, "", self.context)
        if not top.printers:
            raise ConfigError("no printers defined; add a 'printers:' section")
        # Checked alone for a message that names `defaults`; merged raw into each printer.
        _check_secret_pairs(top.defaults, "defaults: ")
        _validate(PrinterConfig, _defaults_as_printer(top.defaults), "defaults: ", self.context)
        source = self._top_source(top.source)
        destination = _destination(top.destination, "")
        printers = {
            name: self._printer(name, top.defaults, value, source, destination)
            for name, value in _printer_items(top.printers)
        }
        return {
            "source": source,
            "destination": destination,
            "stale_after": top.stale_after,
            "defaults": top.defaults,
            "printers": printers,
            "route": top.route,
            "settle": top.settle,
            "poll_interval": top.poll_interval,
            "rescan_interval": top.rescan_interval,
            "http": top.http or HttpConfig(),
            "path": self.context.path,
            "warnings": self.warnings,
        }

    def _printer(
        self,
        name: str,
        defaults: Mapping[str, Any],
        own: Mapping[str, Any] | PrinterConfig,
        top_source: Path | None,
        top_destination: str,
    ) -> PrinterConfig:
        where = f"printer '{name}': "
        if isinstance(own, PrinterConfig):
            own = {key: getattr(own, key) for key in own.model_fields_set if key != "name"}
        _check_secret_pairs(own, where)
        merged = dict(defaults)
        for key in own:
            merged.pop(_SECRET_PARTNERS.get(key, ""), None)
        merged.update(own)
        context = _Context(
            self.context.base, self.context.environ, self.context.path, True, name=name
        )
        fields = PrinterConfig.model_validate(merged, context=context)
        resolved = fields.model_copy(
            update={
                "name": name,
                "password": self._secret(
                    fields.password, fields.password_file, where, "password_file"
                ),
                "password_file": None,
                "api_key": self._secret(fields.api_key, fields.api_key_file, where, "api_key_file"),
                "api_key_file": None,
                "source": _printer_source(fields.source, top_source, self.context.base),
                "destination": (
                    fields.destination if fields.destination is not None else top_destination
                ),
                "ca_file": self._ca_file(fields.ca_file, where, fields.base_url),
                "fingerprint": self._fingerprint(fields.fingerprint, where, fields.base_url),
            }
        )
        resolved._source_setting = fields.source
        return resolved

    def _top_source(self, value: str | Path | None) -> Path | None:
        if value is None or not str(value).strip():
            return None
        return _absolute(Path(_expand(str(value))), self.context.base)

    def _secret(self, value: str | None, file: Path | None, where: str, key: str) -> str | None:
        if file is None:
            return value
        path = self._relative_path(file)
        try:
            secret = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"{where}key '{key}': cannot read {path}: {reason}") from None
        if _exposed(path):
            self.warnings.append(
                f"{path} ({where}key '{key}') is readable by other users; run: chmod 600 {path}"
            )
        return secret

    def _ca_file(self, value: Path | None, where: str, base_url: str) -> Path | None:
        if value is None:
            return None
        path = self._relative_path(value)
        if not path.is_file():
            raise ConfigError(f"{where}key 'ca_file': {path} is not a readable file")
        try:
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, OSError):
            raise ConfigError(f"{where}key 'ca_file': {path} holds no usable certificate") from None
        if not base_url.startswith("https://"):
            self.warnings.append(f"{self.shown}: {where}'ca_file' is ignored for an http:// host")
        return path

    def _fingerprint(self, value: str | None, where: str, base_url: str) -> str | None:
        if value is not None and not base_url.startswith("https://"):
            self.warnings.append(
                f"{self.shown}: {where}'fingerprint' is ignored for an http:// host"
            )
        return value

    def _relative_path(self, value: Path) -> Path:
        return _absolute(Path(_expand(str(value))), self.context.base)


def _validate(model: type[_Model], data: Any, where: str, context: _Context) -> _Model:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(where + _reword(exc)) from None
    except ConfigError as exc:
        raise ConfigError(where + str(exc)) from None


def _defaults_as_printer(defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`defaults:` checked as a printer: any printer key, none required.

    A stand-in `host` fills the one required key when `defaults` has none; one more
    model just for this would cost ~2 ms of pydantic schema building at every start.
    """
    if defaults.get("host") is not None:
        return dict(defaults)
    return {**defaults, "host": "defaults.invalid"}


def _printer_items(printers: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for name, value in printers.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"printer name {name!r} must be a non-empty text")
        if value is None:
            value = {}
        if not isinstance(value, dict | PrinterConfig):
            raise ConfigError(
                f"printer '{name}': must be a mapping of keys (host, ...), not {_kind(value)}"
            )
        yield name, value


def _check_secret_pairs(section: Mapping[str, Any], where: str) -> None:
    for key in ("password", "api_key"):
        partner = _SECRET_PARTNERS[key]
        if section.get(key) is not None and section.get(partner) is not None:
            raise ConfigError(f"{where}set '{key}' or '{partner}', not both")


def _destination(value: str, where: str) -> str:
    try:
        return normalize_destination(value)
    except ValueError as exc:
        raise ConfigError(f"{where}key 'destination' {exc}") from None


_Model = TypeVar("_Model", bound=BaseModel)

_KNOWN_PRINTER_KEYS = tuple(key for key in PrinterConfig.model_fields if key != "name")
_KNOWN_TOP_KEYS = tuple(_TopLevel.model_fields)


# --------------------------------------------------------------------------- functions


def load_config(explicit: Path | None, *, cwd: Path, environ: Mapping[str, str]) -> Config:
    """Find, read and check the config file; raise ConfigError with one clear line."""
    path, shown = find_config(explicit, cwd=cwd, environ=environ)
    return _Loader(path, shown, environ).load()


def find_config(
    explicit: Path | None, *, cwd: Path, environ: Mapping[str, str]
) -> tuple[Path, str]:
    """The config file to use and how to name it in messages."""
    if explicit is not None:
        return _absolute(explicit, cwd), str(explicit)
    from_env = environ.get(CONFIG_ENV, "")
    if from_env:
        return _absolute(Path(from_env).expanduser(), cwd), from_env
    for name in CONFIG_NAMES:
        candidate = cwd / name
        if candidate.is_file():
            return _absolute(candidate, cwd), name
    raise ConfigError(
        f"no config file found in {cwd} (looked for {', '.join(CONFIG_NAMES)}); "
        f"write one with `link-sync init`, or pass -c FILE or set ${CONFIG_ENV}"
    )


def with_source(config: Config, source: Path) -> Config:
    """`config` with the master folder replaced (the CLI's `--source`).

    A printer's own relative `source` is taken relative to the new one.
    """
    top = _absolute(source.expanduser(), Path.cwd())
    printers = {
        name: printer.model_copy(
            update={"source": _printer_source(printer._source_setting, top, top)}
        )
        for name, printer in config.printers.items()
    }
    return config.model_copy(update={"source": top, "printers": printers})


def with_destination(config: Config, destination: str) -> Config:
    """`config` with every printer's managed folder replaced (the CLI's `--destination`)."""
    try:
        folder = normalize_destination(destination)
    except ValueError as exc:
        raise UsageError(f"--destination {exc}") from None
    printers = {
        name: printer.model_copy(update={"destination": folder})
        for name, printer in config.printers.items()
    }
    return config.model_copy(update={"destination": folder, "printers": printers})


def select_printers(
    config: Config, include: Sequence[str], exclude: Sequence[str]
) -> list[PrinterConfig]:
    """The printers `-p` and `-x` select, in config order; unknown names are a UsageError."""
    for name in (*include, *exclude):
        if name not in config.printers:
            known = ", ".join(config.printers) or "none"
            raise UsageError(f"unknown printer '{name}' (printers in {config.name}: {known})")
    wanted = set(include) if include else set(config.printers)
    wanted.difference_update(exclude)
    if not wanted:
        raise UsageError("no printer selected: every printer chosen with -p is excluded with -x")
    return [printer for name, printer in config.printers.items() if name in wanted]


@functools.lru_cache(maxsize=4096)  # `base_url` asks for it often: at load, per request path
def normalize_host(host: str) -> str:
    """`host`, `host:port` or `http(s)://host[:port]` → a base URL; ValueError says why not."""
    text = host.strip()
    if not text:
        raise ValueError("is empty")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    shown = host if "@" not in host else "(with user name or password)"
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"'{shown}' must start with http:// or https://")
    if "@" in parts.netloc:
        raise ValueError("must not contain a user name or password; use 'username'/'password'")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in text:
        raise ValueError(f"'{shown}' must be just a host and port, without a path or query")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"'{shown}' has an invalid port") from None
    if (port is not None and not 1 <= port <= 65535) or parts.netloc.endswith(":"):
        raise ValueError(f"'{shown}' has an invalid port")
    return _base_url(parts.scheme.lower(), parts.hostname or "", port, shown)


def normalize_destination(value: str) -> str:
    """'/prints//mk4/' → 'prints/mk4'; '/' → ''; ValueError for '..' components."""
    parts = [part for part in value.strip().split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"'{value}' must not contain '..'")
    return "/".join(parts)


# --------------------------------------------------------------------------- loading


class _Loader:
    """Loads one file; keeps the file's name for messages."""

    def __init__(self, path: Path, shown: str, environ: Mapping[str, str]) -> None:
        self.path = path
        self.shown = shown
        self.environ = environ
        self.warnings: list[str] = []

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.shown}: {message}")

    def load(self) -> Config:
        try:
            raw = self._parse(self._read())
        except RecursionError:
            raise self.error("too deeply nested to be a link-sync config") from None
        raw = _from_seed(raw) if _is_seed(raw) else raw
        self._warn_if_exposed(raw)
        context = _Context(self.path.parent, self.environ, self.path, substituted=True)
        try:
            raw = _substitute(raw, (), self.environ, "")
            config = Config.model_validate(raw, context=context)
        except ConfigError as exc:
            raise self.error(str(exc)) from None
        if not self.warnings:
            return config
        return config.model_copy(update={"warnings": [*self.warnings, *config.warnings]})

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise self.error("config file not found; write one with `link-sync init`") from None
        except IsADirectoryError:
            raise self.error("is a folder, not a config file") from None
        except UnicodeDecodeError:
            raise self.error("is not UTF-8 text") from None
        except OSError as exc:
            raise self.error(f"cannot read the config file: {exc.strerror}") from None

    def _parse(self, text: str) -> dict[str, Any]:
        if not text.strip():
            raise self.error("the config file is empty; write one with `link-sync init`")
        suffix = self.path.suffix.lower()
        if suffix == ".toml":
            data = self._parse_toml(text)
        elif suffix == ".json":
            data = self._parse_json(text)
        else:  # .yml, .yaml, and anything else: YAML is a superset of JSON
            data = self._parse_yaml(text)
        if data is None:
            raise self.error("the config file is empty; write one with `link-sync init`")
        if not isinstance(data, dict):
            raise self.error(
                f"must be a mapping of settings (source, printers, ...), not {_kind(data)}"
            )
        return data

    def _parse_yaml(self, text: str) -> Any:
        if _FastStrictLoader is not None:
            try:
                return yaml.load(text, Loader=_FastStrictLoader)  # libyaml + SafeConstructor
            except yaml.YAMLError:
                pass  # read it again below: the error is told as it always was
        try:
            return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = exc.problem or exc.context or "invalid YAML"
            raise self.error(f"{where}YAML syntax error: {problem}") from None
        except yaml.YAMLError as exc:
            raise self.error(f"YAML syntax error: {exc}") from None

    def _parse_toml(self, text: str) -> Any:
        import tomllib  # only for .toml files: its regular expressions cost ~1 ms to compile

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # "Cannot overwrite a value (at line 5, column 1)" is a duplicate key.
            raise self.error(f"TOML syntax error: {exc}") from None

    def _parse_json(self, text: str) -> Any:
        try:
            return json.loads(text, object_pairs_hook=_json_mapping)
        except _DuplicateKey as exc:
            raise self.error(f"duplicate key '{exc.key}'") from None
        except json.JSONDecodeError as exc:
            raise self.error(
                f"line {exc.lineno}, column {exc.colno}: JSON syntax error: {exc.msg}"
            ) from None

    def _warn_if_exposed(self, raw: Mapping[str, Any]) -> None:
        if _has_literal_secret(raw) and _exposed(self.path):
            self.warnings.append(
                f"{self.shown} contains passwords or API keys and is readable by other users; "
                f"run: chmod 600 {self.shown}"
            )


# --------------------------------------------------------------------------- ${VAR}, secrets


def _substitute(value: Any, where: tuple[str, ...], environ: Mapping[str, str], prefix: str) -> Any:
    """Replace `${VAR}` in every string, naming the place of an undefined one."""
    if isinstance(value, dict):
        return {
            key: _substitute(item, (*where, str(key)), environ, prefix)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_substitute(item, where, environ, prefix) for item in value)
    if isinstance(value, str) and "${" in value:

        def variable(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(
                    f"{prefix}{_place(where)}${{{name}}} is not set in the environment"
                )
            return environ[name]

        return _VAR.sub(variable, value)
    return value


def _place(where: tuple[str, ...]) -> str:
    """('printers', 'mk4', 'password') → "printer 'mk4': key 'password': "."""
    if len(where) >= 3 and where[0] == "printers":
        return f"printer '{where[1]}': key '{where[2]}': "
    if len(where) >= 2 and where[0] == "defaults":
        return f"defaults: key '{where[1]}': "
    return f"key '{where[0]}': " if where else ""


def _has_literal_secret(raw: Mapping[str, Any]) -> bool:
    """True when a password or API key is written in the file (not a bare `${VAR}`)."""
    sections = [raw.get("defaults"), *(_mapping_values(raw.get("printers")))]
    for section in sections:
        if not isinstance(section, dict):
            continue
        for key in _SECRET_KEYS:
            value = section.get(key)
            if value not in (None, "") and not _VAR.fullmatch(str(value).strip()):
                return True
    return False


def _mapping_values(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else []


def _exposed(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


# --------------------------------------------------------------------------- seed format


def _is_seed(raw: Mapping[str, Any]) -> bool:
    """The original link-sync's file: name → {printer_type, host, username, password}."""
    if not raw or any(key in _KNOWN_TOP_KEYS for key in raw):
        return False
    return all(isinstance(value, dict) and "host" in value for value in raw.values())


def _from_seed(raw: Mapping[str, Any]) -> dict[str, Any]:
    printers = {}
    for name, value in raw.items():
        # printer_type (MK4, XL, ...) is informational: the kind is detected on contact.
        printers[name] = {key: item for key, item in value.items() if key != "printer_type"}
    return {"printers": printers}


# --------------------------------------------------------------------------- parsing help


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _json_mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _NoDuplicateKeys(yaml.constructor.SafeConstructor):
    """Refuses duplicate keys (plain YAML keeps the last one silently)."""

    _root: yaml.Node | None = None
    _printers_node: yaml.Node | None = None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Parents are constructed before their children, so the first mapping is the root.
        if self._root is None:
            self._root = node
            for key_node, value_node in node.value:
                if getattr(key_node, "value", None) == "printers":
                    self._printers_node = value_node
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # unhashable: SafeLoader reports it below
            if key in seen:
                what = "printer name" if node is self._printers_node else "key"
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate {what} '{key}'", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _StrictLoader(_NoDuplicateKeys, yaml.SafeLoader):
    """PyYAML's own parser, in Python: a broken file is described in its words."""


_FastStrictLoader: type[yaml.CSafeLoader] | None
try:

    class _FastLoader(_NoDuplicateKeys, yaml.CSafeLoader):
        """libyaml's parser with the same constructor: the same values, ~7x faster
        (a 500-printer file: 9 ms instead of 65 ms). Only a file it accepts is read
        with it; for any other the Python parser has the say (and the words)."""

    _FastStrictLoader = _FastLoader
except AttributeError:  # PyYAML built without libyaml
    _FastStrictLoader = None


# --------------------------------------------------------------------------- error wording


_TYPE_WORDS = {
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "int_type": "must be a whole number",
    "dict_type": "must be a mapping",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "path_type": "must be text (a path)",
    "greater_than": "must be more than 0",
    "less_than_equal": "is too large",
    "greater_than_equal": "must not be negative",
    "finite_number": "must be a finite number",
}


def _reword(exc: ValidationError) -> str:
    """Pydantic's first error as one plain sentence, never quoting the input value."""
    errors = exc.errors(include_input=False, include_url=False)
    # An unknown key explains a "missing" one better ('hots' → missing 'host').
    errors.sort(key=lambda error: error["type"] != "extra_forbidden")
    first = errors[0]
    loc = [str(part) for part in first["loc"]]
    key = loc[0] if loc else "?"
    if key == "http" and len(loc) > 1:
        key = f"http.{loc[1]}"
    kind = first["type"]
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    suffix = more if len(errors) > 1 else ""
    if kind == "extra_forbidden":
        return f"unknown key '{key}'{_did_you_mean(key)}{suffix}"
    if kind == "missing":
        return f"missing '{key}'{suffix}"
    if kind == "literal_error":
        expected = str((first.get("ctx") or {}).get("expected", ""))
        choices = ", ".join(part.strip(" '") for part in re.split(r",| or ", expected))
        return f"key '{key}' must be one of {choices}{suffix}"
    if kind == "value_error":
        words = first["msg"].removeprefix("Value error, ")
    else:
        words = _TYPE_WORDS.get(kind, first["msg"].lower())
    if len(loc) > 1 and key in ("defaults", "printers"):
        return f"key '{key}' entry '{loc[1]}' {words}{suffix}"
    return f"key '{key}' {words}{suffix}"


def _did_you_mean(key: str) -> str:
    import difflib  # only when a key is unknown

    known = (*_KNOWN_PRINTER_KEYS, *_KNOWN_TOP_KEYS, *HttpConfig.model_fields)
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _kind(value: Any) -> str:
    names: dict[type, str] = {list: "a list", str: "a text", int: "a number", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")


# --------------------------------------------------------------------------- paths, hosts


def _expand(value: str) -> str:
    return os.path.expanduser(value.strip())


def _absolute(path: Path, base: Path) -> Path:
    """`path` made absolute against `base`, with '..' folded but symlinks kept."""
    return Path(os.path.abspath(base / path.expanduser()))


def _printer_source(
    setting: str | Path | None, top: Path | None, fallback_base: Path
) -> Path | None:
    """A printer's master: its own `source` (relative to the top one), else the top one."""
    if setting is None:
        return top
    return _absolute(Path(_expand(str(setting))), top if top is not None else fallback_base)


def _base_url(scheme: str, hostname: str, port: int | None, shown: str) -> str:
    if not hostname:
        raise ValueError(f"'{shown}' has no host name")
    if ":" in hostname:  # IPv6 literal
        host = f"[{hostname}]"
    elif _HOSTNAME.match(hostname):
        host = hostname.lower()
    else:
        raise ValueError(f"'{shown}' is not a valid host name or address")
    default_port = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port in (None, default_port) else f"{scheme}://{host}:{port}"
