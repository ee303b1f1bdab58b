"""An in-memory stand-in for systemd's hal0-slot@ units, and a prober to go with it.

This is a fake, and only for what cannot run in the unit tier: systemd as PID 1 (that needs
root and a container — the system tier has the real one). It answers the supervisor's unit
driver calls the way systemd 252 does for the product's Type=notify slot unit, in one step:

- a start job reads the unit's env file as ``EnvironmentFile=`` does (missing file: the unit
  fails with ``Result=resources`` and the job with ``failed``), then the unit is
  active/running with a new ``InvocationID``; a running unit's start job changes nothing;
- a restart job reads the env file again; a stop job leaves inactive/dead;
- ``crash()`` is systemd's automatic restart: ``NRestarts`` + 1, the env file read again;
- a unit in ``slow_stops`` drains: its stop job leaves it deactivating until ``finish_stop()``;
- every change is announced to ``on_unit_changed`` listeners, after the job's reply, as
  systemd's ``PropertiesChanged`` would be.

`FakeProbe` answers /health 200 on the port a running unit was started with, and nothing on
any other port, so a probe of the wrong port shows as no answer.
"""

import asyncio
import fnmatch
import uuid
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path

from hal0d.runner import envspec
from hal0d.runner.metrics import Traffic
from hal0d.slots.envfile import env_file_path, read_env_file
from hal0d.slots.probe import ProbeResult
from hal0d.systemd.client import Job
from hal0d.systemd.units import UnitProperties

INACTIVE = UnitProperties(
    unit="",
    load_state="loaded",
    active_state="inactive",
    sub_state="dead",
    result="success",
    n_restarts=0,
    exec_main_code=0,
    exec_main_status=0,
    exec_main_pid=0,
    status_text="",
    job_type=None,
    state_change_monotonic=0.0,
)


class FakeUnits:
    def __init__(self, env_dir: Path) -> None:
        self.env_dir = env_dir
        self.units: dict[str, UnitProperties] = {}
        self.started_with: dict[str, dict[str, str]] = {}  # env of each running unit's start
        self.jobs: list[tuple[str, str]] = []
        # unit → Result= of its next start ("dependency": only the job fails, with that result)
        self.fail_next_start: dict[str, str] = {}
        self.slow_stops: set[str] = set()
        self.subscribed = False
        self.read = asyncio.Event()  # set whenever properties() answers
        self._stopping: dict[str, asyncio.Future[str]] = {}
        self.watched: set[str] = set()  # as SystemdClient.watch_units: only these signal
        self._listeners: list[Callable[[str], None]] = []
        self._pids = iter(range(1000, 100000))

    # -- the UnitDriver protocol -------------------------------------------------------------

    async def subscribe(self) -> None:
        self.subscribed = True

    async def watch_units(self, units: Collection[str]) -> None:
        self.watched = set(units)

    def on_unit_changed(self, listener: Callable[[str], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def queue_job(self, verb: str, unit: str, mode: str = "replace") -> Job:
        assert self.subscribed, "a job was queued before Subscribe"
        self.jobs.append((verb, unit))
        result = {"StartUnit": self._start, "RestartUnit": self._restart, "StopUnit": self._stop}[
            verb
        ](unit)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[str] = loop.create_future()
        if result:
            loop.call_soon(waiter.set_result, result)
        else:
            self._stopping[unit] = waiter
        return Job(self, verb, unit, f"/org/freedesktop/systemd1/job/{len(self.jobs)}", waiter)  # type: ignore[arg-type]

    async def reset_failed_unit(self, unit: str) -> None:
        props = self.units.get(unit)
        if props is not None and props.active_state == "failed":
            self._set(unit, replace(INACTIVE, unit=unit))

    async def list_units(self, patterns: list[str]) -> list[str]:
        return [u for u in self.units if any(fnmatch.fnmatch(u, p) for p in patterns)]

    async def properties(self, unit: str) -> UnitProperties | None:
        self.read.set()
        return self.units.get(unit)

    def _forget_job(self, path: str) -> None:
        """Called by Job.forget()."""

    # -- what systemd does -------------------------------------------------------------------

    def running(self, unit: str) -> bool:
        props = self.units.get(unit)
        return props is not None and props.active_state == "active"

    def crash(self, unit: str) -> None:
        """llama-server died; systemd restarted the unit (Restart=on-failure)."""
        props = self.units[unit]
        self._run(unit, props.n_restarts + 1)

    def _start(self, unit: str) -> str:
        if self.running(unit):
            return "done"
        return self._restart(unit)

    def _restart(self, unit: str) -> str:
        failure = self.fail_next_start.pop(unit, None)
        if failure is None and not self._env_path(unit).exists():
            failure = "resources"
        if failure == "dependency":  # the job failed; the unit itself never ran
            self._set(unit, self.units.get(unit) or replace(INACTIVE, unit=unit))
            return "dependency"
        if failure is not None:
            self.started_with.pop(unit, None)
            props = replace(INACTIVE, unit=unit, active_state="failed", sub_state="failed")
            self._set(unit, replace(props, result=failure))
            return "failed"
        previous = self.units.get(unit)
        self._run(unit, 0 if previous is None else previous.n_restarts)
        return "done"

    def finish_stop(self, unit: str) -> None:
        """The draining unit's runner has exited."""
        self.slow_stops.discard(unit)
        self._stop(unit)
        self._stopping.pop(unit).set_result("done")

    def _stop(self, unit: str) -> str:
        if unit in self.slow_stops:
            props = replace(self.units[unit], active_state="deactivating", sub_state="stop-sigterm")
            self._set(unit, replace(props, job_type="stop"))
            return ""
        self.started_with.pop(unit, None)
        previous = self.units.get(unit) or replace(INACTIVE, unit=unit)
        self._set(unit, replace(INACTIVE, unit=unit, n_restarts=previous.n_restarts))
        return "done"

    def _run(self, unit: str, n_restarts: int) -> None:
        self.started_with[unit] = read_env_file(self._env_path(unit))
        props = replace(
            INACTIVE,
            unit=unit,
            active_state="active",
            sub_state="running",
            n_restarts=n_restarts,
            exec_main_pid=next(self._pids),
            invocation_id=uuid.uuid4().hex,
        )
        self._set(unit, props)

    def _env_path(self, unit: str) -> Path:
        return env_file_path(self.env_dir, unit.removeprefix("hal0-slot@").removesuffix(".service"))

    def _set(self, unit: str, props: UnitProperties) -> None:
        self.units[unit] = props
        if unit not in self.watched:
            return
        loop = asyncio.get_running_loop()
        for listener in list(self._listeners):
            loop.call_soon(listener, unit)


class FakeProbe:
    """llama-server's /health and /metrics as a running fake unit would answer them."""

    def __init__(self, units: FakeUnits) -> None:
        self._units = units
        self.probed: list[int] = []
        self.asked = asyncio.Event()  # set at every probe

    async def probe(self, port: int, api_key: str | None = None) -> ProbeResult:
        self.probed.append(port)
        self.asked.set()
        for env in self._units.started_with.values():
            if env.get(envspec.PORT) == str(port):
                return ProbeResult(200, Traffic())
        return ProbeResult(None, None)
