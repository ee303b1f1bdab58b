"""check-config and hal0d agree on which files hal0d can read.

hal0d.service runs as user _hal0 with Group=hal0 and SupplementaryGroups=_hal0; check-config,
run as root, checks as that user with those same groups (hal0d.config.access.groups_of). A
token file is read while the configuration loads, so the daemon's own verdict shows in Reload:
org.hal0.Error.Config when it cannot read it. Release-sensitive (how systemd sets a service's
groups), so it runs on trixie too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.system.hal0d_setup import configure
from tests.system.harness.container import Container

pytestmark = [pytest.mark.timeout(180), pytest.mark.trixie]
DAEMON = "hal0d.service"
TOKEN_FILE = "/etc/hal0/hf-token"  # noqa: S105 - a path


@pytest.fixture(scope="module")
def hal0d(container: Container) -> Iterator[Container]:
    configure(container, {})
    container.write_file(TOKEN_FILE, "hf_group_test_token\n", mode=0o600)
    container.run("systemctl", "restart", DAEMON, timeout=60)
    yield container
    configure(container, {})
    container.path(TOKEN_FILE).unlink(missing_ok=True)
    container.run("systemctl", "restart", DAEMON, timeout=60)


def reload(box: Container) -> str:
    """hal0d's answer to Reload: "" if it took the configuration, else the error's name."""
    result = box.run(
        "busctl", "call", "org.hal0.Manager1", "/org/hal0/Manager1", "org.hal0.Manager1",
        "Reload", check=False, timeout=60,
    )  # fmt: skip
    if result.returncode == 0:
        return ""
    return result.stderr.strip()


@pytest.mark.parametrize(
    ("owner", "mode", "readable"),
    [
        ("root:_hal0", 0o640, True),  # what the docs say: hal0d and root only
        ("root:hal0", 0o640, True),  # the daemon's Group=
        ("root:root", 0o600, False),
    ],
)
def test_check_config_and_hal0d_agree_on_a_token_file(
    hal0d: Container, owner: str, mode: int, readable: bool
) -> None:
    box = hal0d
    box.run("chown", owner, TOKEN_FILE)
    box.run("chmod", f"{mode:o}", TOKEN_FILE)
    with box.path("/etc/hal0/hal0.toml").open("a") as file:
        file.write(f'hf_token_file = "{TOKEN_FILE}"\n')
    try:
        check = box.run("hal0d", "check-config", check=False)
        answer = reload(box)
    finally:
        configure(box, {})
    if readable:
        assert check.returncode == 0, check.stdout
        assert answer == "", answer
    else:
        assert check.returncode == 78, check.stdout
        assert f"hf_token_file: '{TOKEN_FILE}' is not readable by user _hal0" in check.stdout
        assert "Permission denied" in answer or "cannot be read" in answer, answer
