"""/run/hal0/slots/NAME.env: what hal0-slot@NAME.service runs, written atomically by hal0d.

The directory comes from tmpfiles.d and survives hal0d restarts, so a slot that systemd
restarts while hal0d is down still finds its file. hal0d writes a slot's file only right
before it starts or restarts the unit: systemd reads it again on every automatic restart, so
the file of a running unit must keep naming the model and port that unit serves.
The keys and the encoding are the runner's contract (`hal0d.runner.envspec`): allow-listed
keys, values from a literal-safe character set, extra arguments in one encoded variable.
Files are 0600: systemd reads them as root, and one may hold the slot's API key.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from hal0d.atomic import write_atomically
from hal0d.config.model import SlotConfig
from hal0d.errors import ConfigError
from hal0d.names import validate_slot_name
from hal0d.runner import envspec
from hal0d.runner.settings import DEFAULT_DRAIN_SEC, DEFAULT_GRACE_SEC

DEFAULT_DIR = Path("/run/hal0/slots")
_UNSAFE = re.compile(r"[^A-Za-z0-9._:+-]")


def model_label(slot: SlotConfig) -> str:
    """A short name for the model, safe for the env file: catalog name or the URL's file name."""
    label = slot.model.label
    if slot.model.url is not None:
        label = PurePosixPath(urlsplit(slot.model.url).path).name or slot.name
    label = _UNSAFE.sub("_", label)[:128]
    return label or slot.name


@dataclass(frozen=True)
class Launch:
    """What hal0d decided for this start of the slot, beyond its config file."""

    llama_server: Path
    model_path: Path
    port: int
    api_key: str | None = None
    drain_sec: float = DEFAULT_DRAIN_SEC
    grace_sec: float = DEFAULT_GRACE_SEC


def slot_environment(slot: SlotConfig, launch: Launch) -> dict[str, str]:
    """The variables of the slot's env file; raises ConfigError for a value it cannot carry."""
    validate_slot_name(slot.name)
    label = model_label(slot)
    values = {
        envspec.SLOT: slot.name,
        envspec.LLAMA_SERVER: str(launch.llama_server),
        envspec.MODEL: str(launch.model_path),
        envspec.MODEL_LABEL: label,
        envspec.ALIAS: label,
        envspec.PORT: str(launch.port),
        envspec.DRAIN_SEC: _seconds(launch.drain_sec),
        envspec.GRACE_SEC: _seconds(launch.grace_sec),
    }
    optional = {
        envspec.CTX_SIZE: slot.context,
        envspec.THREADS: slot.threads,
        envspec.GPU_LAYERS: slot.gpu_layers,
        envspec.PARALLEL: slot.parallel,
    }
    values.update({key: str(value) for key, value in optional.items() if value is not None})
    if launch.api_key is not None:
        values[envspec.API_KEY] = launch.api_key
    try:
        if slot.extra_args:
            values[envspec.EXTRA_ARGS] = envspec.encode_args(slot.extra_args)
        envspec.check_environment(values)
    except envspec.EnvSpecError as error:
        raise ConfigError(f"slot {slot.name!r}: {error}") from error
    return values


def render(values: Mapping[str, str]) -> str:
    """The file's text; every key and value is checked again, whatever built the mapping."""
    try:
        envspec.check_environment(values)
    except envspec.EnvSpecError as error:
        raise ConfigError(str(error)) from error
    lines = ["# Written by hal0d before each start of the slot. Do not edit."]
    lines += [f"{key}={values[key]}" for key in envspec.ALLOWED if key in values]
    return "\n".join(lines) + "\n"


def env_file_path(directory: Path, name: str) -> Path:
    return directory / f"{validate_slot_name(name)}.env"


def write_env_file(directory: Path, name: str, values: Mapping[str, str]) -> Path:
    """Replace the slot's env file atomically (temporary file, fsync, rename)."""
    path = env_file_path(directory, name)
    if values.get(envspec.SLOT) != name:
        raise ConfigError(f"env file for slot {name!r} names slot {values.get(envspec.SLOT)!r}")
    data = render(values).encode("ascii")
    write_atomically(path, data, mode=0o600)
    return path


def remove_env_file(directory: Path, name: str) -> None:
    env_file_path(directory, name).unlink(missing_ok=True)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a file this module wrote (for tests and for adopting running slots)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="ascii").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def read_api_key(path: Path | None) -> str | None:
    """The first non-comment line of the slot's api_key_file (read by hal0d's user)."""
    if path is None:
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        key = line.strip()
        if key and not key.startswith("#"):
            return key
    raise ConfigError(f"api_key_file {str(path)!r} holds no key")


def _seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"
