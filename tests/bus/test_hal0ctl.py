"""hal0ctl against a real hal0d on the private bus: status, pull (terminal and not), Ctrl-C,
denial, monitor, Diagnose. The system tier repeats the user-facing parts under real systemd
and polkitd; here the pull is paced by a loopback server so the progress can be watched."""

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bus.harness import Daemon, ThrottledServer, busctl, start_daemon, write_config
from tests.support.pty_run import PtyProcess, run_in_pty

SIZE = 24 << 20
RATE = 6 << 20  # ~4 s
PERCENT = re.compile(r"(\d+) %")


@pytest.fixture(scope="module")
def model() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def server(model: bytes) -> Iterator[ThrottledServer]:
    running = ThrottledServer(model, RATE)
    yield running
    running.close()


@pytest.fixture
def pulling_daemon(
    bus_address: str,
    polkit: tuple[Path, Path],
    tmp_path: Path,
    model: bytes,
    server: ThrottledServer,
) -> Iterator[Daemon]:
    polkit[0].write_text("{}")
    slot = {
        "url": server.url,
        "sha256": hashlib.sha256(model).hexdigest(),
        "size": SIZE,
        "allow_http": True,
    }
    config = tmp_path / "etc"
    write_config(config, tmp_path / "state", {"big": slot})
    daemon = start_daemon(bus_address, config, tmp_path)
    yield daemon
    daemon.stop()
    daemon.notify.close()


def hal0ctl_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "hal0d.cli.ctl", *args]


def hal0ctl(address: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address, **env)
    environment.pop("NO_COLOR", None)
    return subprocess.run(
        hal0ctl_argv(*args), capture_output=True, text=True, env=environment, timeout=60
    )


def bus_value(text: str) -> object:
    """The value of busctl's `--json=short get-property` output, whatever its type."""
    return json.loads(text)["data"]


def test_status_json_matches_the_bus_properties(daemon: Daemon, bus_address: str) -> None:
    result = hal0ctl(bus_address, "status", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert sorted(data["slots"]) == ["alpha", "b-2_x"]
    for prop, value in data["slots"]["b-2_x"].items():
        shown = busctl(
            bus_address, "--json=short", "get-property", "org.hal0.Manager1",
            "/org/hal0/Manager1/slot/b_2d2_5fx",
            "org.hal0.Slot1", prop,
        ).stdout  # fmt: skip
        assert bus_value(shown) == value, prop
    status = busctl(
        bus_address, "--json=short", "get-property", "org.hal0.Manager1", "/org/hal0/Manager1",
        "org.hal0.Manager1", "Status",
    ).stdout  # fmt: skip
    assert data["manager"]["Status"] == bus_value(status)


def test_status_table_has_no_colour_off_a_terminal(daemon: Daemon, bus_address: str) -> None:
    result = hal0ctl(bus_address, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("hal0d ")
    assert lines[1].split() == [
        "SLOT",
        "STATE",
        "MODEL",
        "ENDPOINT",
        "RESTARTS",
        "LAST",
        "ERROR",
        "/",
        "PROGRESS",
    ]
    assert lines[2].split()[:2] == ["alpha", "offline"]
    assert "\033[" not in result.stdout


def test_status_colours_only_on_a_terminal_without_no_color(
    daemon: Daemon, bus_address: str
) -> None:
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus_address, TERM="xterm")
    env.pop("NO_COLOR", None)
    status, text = run_in_pty(hal0ctl_argv("status"), env)
    assert status == 0, text
    assert "\033[1mSLOT" in text
    status, text = run_in_pty(hal0ctl_argv("status"), env | {"NO_COLOR": "1"})
    assert status == 0, text
    assert "\033[" not in text


def test_status_of_an_unknown_slot_is_one_line_and_exit_1(daemon: Daemon, bus_address: str) -> None:
    result = hal0ctl(bus_address, "status", "nope")
    assert result.returncode == 1
    assert result.stderr == "hal0ctl: no slot named 'nope' is configured (slots: alpha, b-2_x)\n"


def test_no_daemon_is_exit_3(bus_address: str) -> None:
    result = hal0ctl(bus_address, "status")
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("hal0ctl: hal0d is not running"), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_pull_on_a_terminal_draws_a_progress_bar_and_ends_with_the_sha256(
    pulling_daemon: Daemon, bus_address: str, model: bytes
) -> None:
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus_address, TERM="xterm")
    status, text = run_in_pty(hal0ctl_argv("pull", "big"), env)
    assert status == 0, text
    frames = text.split("\r")
    percents = [int(p) for frame in frames for p in PERCENT.findall(frame)]
    assert len(set(percents)) >= 3, text
    assert percents == sorted(percents), percents
    assert percents[-1] == 100
    assert "MiB/s" in text
    sha256 = hashlib.sha256(model).hexdigest()
    assert re.search(rf"big: model verified, sha256 (\033\[32m)?{sha256}", text), text


def test_pull_without_a_terminal_prints_json_lines(
    pulling_daemon: Daemon, bus_address: str, model: bytes
) -> None:
    result = hal0ctl(bus_address, "pull", "big")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) >= 3
    assert {r["slot"] for r in records} == {"big"}
    done = [r["bytes_done"] for r in records]
    assert done == sorted(done)
    assert records[-1] == {
        "slot": "big",
        "phase": "done",
        "bytes_done": SIZE,
        "bytes_total": SIZE,
        "sha256": hashlib.sha256(model).hexdigest(),
        "error": "",
    }


def test_pulling_again_a_model_in_the_store_ends_at_once_with_its_sha256(
    pulling_daemon: Daemon, bus_address: str, model: bytes
) -> None:
    assert hal0ctl(bus_address, "pull", "big").returncode == 0
    result = hal0ctl(bus_address, "pull", "big")
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.splitlines()[-1])
    assert (last["phase"], last["sha256"]) == ("done", hashlib.sha256(model).hexdigest())


def test_status_shows_a_running_pulls_progress(pulling_daemon: Daemon, bus_address: str) -> None:
    assert hal0ctl(bus_address, "pull", "big", "--no-block").returncode == 0
    result = hal0ctl(bus_address, "status")
    # "checking_local 0 B" until the server answers with the size, then "download 41 % of ..."
    row = r"^big\s+pulling\s.*\s(checking_local \d+ B|download \d+ % of 24\.0 MiB)$"
    assert re.search(row, result.stdout, re.M), result.stdout
    hal0ctl(bus_address, "cancel", "big")


def test_ctrl_c_cancels_the_pull_through_the_api(
    pulling_daemon: Daemon, bus_address: str, polkit: tuple[Path, Path]
) -> None:
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus_address, TERM="xterm")
    pull = PtyProcess(hal0ctl_argv("pull", "big"), env)
    assert pull.read_until(lambda text: "download" in text, within=30), pull.text
    pull.interrupt()
    status = pull.finish()
    assert status == 1, pull.text
    assert "cancelling the pull of big; the partial download is kept" in pull.text
    assert "hal0ctl: pull of big cancelled" in pull.text
    phase = busctl(
        bus_address, "get-property", "org.hal0.Manager1", "/org/hal0/Manager1/slot/big",
        "org.hal0.Slot1", "Phase",
    ).stdout  # fmt: skip
    assert phase.strip() == 's "cancelled"'
    asked = [json.loads(line) for line in polkit[1].read_text().splitlines()]
    # On a terminal the calls allow interactive authorization (polkit may ask a password).
    assert {"action": "org.hal0.model.manage", "flags": 1} in [
        {"action": q["action"], "flags": q["flags"]} for q in asked
    ]


def test_pull_denied_is_one_line_and_exit_4(
    pulling_daemon: Daemon, bus_address: str, polkit: tuple[Path, Path]
) -> None:
    polkit[0].write_text('{"deny_all": true}')
    result = hal0ctl(bus_address, "pull", "big")
    assert result.returncode == 4, result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "not authorized" in result.stderr
    assert "group hal0" in result.stderr


def test_monitor_shows_a_pull_live(pulling_daemon: Daemon, bus_address: str) -> None:
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus_address)
    monitor = subprocess.Popen(
        hal0ctl_argv("monitor", "--json"), stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert monitor.stdout is not None
        ready = json.loads(monitor.stdout.readline())
        assert ready == {"event": "watching", "service": "org.hal0.Manager1"}
        hal0ctl(bus_address, "pull", "big", "--no-block")
        events = []
        while not any(e.get("changed", {}).get("Phase") == "done" for e in events):
            events.append(json.loads(monitor.stdout.readline()))
    finally:
        monitor.terminate()
        monitor.wait(timeout=10)
        if monitor.stdout is not None:
            monitor.stdout.close()
    slot_events = [e for e in events if e.get("slot") == "big"]
    assert {"download", "done"} <= {e["changed"].get("Phase") for e in slot_events}
    assert any(e["changed"].get("State") == "pulling" for e in slot_events)


def test_diagnose_reports_per_slot_checks(daemon: Daemon, bus_address: str) -> None:
    out = busctl(
        bus_address, "--json=short", "call", "org.hal0.Manager1", "/org/hal0/Manager1",
        "org.hal0.Manager1", "Diagnose",
    ).stdout  # fmt: skip
    findings = json.loads(out)["data"][0]
    by_key = {(slot, check): (verdict, message) for slot, check, verdict, message in findings}
    assert by_key[("", "llama-server")] == ("ok", "/bin/true found and executable")
    assert by_key[("alpha", "config")] == ("ok", "slot file is valid")
    assert by_key[("alpha", "model")][0] == "warning"
    assert "hal0ctl pull alpha" in by_key[("alpha", "model")][1]
    assert by_key[("alpha", "unit")] == ("ok", "hal0-slot@alpha.service: offline")
    assert findings[0][0] == ""  # hal0d-wide findings come first


def test_diagnose_reads_the_config_on_disk(daemon: Daemon, bus_address: str) -> None:
    (daemon.config_dir / "slots" / "alpha.toml").write_text('port = "x"\n')
    result = hal0ctl(bus_address, "doctor", "--json")
    data = json.loads(result.stdout)
    assert data["daemon"] == "running"
    errors = [f for f in data["findings"] if f["verdict"] == "error"]
    assert errors
    assert all((f["slot"], f["check"]) == ("alpha", "config") for f in errors), errors
    assert result.returncode == 1


@pytest.fixture
def huge_daemon(bus_address: str, polkit: tuple[Path, Path], tmp_path: Path) -> Iterator[Daemon]:
    """A slot whose model no machine has the memory for (its URL leads nowhere)."""
    polkit[0].write_text("{}")
    huge = {"url": "https://127.0.0.1:1/none.gguf", "sha256": "0" * 64, "size": 1 << 50}
    write_config(tmp_path / "etc", tmp_path / "state", {"huge": huge})
    daemon = start_daemon(bus_address, tmp_path / "etc", tmp_path)
    yield daemon
    daemon.stop()
    daemon.notify.close()


def test_load_force_passes_the_memory_check_that_plain_load_fails(
    huge_daemon: Daemon, bus_address: str
) -> None:
    refused = hal0ctl(bus_address, "load", "--no-block", "huge")
    assert refused.returncode == 1, refused
    assert "memory" in refused.stderr, refused.stderr
    forced = hal0ctl(bus_address, "load", "--force", "--no-block", "huge")
    assert forced.returncode == 0, forced  # accepted: hal0d pulls first, past the check
