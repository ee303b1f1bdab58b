"""The Debian releases the system tier boots, and what each one ships (measured, see
docs/testing.md): bookworm runs the whole tier, trixie the subset marked ``trixie`` or
``release_sensitive``. ``HAL0_TEST_RELEASE`` picks the release of a run (default bookworm)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Release:
    name: str
    systemd: str  # major version of PID 1
    python: str  # Debian's python3
    # hal0d's runtime dependencies as Debian packages them (importlib.metadata versions)
    runtime: dict[str, str] = field(default_factory=dict)
    # autopkgtest's null runner: 5.28 (bookworm) declares isolation-machine itself; 5.49
    # (trixie) declares nothing (and refuses to fake it: its scratch directory is visible to
    # the host). The booted container is a machine of the test's own, so there the
    # restriction is waived rather than faked.
    autopkgtest_args: tuple[str, ...] = ()


RELEASES = {
    "bookworm": Release(
        name="bookworm",
        systemd="252",
        python="3.11",
        runtime={
            "dbus_fast": "1.84.2",
            "httpx": "0.23.3",
            "tomlkit": "0.11.7",
            "cryptography": "38.0.4",
            "sdnotify": "0.3.1",
        },
    ),
    "trixie": Release(
        name="trixie",
        systemd="257",
        python="3.13",
        runtime={
            "dbus_fast": "2.44.1",
            "httpx": "0.28.1",
            "tomlkit": "0.13.2",
            "cryptography": "43.0.0",
            "sdnotify": "0.3.2",
        },
        autopkgtest_args=("--ignore-restrictions=isolation-machine",),
    ),
}
FULL_TIER = "bookworm"


def current() -> Release:
    """The release of this run; an unknown name is an error, never a silent default."""
    name = os.environ.get("HAL0_TEST_RELEASE", FULL_TIER)
    if name not in RELEASES:
        raise ValueError(f"HAL0_TEST_RELEASE={name!r}: use one of {', '.join(RELEASES)}")
    return RELEASES[name]
