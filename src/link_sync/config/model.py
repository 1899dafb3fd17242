"""The whole configuration (`Config`): its top-level keys, and its printers resolved.

A `Config` holds its printers *resolved*: named, `defaults` merged in, `source`
made absolute, secrets read from `*_file`, `destination` normalised. That
resolved `PrinterConfig` is the one shape of a printer's settings from here to
the backend. Every default of a top-level key is written once, on `_TopLevel`
(the keys as the file gives them); `Config` takes its defaults from there.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from link_sync.backends.registry import DEFAULT_TYPE, PRINTER_TYPES
from link_sync.config.hosts import absolute_setting, normalize_destination, printer_source
from link_sync.config.printer import (
    HttpConfig,
    Interval,
    NonNegative,
    PrinterConfig,
    StrPath,
    Text,
)
from link_sync.config.variables import (
    SECRET_PARTNERS,
    Context,
    check_secret_pairs,
    context_of,
    exposed,
    substitute,
)
from link_sync.config.wording import kind_of, reword
from link_sync.errors import ConfigError


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
    stale_after: float = 60.0
    #: printer keys applied to every printer (as given; secrets kept out of repr)
    defaults: dict[str, Any] = Field(default_factory=dict, repr=False)
    #: resolved printers, in the order given
    printers: dict[str, PrinterConfig] = Field(default_factory=dict)
    #: `model`: each printer gets the files sliced for it; `all`: every file everywhere
    route: Literal["model", "all"] = "model"
    #: watch: seconds a master file must stay unchanged before it is sent
    settle: float = 2.0
    #: watch: seconds between printer state reads
    poll_interval: float = 5.0
    #: watch: seconds between full rescans of the master folder
    rescan_interval: float = 600.0
    #: watch --http settings
    http: HttpConfig = Field(default_factory=HttpConfig)
    #: not a file key: the file this config was read from
    path: Path | None = None
    #: not a file key: things worth telling the user (readable secrets, ignored keys)
    warnings: list[str] = Field(default_factory=_no_warnings)

    if TYPE_CHECKING:  # what callers may pass (`...`: the default above); pydantic checks

        def __init__(
            self,
            *,
            printers: Mapping[str, PrinterConfig | Mapping[str, Any]],
            source: StrPath | None = None,
            destination: str = ...,
            stale_after: float = ...,
            defaults: Mapping[str, Any] | None = None,
            route: Literal["model", "all"] = ...,
            settle: float = ...,
            poll_interval: float = ...,
            rescan_interval: float = ...,
            http: HttpConfig | Mapping[str, Any] | None = None,
        ) -> None: ...

    @model_validator(mode="wrap")
    @classmethod
    def _resolve(
        cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if not isinstance(data, Mapping):
            return handler(data)
        resolved = _Resolver(context_of(info)).resolve(dict(data))
        try:
            return handler(resolved)
        except ValidationError as exc:
            raise ConfigError(reword(exc)) from None

    @property
    def name(self) -> str:
        """How the config is named in messages: its file, or 'config' when built in code."""
        return self.path.name if self.path is not None else "config"


def _default(key: str) -> Any:
    """`Config`'s default for a top-level key."""
    return Config.model_fields[key].default


class _TopLevel(BaseModel):
    """The top-level keys as written, before printers are resolved; a key left out
    takes `Config`'s default (written there, once)."""

    model_config = ConfigDict(extra="forbid")

    source: Text | Path | None = None
    destination: Text = _default("destination")
    stale_after: NonNegative = _default("stale_after")
    defaults: dict[str, Any] = Field(default_factory=dict)
    printers: dict[str, Any] = Field(default_factory=dict)
    route: Literal["model", "all"] = _default("route")
    settle: NonNegative = _default("settle")
    poll_interval: Interval = _default("poll_interval")
    rescan_interval: Interval = _default("rescan_interval")
    http: HttpConfig | None = None


class _Resolver:
    """Checks a config given as keys (from a file or code) and resolves its printers."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.warnings: list[str] = []
        #: the file's name in messages (prefix added by the loader)
        self.shown = context.path.name if context.path is not None else "config"

    def resolve(self, raw: dict[str, Any]) -> dict[str, Any]:
        if not self.context.substituted:
            raw = substitute(raw, (), self.context.environ, "")
        if raw.get("defaults", {}) is None:  # `defaults:` left empty
            del raw["defaults"]
        top = _validate(_TopLevel, raw, "", self.context)
        if not top.printers:
            raise ConfigError("no printers defined; add a 'printers:' section")
        # Checked alone for a message that names `defaults`; merged raw into each printer.
        check_secret_pairs(top.defaults, "defaults: ")
        _validate(PrinterConfig, _defaults_as_printer(top.defaults), "defaults: ", self.context)
        source = self._top_source(top.source)
        destination = _destination(top.destination, "")
        self.as_is: list[str] = []  # printers that cannot take `defaults:`'s send_as
        printers = {
            name: self._printer(name, top.defaults, value, source, destination)
            for name, value in _printer_items(top.printers)
        }
        if self.as_is:
            self.warnings.append(
                f"{self.shown}: defaults: send_as: bgcode does not apply to "
                f"{', '.join(self.as_is)} (OctoPrint and Moonraker cannot print binary "
                "G-code): they get the master's files as they are"
            )
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
        check_secret_pairs(own, where)
        merged = dict(defaults)
        for key in own:
            merged.pop(SECRET_PARTNERS.get(key, ""), None)
        merged.update(own)
        if "send_as" not in own and merged.get("send_as") == "bgcode":
            kind = PRINTER_TYPES.get(str(merged.get("type", DEFAULT_TYPE)))
            if kind is not None and not kind.may_print_bgcode:
                merged["send_as"] = "as-is"  # from `defaults:`: one note, not an error
                self.as_is.append(name)
        context = Context(
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
                "source": printer_source(fields.source, top_source, self.context.base),
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
        return absolute_setting(value, self.context.base)

    def _secret(self, value: str | None, file: Path | None, where: str, key: str) -> str | None:
        if file is None:
            return value
        path = self._relative_path(file)
        try:
            secret = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"{where}key '{key}': cannot read {path}: {reason}") from None
        if exposed(path):
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
        return absolute_setting(value, self.context.base)


def _validate(model: type[_Model], data: Any, where: str, context: Context) -> _Model:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(where + reword(exc)) from None
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
                f"printer '{name}': must be a mapping of keys (host, ...), not {kind_of(value)}"
            )
        yield name, value


def _destination(value: str, where: str) -> str:
    try:
        return normalize_destination(value)
    except ValueError as exc:
        raise ConfigError(f"{where}key 'destination' {exc}") from None


_Model = TypeVar("_Model", bound=BaseModel)

#: Every key a config file may hold, for "did you mean" (`wording.reword`).
KNOWN_KEYS = (
    *(key for key in PrinterConfig.model_fields if key != "name"),
    *_TopLevel.model_fields,
    *HttpConfig.model_fields,
)

#: The top-level keys a config file may hold.
TOP_KEYS = tuple(_TopLevel.model_fields)
