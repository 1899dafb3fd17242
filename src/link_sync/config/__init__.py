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

The modules, one job each: `files` finds and parses the file (YAML, TOML, JSON),
`variables` replaces `${VAR}` and knows the secret keys, `printer` and `model` are
the pydantic models with every default, `wording` turns a validation error into
the user's one line, `hosts` normalises hosts, folders and paths, `overrides`
applies the command line's -s, --destination, -p and -x.
"""

from __future__ import annotations

from link_sync.config.files import CONFIG_ENV, CONFIG_NAMES, find_config, load_config
from link_sync.config.hosts import normalize_destination, normalize_host
from link_sync.config.model import Config
from link_sync.config.overrides import select_printers, with_destination, with_source
from link_sync.config.printer import HttpConfig, PrinterConfig

__all__ = [
    "CONFIG_ENV",
    "CONFIG_NAMES",
    "Config",
    "HttpConfig",
    "PrinterConfig",
    "find_config",
    "load_config",
    "normalize_destination",
    "normalize_host",
    "select_printers",
    "with_destination",
    "with_source",
]
