"""Read a config directory: hal0.toml plus slots/*.toml, every problem collected at once."""

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from hal0d.config import llama_server
from hal0d.config.access import Checker, as_current_user
from hal0d.config.environment import check_environment
from hal0d.config.global_file import read_global
from hal0d.config.model import Config, GlobalConfig, SlotConfig
from hal0d.config.parse import TomlFileError, read_toml
from hal0d.config.ports import assign_ports, load_assignments
from hal0d.config.problems import Problem, Problems
from hal0d.config.reader import TableReader
from hal0d.config.slot_file import read_slot
from hal0d.errors import ConfigError
from hal0d.names import SLOT_NAME_PATTERN, is_valid_slot_name

GLOBAL_FILE = "hal0.toml"
SLOTS_DIR = "slots"


# A change not yet written: file → its new content, or None for a file to be removed.
Pending = Mapping[Path, bytes | None]


def load_config(
    config_dir: Path,
    previous_ports: Mapping[str, int] | None = None,
    *,
    checker: Checker | None = None,
    pending: Pending | None = None,
) -> tuple[Config | None, list[Problem]]:
    """The configuration, or None if any problem is an error; and all problems found.

    Everything that can reject a configuration is checked here — `hal0d check-config`, the
    daemon's start and a reload all call this — so applying a loaded one cannot fail. Slots
    without a port get one from the port range, keeping ``previous_ports`` (by default the
    assignments saved in the state dir) where they are still free. Paths the daemon needs
    are checked by ``checker`` (default: as the current user). With ``pending``, the
    directory is read as it would be after that change (hal0ctl checks an edit before it
    writes it); nothing is written either way."""
    problems = Problems()
    pending = pending or {}
    if not config_dir.is_dir():
        problems.error(config_dir, "", "config directory does not exist")
        return None, problems.items
    global_file = config_dir / GLOBAL_FILE
    global_ = _read_global(global_file, problems, pending)
    slots = _read_slots(config_dir / SLOTS_DIR, global_, problems, pending)
    _check_ports(slots, problems)
    _check_aliases(slots, problems)
    check_environment(global_file, global_, slots, problems, checker or as_current_user())
    if problems.has_errors:
        return None, problems.items
    if previous_ports is None:
        previous_ports = load_assignments(global_.state_dir)
    try:
        ports = assign_ports(slots, global_.port_range, previous_ports)
    except ConfigError as error:
        problems.error(global_file, "port_range", str(error))
        return None, problems.items
    slots = {name: replace(slot, port=ports[name]) for name, slot in slots.items()}
    return Config(config_dir=config_dir, global_=global_, slots=slots), problems.items


def load_global(config_dir: Path) -> tuple[GlobalConfig | None, list[Problem]]:
    """hal0.toml alone (its defaults if it is missing), or None if it has an error."""
    problems = Problems()
    global_ = _read_global(config_dir / GLOBAL_FILE, problems, {})
    return (None if problems.has_errors else global_), problems.items


def _read_global(global_file: Path, problems: Problems, pending: Pending) -> GlobalConfig:
    reader = _reader(global_file, problems, missing_ok=True, pending=pending)
    if reader is None:
        return GlobalConfig(llama_server=llama_server.search())
    return read_global(reader)


def _slot_files(slots_dir: Path, pending: Pending) -> list[Path]:
    files = set(slots_dir.iterdir()) if slots_dir.is_dir() else set()
    for file, data in pending.items():
        if file.parent != slots_dir:
            continue
        if data is None:
            files.discard(file)
        else:
            files.add(file)
    return sorted(files)


def _read_slots(
    slots_dir: Path, defaults: GlobalConfig, problems: Problems, pending: Pending
) -> dict[str, SlotConfig]:
    slots: dict[str, SlotConfig] = {}
    for file in _slot_files(slots_dir, pending):
        if file.suffix != ".toml" or not (file in pending or file.is_file()):
            problems.warning(file, "", "ignored: slot files are named NAME.toml")
            continue
        name = file.name.removesuffix(".toml")
        if not is_valid_slot_name(name):
            problems.error(
                file,
                "",
                f"file name {name!r} is not a valid slot name; "
                f"slot names match {SLOT_NAME_PATTERN} (rename the file)",
            )
            continue
        reader = _reader(file, problems, missing_ok=False, pending=pending)
        if reader is not None:
            slots[name] = read_slot(name, file, reader, defaults)
    return slots


def _reader(
    file: Path, problems: Problems, *, missing_ok: bool, pending: Pending | None = None
) -> TableReader | None:
    try:
        table = read_toml(file, (pending or {}).get(file))
    except FileNotFoundError:
        if not missing_ok:
            problems.error(file, "", "file disappeared while reading the config")
        return None
    except TomlFileError as error:
        problems.error(file, error.where, error.message)
        return None
    return TableReader(file, table, problems)


def _check_ports(slots: Mapping[str, SlotConfig], problems: Problems) -> None:
    owners: dict[int, SlotConfig] = {}
    for slot in slots.values():
        if slot.port is None:
            continue
        other = owners.setdefault(slot.port, slot)
        if other is not slot:
            problems.error(
                slot.file,
                "port",
                f"{slot.port} is also the port of slot {other.name!r} ({other.file}); "
                "give each slot its own port, or leave port out to have one assigned",
            )


def _check_aliases(slots: Mapping[str, SlotConfig], problems: Problems) -> None:
    """A model name the router sees must lead to one slot: aliases are unique across slots
    and never another slot's name."""
    owners: dict[str, SlotConfig] = {}
    for slot in slots.values():
        for index, alias in enumerate(slot.aliases):
            if alias in slots:
                problems.error(
                    slot.file,
                    f"aliases[{index}]",
                    f"{alias!r} is the name of slot {alias!r}; a model name leads to one slot",
                )
                continue
            other = owners.setdefault(alias, slot)
            if other is not slot:
                problems.error(
                    slot.file,
                    f"aliases[{index}]",
                    f"{alias!r} is also an alias of slot {other.name!r} ({other.file}); "
                    "a model name leads to one slot",
                )


def read_table(file: Path, problems: Problems, *, missing_ok: bool) -> TableReader | None:
    """One TOML file beside hal0.toml (e.g. router.toml) as a reader, problems collected."""
    return _reader(file, problems, missing_ok=missing_ok)
