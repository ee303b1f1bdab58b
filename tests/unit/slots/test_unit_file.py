"""units/hal0-slot@.service, judged by systemd's own tools on the host (no manager needed)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[3] / "units"
SLOT_UNIT = UNITS / "hal0-slot@.service"
MAX_EXPOSURE = 2.0


def sections(path: Path) -> dict[str, list[tuple[str, str]]]:
    """The unit's [Section] → (key, value) pairs in order (keys may repeat)."""
    result: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = result.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key, value))
    return result


def settings(section: str) -> dict[str, str]:
    return dict(sections(SLOT_UNIT)[section])


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    """A copy named as an instance: verify and security judge instances, not templates."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing; install systemd (requirements/apt-host.txt)")
    copy = tmp_path / "hal0-slot@chat.service"
    shutil.copy(SLOT_UNIT, copy)
    return copy


def test_verify_prints_no_warning(instance: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(instance)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == ""


def test_security_exposure_is_at_most_two(instance: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(instance)],
        capture_output=True,
        text=True,
        check=True,
        cwd=instance.parent,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert match, result.stdout[-2000:]
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_start_limits_live_in_unit_section() -> None:
    """systemd 252 ignores StartLimitIntervalSec= in [Service]."""
    unit, service = settings("Unit"), settings("Service")
    assert int(unit["StartLimitBurst"]) >= 2
    assert unit["StartLimitIntervalSec"]
    assert not {"StartLimitIntervalSec", "StartLimitBurst"} & service.keys()


def _seconds(value: str) -> float:
    units = {"s": 1, "min": 60, "ms": 0.001}
    match = re.fullmatch(r"(\d+)(s|min|ms)", value)
    assert match, value
    return int(match.group(1)) * units[match.group(2)]


def test_service_settings_the_design_requires() -> None:
    service = settings("Service")
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["EnvironmentFile"] == "/run/hal0/slots/%i.env"
    assert service["ExecStart"] == "/usr/bin/python3 -I -m hal0d.runner"
    assert service["Restart"] == "on-failure"
    assert service["KillMode"] == "mixed"
    assert service["SyslogIdentifier"] == "hal0-slot@%i"
    assert service["DynamicUser"] == "yes"
    assert service["IPAddressDeny"] == "any"
    assert service["IPAddressAllow"] == "localhost"
    assert "/var/lib/hal0/models" in service["ReadOnlyPaths"]
    assert int(service["OOMScoreAdjust"]) > 0
    assert _seconds(service["TimeoutStartSec"]) >= 600
    assert _seconds(service["TimeoutAbortSec"]) < _seconds(service["WatchdogSec"])
    # Runner defaults: 60 s drain + 10 s grace + 2 s second SIGTERM.
    assert _seconds(service["TimeoutStopSec"]) > 60 + 10 + 2
    assert "78" in service["RestartPreventExitStatus"].split()


def test_no_setting_newer_than_systemd_252() -> None:
    newer = {"RestartSteps", "RestartMaxDelaySec", "MemoryZSwapMax", "OpenFile", "ImportCredential"}
    keys = {key for pairs in sections(SLOT_UNIT).values() for key, _ in pairs}
    assert not keys & newer


def test_cpu_only_by_default() -> None:
    service = settings("Service")
    assert service["PrivateDevices"] == "yes"
    assert service["DevicePolicy"] == "closed"
    assert "DeviceAllow" not in service
