"""Problems of the machine, not the files: paths the daemon's user cannot use, a keys
directory others may write. Most are warnings: the daemon still starts and reports them
(Status, LastError). A `ca_file` or `hf_token_file` it cannot read is an error, because the
daemon, reading it as that user, refuses the configuration."""

import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hal0d.config import llama_server
from hal0d.config.access import EXECUTE, READ, Checker, Need
from hal0d.config.model import GlobalConfig, SlotConfig
from hal0d.config.problems import Problems


@dataclass(frozen=True)
class PathSetting:
    """A configured path the daemon's user must be able to use, and what fails if it cannot."""

    file: Path
    key: str
    need: Need
    consequence: str
    error: bool = False  # the daemon would refuse the configuration


def path_settings(
    global_file: Path, config: GlobalConfig, slots: Mapping[str, SlotConfig]
) -> list[PathSetting]:
    settings = [
        PathSetting(
            global_file, "llama_server", Need(config.llama_server, EXECUTE), "slots cannot start"
        ),
        PathSetting(
            global_file, "keys_dir", Need(config.keys_dir, READ), "signed catalogs cannot load"
        ),
    ]
    if config.ca_file is not None:
        settings.append(_refused_unless_readable(global_file, "ca_file", config.ca_file))
    for index, source in enumerate(config.catalogs):
        if source.ca_file is not None:
            key = f"catalogs[{index}].ca_file"
            settings.append(_refused_unless_readable(global_file, key, source.ca_file))
    if config.hf_token_file is not None:
        settings.append(
            _refused_unless_readable(global_file, "hf_token_file", config.hf_token_file)
        )
    for slot in slots.values():
        if slot.api_key_file is not None:
            need = Need(slot.api_key_file, READ)
            settings.append(PathSetting(slot.file, "api_key_file", need, "the slot cannot start"))
    return settings


def _refused_unless_readable(file: Path, key: str, path: Path) -> PathSetting:
    """A file hal0d reads while loading the configuration: unreadable, it refuses it."""
    consequence = "hal0d refuses this configuration; make the file readable by that user"
    return PathSetting(file, key, Need(path, READ), consequence, error=True)


def check_environment(
    global_file: Path,
    config: GlobalConfig,
    slots: Mapping[str, SlotConfig],
    problems: Problems,
    checker: Checker,
) -> None:
    settings = path_settings(global_file, config, slots)
    for setting, found in zip(settings, checker.problems([s.need for s in settings]), strict=True):
        if found is None:
            continue
        if found == "does not exist" and setting.key == "keys_dir":
            continue  # no trusted keys yet: a catalog that needs one says so
        whose = "" if found in ("does not exist", "is not a file") else f" by user {checker.user}"
        message = f"{str(setting.need.path)!r} {found}{whose}; {setting.consequence}"
        if setting.key == "llama_server" and found == "does not exist":
            message += f" ({llama_server.HINT})"
        report = problems.error if setting.error else problems.warning
        report(setting.file, setting.key, message)
    _check_keys_owner(global_file, config.keys_dir, problems)


def _check_keys_owner(global_file: Path, keys_dir: Path, problems: Problems) -> None:
    try:
        keys = keys_dir.stat()
    except OSError:
        return  # missing or unreachable: reported above
    if keys.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or keys.st_uid != 0:
        problems.warning(
            global_file,
            "keys_dir",
            f"{str(keys_dir)!r} is writable by others than root; "
            "trusted keys must be root's alone (chown root: and chmod 755)",
        )
