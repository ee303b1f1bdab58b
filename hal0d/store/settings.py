"""What the store needs to know, and how the daemon's configuration maps onto it."""

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from hal0d.config.model import GlobalConfig
from hal0d.store.credentials import OriginToken, tokens_from_config
from hal0d.store.pace import SpeedRule, worst_attempt_seconds

_D = GlobalConfig  # the defaults are the configuration's


@dataclass(frozen=True)
class StoreSettings:
    models_dir: Path
    state_dir: Path
    quarantine_max_bytes: int = _D.quarantine_max_bytes
    partial_max_age: float = _D.partial_max_age  # seconds
    stall_timeout: float = _D.stall_timeout  # seconds with no byte before an attempt ends
    speed_limit: int = _D.speed_limit  # bytes per second averaged over speed_time; 0: off
    speed_time: float = _D.speed_time  # seconds
    retries: int = _D.retries  # failed attempts in a row (see pace.attempt_ok) tolerated
    backoff_initial: float = _D.backoff_initial  # seconds; doubles per failure, with jitter
    backoff_max: float = _D.backoff_max
    connect_timeout: float = _D.connect_timeout
    free_space_margin: int = 64 << 20  # kept free on the filesystem after a download
    ca_file: Path | None = None  # CA certificates trusted in addition to the system's
    tokens: tuple[OriginToken, ...] = ()  # credentials for one origin each (catalog fetches)
    # None: the system's trusted CAs plus ca_file. Tests inject a context of their own.
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)

    @property
    def speed_rule(self) -> SpeedRule:
        return SpeedRule(self.speed_limit, self.speed_time, self.stall_timeout)


def backoff_cap(failures: int, settings: StoreSettings) -> float:
    """The longest wait after the ``failures``-th failure in a row (the wait is drawn from
    [cap/2, cap]): ``backoff_initial`` doubling up to ``backoff_max``."""
    doubled: float = settings.backoff_initial * 2 ** max(failures - 1, 0)
    return min(settings.backoff_max, doubled)


def worst_case_seconds(settings: StoreSettings) -> float:
    """The longest a pull on a link that never reaches the speed limit takes to fail:
    ``retries + 1`` attempts, each at most `worst_attempt_seconds`, and the waits between."""
    attempts = settings.retries + 1
    per_attempt = worst_attempt_seconds(settings.speed_rule, settings.connect_timeout)
    waits = sum(backoff_cap(failures, settings) for failures in range(1, attempts))
    return attempts * per_attempt + waits


def settings_from_config(config: GlobalConfig) -> StoreSettings:
    return StoreSettings(
        models_dir=config.models_dir,
        state_dir=config.state_dir,
        quarantine_max_bytes=config.quarantine_max_bytes,
        partial_max_age=config.partial_max_age,
        stall_timeout=config.stall_timeout,
        speed_limit=config.speed_limit,
        speed_time=config.speed_time,
        retries=config.retries,
        backoff_initial=config.backoff_initial,
        backoff_max=config.backoff_max,
        connect_timeout=config.connect_timeout,
        ca_file=config.ca_file,
        tokens=tokens_from_config(config),
    )
