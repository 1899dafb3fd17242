"""Finding and reading the config file: YAML, TOML or JSON, into a checked `Config`.

`find_config` picks the file (-c, `$LINK_SYNC_CONFIG`, or the usual names in the
working folder); `load_config` reads it, refuses duplicate keys in every format,
replaces `${VAR}`, accepts the original link-sync's file (name → host, ...), warns
when a file holding secrets is readable by others, and prefixes every error with
the file's name as the user gave it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from link_sync.config.hosts import absolute
from link_sync.config.model import TOP_KEYS, Config
from link_sync.config.variables import Context, exposed, has_literal_secret, substitute
from link_sync.config.wording import kind_of
from link_sync.config.yaml_bounds import TooLarge, check_expanded_size
from link_sync.core.printer_models import normalize_model
from link_sync.errors import ConfigError

#: Files looked for in the working folder, in this order.
CONFIG_NAMES: tuple[str, ...] = (
    "link-sync.yml",
    "link-sync.yaml",
    "link-sync.toml",
    "link-sync.json",
    "printers.yml",
)
CONFIG_ENV = "LINK_SYNC_CONFIG"


def load_config(explicit: Path | None, *, cwd: Path, environ: Mapping[str, str]) -> Config:
    """Find, read and check the config file; raise ConfigError with one clear line."""
    path, shown = find_config(explicit, cwd=cwd, environ=environ)
    return _Loader(path, shown, environ).load()


def find_config(
    explicit: Path | None, *, cwd: Path, environ: Mapping[str, str]
) -> tuple[Path, str]:
    """The config file to use and how to name it in messages."""
    if explicit is not None:
        return absolute(explicit, cwd), str(explicit)
    from_env = environ.get(CONFIG_ENV, "")
    if from_env:
        return absolute(Path(from_env).expanduser(), cwd), from_env
    for name in CONFIG_NAMES:
        candidate = cwd / name
        if candidate.is_file():
            return absolute(candidate, cwd), name
    raise ConfigError(
        f"no config file found in {cwd} (looked for {', '.join(CONFIG_NAMES)}); "
        f"write one with `link-sync init`, or pass -c FILE or set ${CONFIG_ENV}"
    )


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
        context = Context(self.path.parent, self.environ, self.path, substituted=True)
        try:
            raw = substitute(raw, (), self.environ, "")
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
                f"must be a mapping of settings (source, printers, ...), not {kind_of(data)}"
            )
        return data

    def _parse_yaml(self, text: str) -> Any:
        if _FastStrictLoader is not None:
            try:
                return yaml.load(text, Loader=_FastStrictLoader)  # libyaml + SafeConstructor
            except yaml.YAMLError:
                pass  # read it again below: the error is told as it always was
            except TooLarge as exc:
                raise self.error(f"refused: {exc} (YAML anchors and aliases)") from None
        try:
            return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
        except TooLarge as exc:
            raise self.error(f"refused: {exc} (YAML anchors and aliases)") from None
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
        if has_literal_secret(raw) and exposed(self.path):
            self.warnings.append(
                f"{self.shown} contains passwords or API keys and is readable by other users; "
                f"run: chmod 600 {self.shown}"
            )


def _is_seed(raw: Mapping[str, Any]) -> bool:
    """The original link-sync's file: name → {printer_type, host, username, password}."""
    if not raw or any(key in TOP_KEYS for key in raw):
        return False
    return all(isinstance(value, dict) and "host" in value for value in raw.values())


def _from_seed(raw: Mapping[str, Any]) -> dict[str, Any]:
    printers = {}
    for name, value in raw.items():
        entry = {key: item for key, item in value.items() if key != "printer_type"}
        # printer_type (MK4, XL, ...) is the printer's model, which routing needs (a
        # Buddy printer does not say it); the kind is detected on contact. A name no
        # model has is left out, as the original only showed it.
        model = normalize_model(str(value.get("printer_type") or ""))
        if model is not None:
            entry["model"] = model
        printers[name] = entry
    return {"printers": printers}


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
    """Refuses duplicate keys (plain YAML keeps the last one silently), and a document
    whose aliases expand too far (`yaml_bounds`), before any value is built."""

    _root: yaml.Node | None = None
    _printers_node: yaml.Node | None = None

    def construct_document(self, node: yaml.Node) -> Any:
        check_expanded_size(node)
        return super().construct_document(node)

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
