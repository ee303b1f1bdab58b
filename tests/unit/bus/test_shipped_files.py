"""The files hal0d ships for systemd, D-Bus and polkit, checked with the real tools."""

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hal0d import contract

TOP = Path(__file__).parents[3]
UNIT = TOP / "units" / "hal0d.service"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing (package systemd)"
    return path


def _unit_with_real_binary(tmp_path: Path) -> Path:
    """The unit as shipped, but ExecStart= pointing at the hal0d of this environment, so
    `systemd-analyze verify` can check it exists."""
    hal0d = Path(sys.executable).parent / "hal0d"
    assert hal0d.exists(), hal0d
    copy = tmp_path / "hal0d.service"
    copy.write_text(UNIT.read_text().replace("/usr/bin/hal0d", str(hal0d)))
    return copy


def test_unit_verifies_without_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [_tool("systemd-analyze"), "verify", "--man=no", str(_unit_with_real_binary(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


def test_unit_security_exposure_at_most_3(tmp_path: Path) -> None:
    result = subprocess.run(
        [_tool("systemd-analyze"), "security", "--offline=true", str(UNIT)],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Overall exposure level for hal0d.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-500:]
    assert float(match.group(1)) <= 3.0


def test_unit_essentials() -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        f"BusName={contract.BUS_NAME}",
        f"User={contract.DAEMON_USER}",
        # check-config checks paths with these groups (hal0d.config.access.groups_of)
        f"Group={contract.DAEMON_GROUP}",
        f"SupplementaryGroups={contract.DAEMON_USER}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=hal0",
    ):
        assert line in text.splitlines(), line
    assert re.search(r"^WatchdogSec=\d+", text, re.MULTILINE)
    assert "RuntimeDirectory=" not in text  # it would vanish with hal0d; tmpfiles owns /run/hal0


def test_sysusers_and_tmpfiles_create_what_hal0d_needs(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    subprocess.run(
        [_tool("systemd-sysusers"), f"--root={tmp_path}", str(TOP / "units/hal0.sysusers.conf")],
        check=True,
        capture_output=True,
    )
    passwd = (tmp_path / "etc/passwd").read_text()
    group = (tmp_path / "etc/group").read_text()
    assert re.search(r"^_hal0:x:\d+:\d+:", passwd, re.MULTILINE)
    assert re.search(r"^hal0:x:\d+:", group, re.MULTILINE)
    assert re.search(r"^_hal0-router:x:\d+:\d+:", passwd, re.MULTILINE)  # static: polkit names it
    subprocess.run(
        [
            _tool("systemd-tmpfiles"),
            f"--root={tmp_path}",
            "--create",
            str(TOP / "units/hal0.tmpfiles.conf"),
        ],
        check=True,
        capture_output=True,
    )
    uid = int(re.search(r"^_hal0:x:(\d+):", passwd, re.MULTILINE).group(1))  # type: ignore[union-attr]
    slots = (tmp_path / "run/hal0/slots").stat()
    assert slots.st_uid == uid
    keys = (tmp_path / "etc/hal0/keys").stat()
    assert keys.st_uid == 0
    assert not keys.st_mode & 0o022  # not writable by _hal0 (or anyone but root)
    assert (tmp_path / "var/lib/hal0").stat().st_uid == uid


def test_dbus_policy_lets_only_hal0_and_root_own_and_everyone_send() -> None:
    root = ET.parse(TOP / "dbus/org.hal0.Manager1.conf").getroot()  # noqa: S314 - our file
    owners = set()
    for policy in root.findall("policy"):
        for allow in policy.findall("allow"):
            if allow.get("own") == contract.BUS_NAME:
                owners.add(policy.get("user") or policy.get("context"))
    assert owners == {"_hal0", "root"}
    default = [p for p in root.findall("policy") if p.get("context") == "default"]
    assert [a.get("send_destination") for a in default[0].findall("allow")] == [contract.BUS_NAME]


@pytest.mark.parametrize(
    "action",
    [
        contract.ACTION_MODEL_MANAGE,
        contract.ACTION_SLOT_MANAGE,
        contract.ACTION_SLOT_WAKE,
        contract.ACTION_CONFIG_RELOAD,
    ],
)
def test_polkit_actions_default_to_auth_admin_keep(action: str) -> None:
    root = ET.parse(TOP / "polkit/org.hal0.policy").getroot()  # noqa: S314 - our file
    found = [a for a in root.findall("action") if a.get("id") == action]
    assert len(found) == 1
    defaults = found[0].find("defaults")
    assert defaults is not None
    assert {child.text for child in defaults} == {"auth_admin_keep"}


def test_polkit_rules_name_the_group_and_the_slot_units() -> None:
    rules = (TOP / "polkit/50-hal0.rules").read_text()
    assert 'isInGroup("hal0")' in rules
    assert 'subject.user !== "_hal0"' in rules
    assert "org.freedesktop.systemd1.manage-units" in rules
    assert 'action.lookup("unit")' in rules
    assert 'action.lookup("verb")' in rules
    # the router may wake slots, and nothing else
    assert 'action.id === "org.hal0.slot.wake" && subject.user === "_hal0-router"' in rules
