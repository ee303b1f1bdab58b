"""7. `hal0ctl status` and `hal0ctl status --json` with 16 configured slots, against the floor
of any dbus-fast client, `python3 -c 'import dbus_fast.aio'`: wall times inside the container
(Debian's python3 and packaged dependencies, as the .deb runs), the three commands in turn,
ratios run by run."""

from __future__ import annotations

import json

import pytest

from bench.result import Result, Target
from bench.system.conftest import Stage, runs
from tests.system.conftest import Model

pytestmark = pytest.mark.timeout(600)
COMMANDS = {
    "status": ["hal0ctl", "status"],
    "status_json": ["hal0ctl", "status", "--json"],
    "floor": ["/usr/bin/python3", "-c", "import dbus_fast.aio"],
}


def has_status_verb(stage: Stage) -> bool:
    answer = stage.container.run("hal0ctl", "status", "--help", check=False)
    return answer.returncode == 0


async def bench_hal0ctl(stage: Stage, tiny_model: Model) -> None:
    result = Result("hal0ctl", "hal0ctl status with 16 slots, against the dbus-fast floor", __doc__)
    stage.configure({f"s{index:03d}": tiny_model for index in range(16)})
    stage.restart()
    if not has_status_verb(stage):
        result.unmeasurable = "not measurable: hal0ctl has no status verb"
        result.write()
        return
    walls = json.loads(stage.script("alternate.py", str(runs(10)), json.dumps(COMMANDS)))
    floor = walls["floor"]
    result.add("floor_import_dbus_fast_aio_ms", [s * 1000 for s in floor], "ms")
    for key in ("status", "status_json"):
        wall = walls[key]
        result.add(f"{key}_ms", [s * 1000 for s in wall], "ms", Target(150))
        ratios = [a / b for a, b in zip(wall, floor, strict=True)]
        result.add(f"{key}_vs_floor", ratios, "x", Target(1.5))
    result.write()
