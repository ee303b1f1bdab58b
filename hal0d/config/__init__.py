"""Configuration: /etc/hal0/hal0.toml and /etc/hal0/slots/NAME.toml, parsed and validated.

The daemon only reads these files. `writer.edit_toml` is for the admin's tools.
"""

import os
from pathlib import Path

from hal0d.config.load import load_config
from hal0d.config.model import CatalogSource, Config, GlobalConfig, ModelRef, SlotConfig
from hal0d.config.problems import Problem, Severity

DEFAULT_CONFIG_DIR = Path("/etc/hal0")
CONFIG_DIR_ENV = "HAL0_CONFIG_DIR"


def config_dir(explicit: Path | None = None) -> Path:
    """The config dir: ``--config-dir`` if given, else $HAL0_CONFIG_DIR, else /etc/hal0."""
    if explicit is not None:
        return explicit
    return Path(os.environ.get(CONFIG_DIR_ENV) or DEFAULT_CONFIG_DIR)


__all__ = [
    "CONFIG_DIR_ENV",
    "DEFAULT_CONFIG_DIR",
    "CatalogSource",
    "Config",
    "GlobalConfig",
    "ModelRef",
    "Problem",
    "Severity",
    "SlotConfig",
    "config_dir",
    "load_config",
]
