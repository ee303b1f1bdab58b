"""Ports for slots that do not set one, taken from the port range.

Assignments are sticky: a slot keeps the port it had (``previous``, persisted by the daemon)
while that port is still free, so adding a slot never moves another slot's endpoint.
"""

import json
from collections.abc import Mapping
from pathlib import Path

from hal0d.atomic import write_atomically
from hal0d.config.model import SlotConfig
from hal0d.errors import ConfigError


def assign_ports(
    slots: Mapping[str, SlotConfig],
    port_range: tuple[int, int],
    previous: Mapping[str, int] | None = None,
) -> dict[str, int]:
    previous = previous or {}
    ports = {name: slot.port for name, slot in slots.items() if slot.port is not None}
    taken = set(ports.values())
    first, last = port_range
    waiting = sorted(name for name, slot in slots.items() if slot.port is None)
    for name in list(waiting):
        port = previous.get(name)
        if port is not None and first <= port <= last and port not in taken:
            ports[name] = port
            taken.add(port)
            waiting.remove(name)
    free = (port for port in range(first, last + 1) if port not in taken)
    for name in waiting:
        port = next(free, None)
        if port is None:
            raise ConfigError(
                f"port_range {first}-{last} has no free port left for slot {name!r}; "
                "widen port_range in hal0.toml or set port in the slot file"
            )
        ports[name] = port
    return ports


PORTS_FILE = "ports.json"


def load_assignments(state_dir: Path) -> dict[str, int]:
    """The ports handed out last time; an unreadable file only costs stickiness."""
    try:
        data = json.loads((state_dir / PORTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        name: port
        for name, port in data.items()
        if isinstance(name, str) and isinstance(port, int) and not isinstance(port, bool)
    }


def save_assignments(state_dir: Path, ports: Mapping[str, int]) -> None:
    text = json.dumps(dict(sorted(ports.items())), indent=1) + "\n"
    write_atomically(state_dir / PORTS_FILE, text.encode("utf-8"))
