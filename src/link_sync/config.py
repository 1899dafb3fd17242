"""The config file: find it, parse it (YAML, TOML or JSON), check it, resolve it.

Everything the user can get wrong here becomes ONE `ConfigError` line naming the
file, the printer and the key, e.g.::

    link-sync.yml: printer 'mk4-01': unknown key 'hots' (did you mean 'host'?)

Secret values (passwords, API keys) never appear in a message or a repr.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import ssl
import stat
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from link_sync.errors import ConfigError, UsageError

#: Files looked for in the working folder, in this order.
CONFIG_NAMES: tuple[str, ...] = (
    "link-sync.yml",
    "link-sync.yaml",
    "link-sync.toml",
    "link-sync.json",
    "printers.yml",
)
CONFIG_ENV = "LINK_SYNC_CONFIG"
PRINTER_TYPES: tuple[str, ...] = ("prusalink", "octoprint", "moonraker")
DEFAULT_STALE_AFTER = 60.0
DEFAULT_TIMEOUT = 30.0

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


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class PrinterConfig:
    """One printer, fully resolved. `password` and `api_key` are kept out of repr."""

    name: str
    type: str
    base_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    #: Absolute master folder of this printer, or None when no source is configured.
    source: Path | None = None
    #: Managed folder on the printer: no leading/trailing slash, "" = storage root.
    destination: str = ""
    storage: str | None = None
    verify: bool = True
    ca_file: Path | None = None
    #: SHA-256 of the server certificate, lower-case hex without colons.
    fingerprint: str | None = None
    #: Seconds without progress (connect, or no byte moving) before a request fails.
    timeout: float = DEFAULT_TIMEOUT
    #: The printer's `source` as written (with `~` expanded), for `with_source`.
    source_setting: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded config file."""

    path: Path
    source: Path | None
    destination: str
    stale_after: float
    printers: dict[str, PrinterConfig]
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- schema

_Text = Annotated[str, Field(strict=True)]


class _PrinterFields(BaseModel):
    """Every printer key; all optional, so `defaults` can use the same model."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    host: str | None = None
    type: Literal["prusalink", "octoprint", "moonraker"] = "prusalink"
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    api_key: str | None = None
    api_key_file: str | None = None
    source: str | None = None
    destination: str | None = None
    storage: str | None = None
    verify: Annotated[bool, Field(strict=True)] = True
    ca_file: str | None = None
    fingerprint: str | None = None
    timeout: Annotated[float, Field(strict=True, gt=0, le=3600)] = DEFAULT_TIMEOUT


class _Printer(_PrinterFields):
    host: str


class _TopLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: _Text | None = None
    destination: _Text = "/"
    stale_after: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] = (
        DEFAULT_STALE_AFTER
    )
    defaults: dict[str, Any] = Field(default_factory=dict)
    printers: dict[str, Any] = Field(default_factory=dict)


_Model = TypeVar("_Model", bound=BaseModel)

_KNOWN_PRINTER_KEYS = tuple(_PrinterFields.model_fields)
_KNOWN_TOP_KEYS = tuple(_TopLevel.model_fields)


# --------------------------------------------------------------------------- public API


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
    """`config` with the master folder replaced (the CLI's `--source`)."""
    top = _absolute(source.expanduser(), Path.cwd())
    printers = {
        name: replace(printer, source=_printer_source(printer.source_setting, top, top))
        for name, printer in config.printers.items()
    }
    return replace(config, source=top, printers=printers)


def select_printers(
    config: Config, include: Sequence[str], exclude: Sequence[str]
) -> list[PrinterConfig]:
    """The printers `-p` and `-x` select, in config order; unknown names are a UsageError."""
    for name in (*include, *exclude):
        if name not in config.printers:
            known = ", ".join(config.printers) or "none"
            raise UsageError(f"unknown printer '{name}' (printers in {config.path.name}: {known})")
    wanted = set(include) if include else set(config.printers)
    wanted.difference_update(exclude)
    if not wanted:
        raise UsageError("no printer selected: every printer chosen with -p is excluded with -x")
    return [printer for name, printer in config.printers.items() if name in wanted]


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
        raw = self._substitute(raw, ())
        top = self._validate(_TopLevel, raw, "")
        if not top.printers:
            raise self.error("no printers defined; add a 'printers:' section")
        # Checked alone for a message that names `defaults`; merged raw into each printer.
        self._check_secret_pairs(top.defaults, "defaults: ")
        self._validate(_PrinterFields, top.defaults, "defaults: ")
        source = self._top_source(top.source)
        destination = self._destination(top.destination, "")
        printers = {
            name: self._printer(name, top.defaults, value, source, destination)
            for name, value in self._printer_items(top.printers)
        }
        return Config(
            path=self.path,
            source=source,
            destination=destination,
            stale_after=top.stale_after,
            printers=printers,
            warnings=self.warnings,
        )

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

    # ---------------------------------------------------------------- checking

    def _validate(self, model: type[_Model], data: Any, where: str) -> _Model:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise self.error(where + _reword(exc)) from None

    def _printer_items(self, printers: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        for name, value in printers.items():
            if not isinstance(name, str) or not name.strip():
                raise self.error(f"printer name {name!r} must be a non-empty text")
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise self.error(
                    f"printer '{name}': must be a mapping of keys (host, ...), not {_kind(value)}"
                )
            yield name, value

    def _printer(
        self,
        name: str,
        defaults: Mapping[str, Any],
        own: Mapping[str, Any],
        top_source: Path | None,
        top_destination: str,
    ) -> PrinterConfig:
        where = f"printer '{name}': "
        self._check_secret_pairs(own, where)
        merged = dict(defaults)
        for key in own:
            merged.pop(_SECRET_PARTNERS.get(key, ""), None)
        merged.update(own)
        fields = self._validate(_Printer, merged, where)
        try:
            base_url = normalize_host(fields.host)
        except ValueError as exc:
            raise self.error(f"{where}key 'host' {exc}") from None
        setting = _expand(fields.source) if fields.source is not None else None
        destination = (
            self._destination(fields.destination, where)
            if fields.destination is not None
            else top_destination
        )
        return PrinterConfig(
            name=name,
            type=fields.type,
            base_url=base_url,
            username=fields.username,
            password=self._secret(fields.password, fields.password_file, where, "password_file"),
            api_key=self._secret(fields.api_key, fields.api_key_file, where, "api_key_file"),
            source=_printer_source(setting, top_source, self.path.parent),
            destination=destination,
            storage=(fields.storage or "").strip("/") or None,
            verify=fields.verify,
            ca_file=self._ca_file(fields.ca_file, where, base_url),
            fingerprint=self._fingerprint(fields.fingerprint, where, base_url),
            timeout=fields.timeout,
            source_setting=setting,
        )

    def _check_secret_pairs(self, section: Mapping[str, Any], where: str) -> None:
        for key in ("password", "api_key"):
            if key in section and _SECRET_PARTNERS[key] in section:
                raise self.error(f"{where}set '{key}' or '{_SECRET_PARTNERS[key]}', not both")

    def _top_source(self, value: str | None) -> Path | None:
        if value is None or not value.strip():
            return None
        return _absolute(Path(_expand(value)), self.path.parent)

    def _destination(self, value: str, where: str) -> str:
        try:
            return normalize_destination(value)
        except ValueError as exc:
            raise self.error(f"{where}key 'destination' {exc}") from None

    def _secret(self, value: str | None, file: str | None, where: str, key: str) -> str | None:
        if file is None:
            return value
        path = self._relative_path(file)
        try:
            secret = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise self.error(f"{where}key '{key}': cannot read {path}: {reason}") from None
        if _exposed(path):
            self.warnings.append(
                f"{path} ({where}key '{key}') is readable by other users; run: chmod 600 {path}"
            )
        return secret

    def _ca_file(self, value: str | None, where: str, base_url: str) -> Path | None:
        if value is None:
            return None
        path = self._relative_path(value)
        if not path.is_file():
            raise self.error(f"{where}key 'ca_file': {path} is not a readable file")
        try:
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, OSError):
            raise self.error(f"{where}key 'ca_file': {path} holds no usable certificate") from None
        if not base_url.startswith("https://"):
            self.warnings.append(f"{self.shown}: {where}'ca_file' is ignored for an http:// host")
        return path

    def _fingerprint(self, value: str | None, where: str, base_url: str) -> str | None:
        if value is None:
            return None
        digest = value.replace(":", "").replace(" ", "").lower()
        if digest.startswith("sha256"):
            digest = digest.removeprefix("sha256").lstrip("/=")
        if not _FINGERPRINT.match(digest):
            raise self.error(
                f"{where}key 'fingerprint' must be the SHA-256 of the certificate (64 hex digits)"
            )
        if not base_url.startswith("https://"):
            self.warnings.append(
                f"{self.shown}: {where}'fingerprint' is ignored for an http:// host"
            )
        return digest

    def _relative_path(self, value: str) -> Path:
        return _absolute(Path(_expand(value)), self.path.parent)

    # ---------------------------------------------------------------- ${VAR}, secrets

    def _substitute(self, value: Any, where: tuple[str, ...]) -> Any:
        """Replace `${VAR}` in every string, naming the place of an undefined one."""
        if isinstance(value, dict):
            return {key: self._substitute(item, (*where, str(key))) for key, item in value.items()}
        if isinstance(value, list):
            return [self._substitute(item, where) for item in value]
        if isinstance(value, str) and "${" in value:
            return _VAR.sub(lambda match: self._variable(match, where), value)
        return value

    def _variable(self, match: re.Match[str], where: tuple[str, ...]) -> str:
        name = match.group(1)
        if name not in self.environ:
            raise self.error(f"{_place(where)}${{{name}}} is not set in the environment")
        return self.environ[name]

    def _warn_if_exposed(self, raw: Mapping[str, Any]) -> None:
        if _has_literal_secret(raw) and _exposed(self.path):
            self.warnings.append(
                f"{self.shown} contains passwords or API keys and is readable by other users; "
                f"run: chmod 600 {self.shown}"
            )


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


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys (plain YAML keeps the last one silently)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._root: yaml.Node | None = None
        self._printers_node: yaml.Node | None = None

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


# --------------------------------------------------------------------------- error wording


_TYPE_WORDS = {
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "int_type": "must be a whole number",
    "dict_type": "must be a mapping",
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
    kind = first["type"]
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    suffix = more if len(errors) > 1 else ""
    if kind == "extra_forbidden":
        return f"unknown key '{key}'{_did_you_mean(key)}{suffix}"
    if kind == "missing":
        return f"missing '{key}'{suffix}"
    if kind == "literal_error":
        return f"key '{key}' must be one of {', '.join(PRINTER_TYPES)}{suffix}"
    words = _TYPE_WORDS.get(kind, first["msg"].lower())
    if len(loc) > 1 and key in ("defaults", "printers"):
        return f"key '{key}' entry '{loc[1]}' {words}{suffix}"
    return f"key '{key}' {words}{suffix}"


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, (*_KNOWN_PRINTER_KEYS, *_KNOWN_TOP_KEYS), n=1)
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


def _printer_source(setting: str | None, top: Path | None, fallback_base: Path) -> Path | None:
    """A printer's master: its own `source` (relative to the top one), else the top one."""
    if setting is None:
        return top
    return _absolute(Path(setting), top if top is not None else fallback_base)


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
