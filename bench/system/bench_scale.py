"""5. Footprint and 6. scale of the real hal0d.service in the container, by slot count.

Configured (not running) slots, N in {0, 1, 16, 64, 256}, in alternating order round by round:
hal0d restarted for each; READY=1 time as systemd records it (exec → active, CLOCK_MONOTONIC);
hal0d's RSS right after; GetManagedObjects and ListSlots latency from a subscriber on the host
(median of 10 calls per restart). Running tiny-model slots, N in {1, 8, 32, 64}: hal0d
restarted with N slots serving, READY=1 being the point where their state is rebuilt.
Idle wakeups: context switches summed over hal0d's threads over a window, with 0 and with 8
running slots, alternating. The floor is `python3 -c 'import hal0d.daemon'`; the runner's RSS
is that of each running slot's main process.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bench.result import Result, Target, fit_line, growth_check
from bench.system.client import Hal0Client
from bench.system.conftest import Stage, runs
from tests.system.conftest import Model

pytestmark = pytest.mark.timeout(1800)
CONFIGURED = (0, 1, 16, 64, 256)
RUNNING = (1, 8, 32, 64)
CALLS = 10
FLOOR = "import hal0d.daemon; print(open('/proc/self/status').read())"


def names(count: int) -> dict[str, int]:
    return {f"s{index:03d}": index for index in range(count)}


async def latency(call: Callable[[], Awaitable[Any]]) -> float:
    """Median of CALLS calls, in ms."""
    times = []
    for _ in range(CALLS):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@pytest.fixture(scope="module")
def configured(stage: Stage, tiny_model: Model) -> dict[str, dict[int, list[float]]]:
    """The configured-slots sweep, shared by footprint (RSS) and scale (READY, latencies)."""
    figures: dict[str, dict[int, list[float]]] = {
        key: {n: [] for n in CONFIGURED} for key in ("ready_s", "rss_kib", "gmo_ms", "list_ms")
    }
    for index in range(runs(3)):
        order = CONFIGURED if index % 2 == 0 else tuple(reversed(CONFIGURED))
        for n in order:
            stage.configure(dict.fromkeys(names(n), tiny_model))
            figures["ready_s"][n].append(stage.restart())
            figures["rss_kib"][n].append(stage.rss_kib(stage.main_pid()))
            gmo, listed = asyncio.run(_latencies(stage))
            figures["gmo_ms"][n].append(gmo)
            figures["list_ms"][n].append(listed)
    return figures


async def _latencies(stage: Stage) -> tuple[float, float]:
    async with await Hal0Client.connect(stage.container.bus_address) as bus:
        return await latency(bus.managed_objects), await latency(lambda: bus.manager("ListSlots"))


def scaled(series: dict[int, list[float]], factor: float) -> dict[int, list[float]]:
    return {n: [v * factor for v in values] for n, values in series.items()}


def add_series(
    result: Result, key: str, series: dict[int, list[float]], unit: str,
    targets: dict[int, Target] | None = None,
) -> None:  # fmt: skip
    for n, values in series.items():
        result.add(f"{key}_n{n}", values, unit, (targets or {}).get(n), slots=n)


def add_slope(
    result: Result, key: str, series: dict[int, list[float]], unit: str,
    target: Target | None = None,
) -> None:  # fmt: skip
    ns = sorted(series)
    per_n = [series[n] for n in ns]
    slope, intercept = fit_line(ns, [statistics.median(v) for v in per_n])
    held, how = growth_check(ns, per_n)
    result.add_value(f"{key}_slope", slope, f"{unit}/slot", target, intercept=round(intercept, 4))
    result.add_check(f"{key}_growth_linear_or_better", held, "linear or better", how=how)


async def _wakeups(stage: Stage, tiny_model: Model, window: float) -> dict[str, Any]:
    slots = names(8)
    stage.configure(dict.fromkeys(slots, tiny_model))
    stage.restart()
    pid = stage.main_pid()
    per_s: dict[int, list[float]] = {0: [], 8: []}
    runner_kib: list[float] = []
    for _ in range(runs(3)):
        for running in (0, 8):
            async with await Hal0Client.connect(stage.container.bus_address) as bus:
                for name in slots:
                    await (bus.load(name) if running else bus.unload(name))
            if running:
                for name in slots:
                    runner = stage.main_pid(f"hal0-slot@{name}.service")
                    runner_kib.append(stage.rss_kib(runner))
            await asyncio.sleep(2)  # let the transitions' own work finish
            before = stage.context_switches(pid)
            await asyncio.sleep(window)
            per_s[running].append((stage.context_switches(pid) - before) / window)
    return {"per_s": per_s, "runner_kib": runner_kib}


async def bench_footprint(
    stage: Stage, tiny_model: Model, configured: dict[str, dict[int, list[float]]]
) -> None:
    result = Result("footprint", "Footprint: memory and idle wakeups of hal0d", __doc__)
    rss = {n: v for n, v in configured["rss_kib"].items() if n != 1}
    add_series(result, "hal0d_rss_mib", scaled(rss, 1 / 1024), "MiB")
    add_slope(result, "hal0d_rss", rss, "KiB", Target(64))
    floor = []
    for _ in range(runs(5)):
        status = stage.run("/usr/bin/python3", "-c", FLOOR)
        floor.append(int(status.split("VmRSS:")[1].split()[0]) / 1024)
    result.add("floor_import_hal0d_daemon_rss_mib", floor, "MiB")
    window = float(os.environ.get("BENCH_WAKEUP_WINDOW", "60"))
    wakeups = await _wakeups(stage, tiny_model, window)
    result.add("runner_rss_mib", [k / 1024 for k in wakeups["runner_kib"]], "MiB", Target(20))
    per_s = wakeups["per_s"]
    result.add("idle_wakeups_per_s_0_running", per_s[0], "1/s", Target(1), window_s=window)
    result.add("idle_wakeups_per_s_8_running", per_s[8], "1/s", window_s=window)
    result.notes.append("CPU during a 1 GiB pull: see signals.json (hal0d_cpu_s_per_gib)")
    result.write()


async def bench_scale(
    stage: Stage, tiny_model: Model, configured: dict[str, dict[int, list[float]]]
) -> None:
    result = Result("scale", "Scale: cost of hal0d by slot count", __doc__)
    ready = scaled({n: v for n, v in configured["ready_s"].items() if n}, 1000)
    add_series(result, "ready_ms", ready, "ms", {256: Target(1000)})
    add_slope(result, "ready", ready, "ms")
    for key, label in (("gmo_ms", "get_managed_objects_ms"), ("list_ms", "list_slots_ms")):
        series = {n: v for n, v in configured[key].items() if n}
        add_series(result, label, series, "ms")
        add_slope(result, label.removesuffix("_ms"), series, "ms")
    rebuild = scaled(await _rebuild(stage, tiny_model), 1000)
    add_series(result, "rebuild_ms_running", rebuild, "ms")
    add_slope(result, "rebuild_running", rebuild, "ms")
    result.write()


async def _rebuild(stage: Stage, tiny_model: Model) -> dict[int, list[float]]:
    slots = list(names(max(RUNNING)))
    stage.configure(dict.fromkeys(slots, tiny_model))
    stage.restart()
    series: dict[int, list[float]] = {}
    loaded = 0
    for n in RUNNING:
        async with await Hal0Client.connect(stage.container.bus_address) as bus:
            for first in range(loaded, n, 8):  # a few at a time: two cores
                batch = slots[first : min(first + 8, n)]
                await asyncio.gather(*(bus.load(name) for name in batch))
        loaded = n
        series[n] = [stage.restart() for _ in range(runs(3))]
        async with await Hal0Client.connect(stage.container.bus_address) as bus:
            states = {await bus.slot_property(name, "State") for name in slots[:n]}
        assert states == {"ready"}, f"after a restart with {n} running: {states}"
    stage.stop_slots()
    return series
