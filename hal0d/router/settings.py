"""/etc/hal0/router.toml: the router's limits and whether a key is required.

Every key is optional; a missing file means the defaults. Problems are reported like the rest
of hal0d's configuration: file, key, value and what would be valid.
"""

from dataclasses import dataclass
from pathlib import Path

from hal0d.config.load import read_table
from hal0d.config.problems import Problem, Problems, Severity
from hal0d.config.reader import TableReader
from hal0d.config.sizes import VALID_FORMS as SIZE_FORMS
from hal0d.config.sizes import parse_size

ROUTER_FILE = "router.toml"
MIB = 1 << 20


@dataclass(frozen=True)
class RouterSettings:
    queue_size: int = 64  # requests waiting for one slot to wake; beyond it 429
    wait_timeout: float = 300.0  # how long a request waits for its slot to become ready
    cooldown: float = 10.0  # after a failed load; doubles with each failure in a row
    cooldown_max: float = 600.0
    body_limit: int = 64 * MIB  # a request body; base64 images fit
    require_key: bool = False  # with keys configured: refuse requests without a valid one
    drain_timeout: float = 30.0  # on SIGTERM, how long in-flight requests may finish
    idle_timeout: float = 60.0  # a keep-alive connection with no request is closed


def load_settings(config_dir: Path) -> tuple[RouterSettings | None, list[Problem]]:
    """The settings, or None if any problem is an error; and all problems found."""
    problems = Problems()
    file = config_dir / ROUTER_FILE
    reader = read_table(file, problems, missing_ok=True)
    if reader is None:
        return (None if problems.has_errors else RouterSettings()), problems.items
    defaults = RouterSettings()
    settings = RouterSettings(
        queue_size=reader.integer("queue_size", defaults.queue_size, minimum=1, maximum=100_000)
        or defaults.queue_size,
        wait_timeout=reader.duration("wait_timeout", defaults.wait_timeout, may_be_zero=False)
        or defaults.wait_timeout,
        cooldown=reader.duration("cooldown", defaults.cooldown, may_be_zero=True) or 0.0,
        cooldown_max=reader.duration("cooldown_max", defaults.cooldown_max, may_be_zero=True)
        or 0.0,
        body_limit=_size(reader, "body_limit", defaults.body_limit),
        require_key=reader.boolean("require_key", defaults.require_key),
        drain_timeout=reader.duration("drain_timeout", defaults.drain_timeout, may_be_zero=True)
        or 0.0,
        idle_timeout=reader.duration("idle_timeout", defaults.idle_timeout, may_be_zero=False)
        or defaults.idle_timeout,
    )
    if settings.cooldown_max < settings.cooldown:
        reader.error("cooldown_max", "is shorter than cooldown; use at least the cooldown")
    reader.finish()
    if any(p.severity is Severity.ERROR for p in problems.items):
        return None, problems.items
    return settings, problems.items


def _size(reader: TableReader, key: str, default: int) -> int:
    value = reader.raw(key)
    if value is None:
        return default
    size = parse_size(value) if isinstance(value, str) else None
    if size is None or size < 1024:
        reader.error(key, f"{value!r} is not a size of at least 1K; use {SIZE_FORMS}")
        return default
    return size
