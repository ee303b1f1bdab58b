"""units/hal0-router.socket and .service, judged by systemd's own tools on the host."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.slots.test_unit_file import MAX_EXPOSURE, sections

UNITS = Path(__file__).resolve().parents[3] / "units"
SERVICE = UNITS / "hal0-router.service"
SOCKET = UNITS / "hal0-router.socket"
SLOT_PORTS = range(8100, 8200)  # the default port_range
TAKEN = {8080: "llama-server's default", 11434: "Ollama's"}


def analyze(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing; install systemd (requirements/apt-host.txt)")
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, check=False, cwd=cwd
    )


@pytest.mark.parametrize("unit", [SERVICE, SOCKET], ids=lambda p: p.name)
def test_verify_prints_no_warning(unit: Path, tmp_path: Path) -> None:
    for path in (SERVICE, SOCKET):  # each names the other
        shutil.copy(path, tmp_path)
    result = analyze("verify", "--man=no", str(tmp_path / unit.name), cwd=tmp_path)
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


def test_service_exposure_is_at_most_two() -> None:
    result = analyze("security", "--offline=true", "--no-pager", str(SERVICE), cwd=UNITS)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_socket_listens_on_loopback_on_a_port_nobody_else_uses() -> None:
    socket = dict(sections(SOCKET)["Socket"])
    host, _, port = socket["ListenStream"].rpartition(":")
    assert host == "127.0.0.1"
    assert int(port) not in TAKEN
    assert int(port) not in SLOT_PORTS
    # systemd applies a service's IPAddress*= only to sockets it opens itself
    assert (socket["IPAddressDeny"], socket["IPAddressAllow"]) == ("any", "localhost")


def test_service_is_a_static_user_with_keys_from_a_credential() -> None:
    service = dict(sections(SERVICE)["Service"])
    assert service["Type"] == "notify"
    assert service["User"] == "_hal0-router"
    assert "DynamicUser" not in service  # polkit must resolve the user through NSS
    assert service["LoadCredential"] == "api-keys:/etc/hal0/router.keys"
    assert service["SetCredential"].startswith("api-keys:")  # no file: no keys
    assert service["RestartPreventExitStatus"] == "78"
    assert service["ExecStart"] == "/usr/bin/python3 -I -m hal0d.router"
