"""A real pull (the real model store, a loopback HTTP server throttled to 16 MiB/s, 64 MiB)
watched by an independent subscriber, dbus-monitor: PropertiesChanged is coalesced to at most
12 signals per object in any one-second window, and the last one carries the final phase."""

import hashlib
import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

from tests.bus.harness import (
    Daemon,
    Monitor,
    ThrottledServer,
    busctl,
    start_daemon,
    write_config,
)

SIZE = 64 << 20
RESULTS = Path(__file__).parents[2] / "build" / "results"  # measured numbers
RATE = 16 << 20


@pytest.fixture(scope="module")
def model() -> bytes:
    return os.urandom(SIZE)


def parse_monitor(text: str) -> list[tuple[float, str, str]]:
    """(timestamp, path, body) of each PropertiesChanged in dbus-monitor's default output."""
    signals = []
    current: list[str] | None = None
    for line in [*text.splitlines(), "signal END"]:
        if line.startswith(("signal ", "method ", "error ")):
            if current is not None:
                head = current[0]
                fields = dict(f.rstrip(";").split("=", 1) for f in head.split() if "=" in f)
                if fields.get("member") == "PropertiesChanged":
                    signals.append((float(fields["time"]), fields["path"], "\n".join(current)))
            current = [line]
        elif current is not None:
            current.append(line)
    return signals


SLOT_PATH = "/org/hal0/Manager1/slot/big"
MANAGER_PATH = "/org/hal0/Manager1"
FINAL = ('"done"', '"failed"', '"cancelled"')


def ended(monitor_output: str, path: str) -> bool:
    """Whether a PropertiesChanged of ``path`` has carried a final phase."""
    return any(
        signal_path == path and any(final in body for final in FINAL)
        for _, signal_path, body in parse_monitor(monitor_output)
    )


def test_pull_stream_is_coalesced_and_ends_with_the_final_phase(
    bus_address: str,
    polkit: tuple[Path, Path],
    tmp_path: Path,
    model: bytes,
) -> None:
    polkit[0].write_text("{}")
    server = ThrottledServer(model, RATE)
    config = tmp_path / "etc"
    slot = {
        "url": server.url,
        "sha256": hashlib.sha256(model).hexdigest(),
        "size": SIZE,
        "allow_http": True,
    }
    write_config(config, tmp_path / "state", {"big": slot})
    daemon: Daemon = start_daemon(bus_address, config, tmp_path)
    monitor = Monitor(bus_address, "type='signal',interface='org.freedesktop.DBus.Properties'")
    try:
        busctl(
            bus_address,
            "call",
            "org.hal0.Manager1",
            "/org/hal0/Manager1/slot/big",
            "org.hal0.Slot1",
            "Pull",
        )
        # The last signal of both objects carries the final phase: wait for it to arrive.
        monitor.wait_for(lambda out: ended(out, SLOT_PATH) and ended(out, MANAGER_PATH))
    finally:
        out = monitor.stop()
        daemon.stop()
        daemon.notify.close()
        server.close()
    measured: dict[str, dict[str, float]] = {}
    by_path: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for stamp, path, body in parse_monitor(out):
        by_path[path].append((stamp, body))
    slot_signals = by_path["/org/hal0/Manager1/slot/big"]
    assert len(slot_signals) >= 20, out[-3000:]  # 4 s of transfer, ~10 a second
    for path, signals in by_path.items():
        stamps = [stamp for stamp, _ in signals]
        worst = max(sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps)
        measured[path] = {
            "signals": len(signals),
            "seconds": round(stamps[-1] - stamps[0], 2),
            "max_per_second": worst,
        }
        assert worst <= 12, (path, worst)
        assert '"done"' in signals[-1][1], (path, signals[-1][1])
    RESULTS.mkdir(parents=True, exist_ok=True)
    depset = os.environ.get("HAL0_DEPSET", "unset")
    (RESULTS / f"bus-pull-signals-{depset}.json").write_text(json.dumps(measured, indent=2))
    with_bytes = [body for _, body in slot_signals if '"BytesDone"' in body]
    assert f"uint64 {SIZE}" in with_bytes[-1]  # the full count was published too
    assert all('"Phase"' in body for body in with_bytes), "bytes sent without Phase"
