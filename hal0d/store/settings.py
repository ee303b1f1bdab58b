"""What the store needs to know, and how the daemon's configuration maps onto it."""

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from hal0d.config.model import GlobalConfig


@dataclass(frozen=True)
class StoreSettings:
    models_dir: Path
    state_dir: Path
    quarantine_max_bytes: int = 8 << 30
    partial_max_age: float = 7 * 86400.0  # seconds
    stall_timeout: float = 60.0  # seconds with no byte received before an attempt is retried
    retries: int = 5  # consecutive attempts without progress before giving up
    backoff_initial: float = 1.0  # seconds; doubles per failed attempt, with jitter
    backoff_max: float = 60.0
    connect_timeout: float = 30.0
    free_space_margin: int = 64 << 20  # kept free on the filesystem after a download
    # None: the system's trusted CAs (ssl.create_default_context()).
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)


def settings_from_config(config: GlobalConfig) -> StoreSettings:
    return StoreSettings(
        models_dir=config.models_dir,
        state_dir=config.state_dir,
        quarantine_max_bytes=config.quarantine_max_bytes,
        partial_max_age=config.partial_max_age,
        stall_timeout=config.stall_timeout,
    )
