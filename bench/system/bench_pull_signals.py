"""4. Signal discipline and 5. hal0d's CPU during a 1 GiB pull, on the real hal0d.service.

The slot's model is a 1 GiB random file served by nginx on the host's loopback (the container
shares the network namespace); hal0d pulls it into /var/lib/hal0/models, which is on the
container's tmpfs (RAM: no disk in this figure). A subscriber records every PropertiesChanged;
signals per object are counted in one-second windows from the object's first signal of the
pull to its last (the final, partial window left out). Afterwards the last value each signal
carried for each property must equal what GetAll answers: the final state arrived. hal0d's CPU
is its utime + stime (all threads) over the pull.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict

import pytest

from bench.nginx import nginx
from bench.pull import make_source
from bench.result import OUT, Result, Target
from bench.system.client import Change, Hal0Client, slot_path
from bench.system.conftest import MODELS, Stage, runs
from hal0d.contract import MANAGER_INTERFACE, MANAGER_PATH, SLOT_INTERFACE

pytestmark = pytest.mark.timeout(900)
SIZE = 1 << 30


def per_second(changes: list[Change]) -> list[float]:
    """Signals in each full one-second window from the first to the last."""
    if len(changes) < 2:
        return [float(len(changes))]
    start = changes[0].at
    windows = [0] * math.ceil(changes[-1].at - start + 1e-9)
    for change in changes:
        index = min(int(change.at - start), len(windows) - 1)
        windows[index] += 1
    return [float(count) for count in (windows[:-1] or windows)]


def last_values(changes: list[Change]) -> dict[str, object]:
    values: dict[str, object] = {}
    for change in changes:
        values.update(change.changed)
    return values


async def bench_pull_signals(stage: Stage) -> None:
    result = Result(
        "signals",
        "Signal discipline during a 1 GiB pull: PropertiesChanged per second per object",
        __doc__.split("\n\n")[1].replace("\n", " "),
    )
    www = OUT / "www"
    source = www / "model.gguf"
    sha256 = await asyncio.to_thread(make_source, source, SIZE)
    rates: dict[str, list[float]] = defaultdict(list)
    cpu_per_gib, walls, consistent = [], [], []
    with nginx(www, OUT / "work-signals" / "nginx") as base:
        stage.configure({})
        slot = (
            f'url = "{base}/model.gguf"\nallow_http = true\nsha256 = "{sha256}"\n'
            f"size = {SIZE}\nthreads = 1\ncontext = 512\n"
        )
        stage.container.write_file("/etc/hal0/slots/big.toml", slot)
        stage.restart()
        pid = stage.main_pid()
        async with await Hal0Client.connect(stage.container.bus_address) as bus:
            for index in range(runs(3) + 1):  # the first warms the page cache with the source
                stage.run("rm", "-f", str(MODELS / f"{sha256}.gguf"))
                cpu_before, sent = stage.cpu_seconds(pid), time.monotonic()
                await bus.manager("Pull", "s", "big")
                done = await bus.wait_for(slot_path("big"), "Phase", "done", after=sent, within=300)
                cpu_after = stage.cpu_seconds(pid)
                await asyncio.sleep(1)  # anything still coalesced arrives
                if not index:
                    continue
                walls.append(done.at - sent)
                cpu_per_gib.append(cpu_after - cpu_before)
                seen = [c for c in bus.changes if c.at >= sent]
                held = True
                for path, interface in (
                    (MANAGER_PATH, MANAGER_INTERFACE),
                    (slot_path("big"), SLOT_INTERFACE),
                ):
                    own = [c for c in seen if c.path == path and c.at <= done.at + 0.5]
                    rates[path] += per_second(own)
                    truth = await bus.get_all(path, interface)
                    last = last_values([c for c in seen if c.path == path])
                    held &= all(truth.get(key) == value for key, value in last.items())
                consistent.append(held)
        stage.run("rm", "-f", str(MODELS / f"{sha256}.gguf"))
    for path, label in ((MANAGER_PATH, "manager"), (slot_path("big"), "slot")):
        result.add(f"{label}_signals_per_s", rates[path], "signals/s", Target(10, low=2))
    result.add_check("final_state_delivered", all(consistent), "every run", runs=consistent)
    result.add("pull_wall_s", walls, "s")
    result.add("hal0d_cpu_s_per_gib", cpu_per_gib, "CPU s/GiB")
    result.notes.append("into the container's tmpfs (no disk); CPU is hal0d's own, all threads")
    result.write()
