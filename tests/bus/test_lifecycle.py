"""The daemon's lifecycle as systemd sees it (notify socket) and as clients see it (bus)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.bus.conftest import SLOT
from tests.bus.harness import (
    Daemon,
    Monitor,
    busctl,
    daemon_env,
    iter_lines,
    start_daemon,
    write_slot,
)

NAME = "org.hal0.Manager1"
MANAGER = "/org/hal0/Manager1"


def test_ready_only_once_the_name_is_on_the_bus(daemon: Daemon, bus_address: str) -> None:
    ready = daemon.notify.messages[-1]
    assert ready["READY"] == "1"
    assert ready["STATUS"] == "degraded: systemd is not reachable, slots cannot start (2 offline)"
    names = busctl(bus_address, "list", "--acquired", "--no-legend").stdout
    assert NAME in names


def test_sighup_reloads_between_reloading_and_ready(daemon: Daemon) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    daemon.process.send_signal(signal.SIGHUP)
    reloading = daemon.notify.wait_for("RELOADING")
    assert before <= int(reloading["MONOTONIC_USEC"])
    daemon.notify.wait_for("READY")


def test_sigterm_sends_stopping_and_exits_cleanly(daemon: Daemon) -> None:
    daemon.process.send_signal(signal.SIGTERM)
    daemon.notify.wait_for("STOPPING")
    assert daemon.process.wait(timeout=20) == 0


def test_a_second_instance_exits_with_a_clear_message(
    daemon: Daemon, bus_address: str, tmp_path: Path
) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "hal0d", "--allow-root", "--config-dir", str(daemon.config_dir)],
        env=daemon_env(bus_address, None),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    assert "another hal0d is already running" in second.stderr
    assert "Traceback" not in second.stderr
    assert daemon.process.poll() is None


def test_refuses_root_without_allow_root(bus_address: str, config_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hal0d", "run", "--config-dir", str(config_dir)],
        env=daemon_env(bus_address, None),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 77
    assert "refusing to run as root" in result.stderr


def test_slot_objects_follow_slot_files_on_reload(daemon: Daemon, bus_address: str) -> None:
    monitor = Monitor(
        bus_address, "--profile", "type='signal',interface='org.freedesktop.DBus.ObjectManager'"
    )
    try:
        write_slot(daemon.config_dir, "gamma", SLOT)
        (daemon.config_dir / "slots" / "alpha.toml").unlink()
        daemon.process.send_signal(signal.SIGHUP)
        daemon.notify.wait_for("RELOADING")
        daemon.notify.wait_for("READY")
        monitor.wait_for(lambda out: "InterfacesAdded" in out and "InterfacesRemoved" in out)
    finally:
        out = monitor.stop()
    signals = [line.split() for line in out.splitlines() if "ObjectManager" in line]
    # dbus-monitor --profile: type timestamp serial sender destination path interface member
    seen = {(fields[-1], fields[-3]) for fields in signals}
    assert ("InterfacesAdded", MANAGER) in seen, out
    assert ("InterfacesRemoved", MANAGER) in seen, out
    listed = busctl(bus_address, "call", NAME, MANAGER, "org.hal0.Manager1", "ListSlots").stdout
    assert '"gamma"' in listed
    assert '"alpha"' not in listed
    tree = busctl(bus_address, "tree", "--list", NAME).stdout.split()
    assert "/org/hal0/Manager1/slot/gamma" in tree
    assert "/org/hal0/Manager1/slot/alpha" not in tree


def test_a_bad_config_on_reload_keeps_the_old_one(daemon: Daemon, bus_address: str) -> None:
    (daemon.config_dir / "slots" / "alpha.toml").write_text("url = [\n")
    result = busctl(bus_address, "call", NAME, MANAGER, "org.hal0.Manager1", "Reload", check=False)
    assert result.returncode != 0
    assert "hal0d.log" not in result.stderr
    assert "keeping the previous one" in result.stderr, result.stderr
    listed = busctl(bus_address, "call", NAME, MANAGER, "org.hal0.Manager1", "ListSlots").stdout
    assert '"alpha"' in listed


def test_a_denied_caller_gets_not_authorized_and_nothing_changes(
    daemon: Daemon, bus_address: str, polkit: tuple[Path, Path]
) -> None:
    rules, log = polkit
    before_calls = len(list(iter_lines(log)))
    rules.write_text(json.dumps({"deny_all": True}))
    result = subprocess.run(
        [
            "gdbus",
            "call",
            "--address",
            bus_address,
            "--dest",
            NAME,
            "--object-path",
            MANAGER,
            "--method",
            "org.hal0.Manager1.Pull",
            "alpha",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "org.hal0.Error.NotAuthorized" in result.stderr, result.stderr
    state = busctl(
        bus_address,
        "get-property",
        NAME,
        "/org/hal0/Manager1/slot/alpha",
        "org.hal0.Slot1",
        "State",
    ).stdout.strip()
    assert state == 's "offline"'
    asked = list(iter_lines(log))[before_calls:]
    assert asked[-1]["action"] == "org.hal0.model.manage"
    assert asked[-1]["kind"] == "system-bus-name"
    assert asked[-1]["flags"] == 0


def test_interactive_flag_reaches_polkit(
    daemon: Daemon, bus_address: str, polkit: tuple[Path, Path]
) -> None:
    rules, log = polkit
    rules.write_text(json.dumps({"deny_all": True}))
    result = busctl(
        bus_address,
        "--allow-interactive-authorization=yes",
        "call",
        NAME,
        "/org/hal0/Manager1/slot/alpha",
        "org.hal0.Slot1",
        "Unload",
        check=False,
    )
    assert "org.hal0.Error.NotAuthorized" in result.stderr or "not authorized" in result.stderr
    asked = list(iter_lines(log))[-1]
    assert asked == {**asked, "action": "org.hal0.slot.manage", "flags": 1}


def test_the_daemon_feeds_the_watchdog(
    bus_address: str, polkit: tuple[Path, Path], config_dir: Path, tmp_path: Path
) -> None:
    """That it does; the interval is checked in tests/unit/bus/test_notify.py."""
    polkit[0].write_text("{}")
    daemon = start_daemon(bus_address, config_dir, tmp_path, {"WATCHDOG_USEC": "200000"})
    try:
        for _ in range(3):
            daemon.notify.wait_for("WATCHDOG", timeout=5)
    finally:
        daemon.stop()
        daemon.notify.close()


async def test_polkit_is_asked_about_the_real_sender(
    daemon: Daemon, bus_address: str, polkit: tuple[Path, Path]
) -> None:
    """The sender capture (message handler + ContextVar) names the caller, on both sets."""
    rules, log = polkit
    rules.write_text("{}")
    bus = await MessageBus(bus_address=bus_address).connect()
    try:
        calls = [
            Message(destination=NAME, path=MANAGER, interface=NAME, member="Prune"),
            Message(destination=NAME, path=MANAGER, interface=NAME, member="Unload",
                    signature="s", body=["alpha"]),
        ]  # fmt: skip
        replies = [await bus.call(message) for message in calls]
    finally:
        bus.disconnect()
    assert replies[0] is not None
    assert replies[0].message_type is MessageType.METHOD_RETURN, replies[0].body
    assert replies[0].body == [0]  # nothing to prune in a fresh store
    assert replies[1] is not None
    assert replies[1].error_name == "org.hal0.Error.Unit"  # no systemd on this bus
    asked = list(iter_lines(log))[-2:]
    assert [a["name"] for a in asked] == [bus.unique_name, bus.unique_name]
    assert [a["action"] for a in asked] == ["org.hal0.model.manage", "org.hal0.slot.manage"]
