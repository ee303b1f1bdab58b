"""Idle cost of hal0-applet: its wakeups (context switches of all its threads, from
/proc/PID/task/*/status) over a quiet window, next to the bus messages in that window.

The applet runs as in the applet test: the real hal0d on a private system bus (two slots, no
transfer running), a real tray host (xfce4-panel on Xvfb) on a session bus. A signal-driven
applet wakes only for bus messages, so with quiet buses the count should be zero.

    python -m bench.applet_idle [--seconds 60] [--out build/bench/applet-idle.json]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bus.desktop import desktop
from tests.bus.harness import Monitor, start_bus, start_daemon, write_config

SLOT = {"url": "https://127.0.0.1:1/none.gguf", "sha256": "0" * 64, "size": 1024}


def wakeups(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread of PID so far."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def messages(text: str) -> int:
    """Messages in dbus-monitor's output, less the NameAcquired/NameLost of becoming one."""
    heads = [
        line for line in text.splitlines() if line.startswith(("signal ", "method ", "error "))
    ]
    return sum(
        1 for head in heads if "member=NameAcquired" not in head and "member=NameLost" not in head
    )


def measure(root: Path, seconds: float) -> dict[str, object]:
    bus, address = start_bus(root)
    write_config(root / "etc", root / "state", {"chat": SLOT, "code": SLOT})
    daemon = start_daemon(address, root / "etc", root)
    try:
        with desktop(root / "desktop") as session:
            env = session.env | {"DBUS_SYSTEM_BUS_ADDRESS": address}
            with (root / "applet.log").open("w") as log:
                applet = subprocess.Popen(
                    [sys.executable, "-m", "hal0d.applet"], env=env, stdout=log, stderr=log
                )
            try:
                session.run(
                    "gdbus",
                    "wait",
                    "--session",
                    "--timeout",
                    "60",
                    f"org.kde.StatusNotifierItem-{applet.pid}-1",
                )
                time.sleep(5)  # let the panel finish reading the new item
                host, system = Monitor(session.address), Monitor(address)
                before = wakeups(applet.pid)
                time.sleep(seconds)
                after = wakeups(applet.pid)
                session_messages, system_messages = messages(host.stop()), messages(system.stop())
            finally:
                applet.terminate()
                applet.wait(timeout=20)
    finally:
        daemon.stop()
        daemon.notify.close()
        bus.terminate()
        bus.wait(timeout=20)
    return {
        "seconds": seconds,
        "applet_wakeups": after - before,
        "wakeups_before_the_window": before,  # start-up and registration: the counter counts
        "session_bus_messages": session_messages,
        "system_bus_messages": system_messages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out", type=Path, default=Path("build/bench/applet-idle.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hal0-applet-bench.") as root:
        result = measure(Path(root), args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
