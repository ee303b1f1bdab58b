"""2. Load overhead and 3. readiness detection, on the real hal0d.service in the container.

Load overhead: `Load` on the bus → the slot's `State` = ready signal at a subscriber, against
starting the same llama-server (same argv and environment, read from the env file hal0d wrote)
by hand and polling /health at the runner's own loading interval until 200; alternating, for
the tiny model and the ~105 MiB one. Overhead = hal0d minus by hand, run by run.

The slot sandbox's share: a transient unit running /bin/true with the slot unit's sandbox
properties against one without, by systemd's own runtime figure, alternating.

Readiness detection: a separate process polls /health every 2 ms and notes the
CLOCK_MONOTONIC time of the first 200; the subscriber notes when the ready signal arrives (the
container shares the host's monotonic clock, so does systemd's ActiveEnterTimestampMonotonic,
which splits the delay into the runner's part and hal0d's).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest

from bench.result import Result, Target
from bench.system.client import Hal0Client
from bench.system.conftest import Stage, runs
from tests.system.conftest import Model

pytestmark = pytest.mark.timeout(900)


STEPS = (
    "call_to_exec",
    "exec_to_runner_started",
    "runner_started_to_ready_notify",
    "ready_notify_to_signal",
)


def timeline(stage: Stage, name: str, sent: float, signalled: float) -> dict[str, float]:
    """Where a load's time went, in ms, from systemd's monotonic timestamps of the slot unit."""
    props = stage.show(
        f"hal0-slot@{name}.service",
        "ExecMainStartTimestampMonotonic",
        "ActiveEnterTimestampMonotonic",
    )
    execed = int(props["ExecMainStartTimestampMonotonic"]) / 1e6
    active = int(props["ActiveEnterTimestampMonotonic"]) / 1e6
    points = [sent, execed, runner_started(stage, name, execed), active, signalled]
    return {key: (b - a) * 1000 for key, a, b in zip(STEPS, points, points[1:], strict=False)}


def runner_started(stage: Stage, name: str, execed: float) -> float:
    """When the runner's first journal line ("starting llama-server ...") arrived: after the
    sandbox is set up, Python has started and the runner has read its settings."""
    lines = stage.run("journalctl", "-u", f"hal0-slot@{name}.service", "-o", "json", "-n", "40")
    for entry in map(json.loads, lines.splitlines()):
        at = int(entry["__MONOTONIC_TIMESTAMP"]) / 1e6
        if at >= execed and str(entry.get("MESSAGE", "")).startswith("starting llama-server"):
            return at
    raise AssertionError(f"no runner start logged for {name} after {execed}")


# hal0-slot@.service's [Service] keys that are not its sandbox (everything else is copied).
NOT_SANDBOX = {
    "Type", "NotifyAccess", "EnvironmentFile", "ExecStart", "SyslogIdentifier", "Restart",
    "RestartSec", "RestartPreventExitStatus", "TimeoutStartSec", "WatchdogSec",
    "TimeoutAbortSec", "KillMode", "TimeoutStopSec", "OOMScoreAdjust",
}  # fmt: skip


def sandbox_of(stage: Stage) -> list[str]:
    """The slot unit's sandbox as systemd-run properties, read from the installed unit."""
    text = stage.run("systemctl", "cat", "hal0-slot@x.service")
    properties, section = [], ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key = line.split("=", 1)[0]
            if key not in NOT_SANDBOX:
                properties += ["-p", line]
    return properties


def unit_runtime_ms(stage: Stage, properties: list[str]) -> float:
    """systemd's own runtime of a transient unit running /bin/true: its set-up and exec."""
    answer = stage.container.run("systemd-run", "--wait", "--collect", *properties, "/bin/true")
    value, unit = re.search(r"runtime: ([0-9.]+)(us|ms|s)\b", answer.stderr).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def bench_load_overhead(stage: Stage, tiny_model: Model, large_model: Model) -> None:
    result = Result(
        "load",
        "Load overhead: Load on the bus → ready signal, against llama-server started by hand",
        " ".join(__doc__.split("\n\n")[1:3]).replace("\n", " "),
    )
    stage.configure({"tiny": tiny_model, "large": large_model})
    stage.restart()
    count = runs(7)
    async with await Hal0Client.connect(stage.container.bus_address) as bus:
        for name in ("tiny", "large"):
            hal0d_ms, hand_ms = [], []
            parts: dict[str, list[float]] = {key: [] for key in STEPS}
            for index in range(count + 1):  # the first pair warms the page cache
                sent, ready = await bus.load(name)
                steps = timeline(stage, name, sent, ready.at)
                env_file = f"/run/hal0/slots/{name}.env"
                env = stage.run("cat", env_file)
                await bus.unload(name)
                stage.container.write_file(f"/etc/hal0-bench/{name}.env", env, 0o600)
                hand = json.loads(stage.script("handrun.py", f"/etc/hal0-bench/{name}.env"))
                if index:
                    hal0d_ms.append((ready.at - sent) * 1000)
                    hand_ms.append(hand["ready_ms"])
                    for key, value in steps.items():
                        parts[key].append(value)
            overhead = [h - b for h, b in zip(hal0d_ms, hand_ms, strict=True)]
            result.add(f"{name}_hal0d_ms", hal0d_ms, "ms")
            result.add(f"{name}_by_hand_ms", hand_ms, "ms", poll_interval_s=hand["interval_s"])
            result.add(f"{name}_overhead_ms", overhead, "ms", Target(100))
            for key, values in parts.items():
                result.add(f"{name}_step_{key}_ms", values, "ms")
    sandbox = sandbox_of(stage)
    with_sandbox, without = [], []
    for _ in range(count):
        with_sandbox.append(unit_runtime_ms(stage, sandbox))
        without.append(unit_runtime_ms(stage, []))
    cost = [a - b for a, b in zip(with_sandbox, without, strict=True)]
    result.add("slot_sandbox_setup_ms", cost, "ms", properties=sandbox[1::2])
    result.write()


async def bench_readiness_detection(stage: Stage, tiny_model: Model) -> None:
    result = Result(
        "readiness",
        "Readiness detection: llama-server's first /health 200 → ready signal at a subscriber",
        __doc__.split("\n\n")[3].replace("\n", " "),
    )
    stage.configure({"tiny": tiny_model})
    stage.restart()
    detection, runner_part, hal0d_part = [], [], []
    async with await Hal0Client.connect(stage.container.bus_address) as bus:
        port = int((await bus.slot_property("tiny", "Endpoint")).rsplit(":", 1)[1])
        for _ in range(runs(20)):
            poller = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.system.first_health", str(port),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert poller.stdout is not None
            assert (await poller.stdout.readline()).strip() == b"polling"
            _sent, ready = await bus.load("tiny")
            first_200 = float(await poller.stdout.readline())
            await poller.wait()
            active = stage.show("hal0-slot@tiny.service", "ActiveEnterTimestampMonotonic")
            active_at = int(active["ActiveEnterTimestampMonotonic"]) / 1e6
            detection.append((ready.at - first_200) * 1000)
            runner_part.append((active_at - first_200) * 1000)
            hal0d_part.append((ready.at - active_at) * 1000)
            await bus.unload("tiny")
    result.add("detection_ms", detection, "ms", Target(50), resolution_ms=2)
    result.add("first_200_to_unit_active_ms", runner_part, "ms")
    result.add("unit_active_to_signal_ms", hal0d_part, "ms")
    result.notes.append(f"p99 is the nearest rank of {len(detection)} runs")
    result.write()
