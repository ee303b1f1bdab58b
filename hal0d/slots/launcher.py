"""Starting and stopping slot units: the env file, the checks before a start, the jobs.

A slot's env file is written only here, right before its unit is started or restarted; the
model and port it names become the slot's `launched` identity. Every queued job is followed
in the background, and its result is an observation like any other: a start job that ends
without starting the unit (a missing env file, an exec failure) shows as `error`.
"""

import asyncio
import logging
from pathlib import Path

from hal0d.config.model import GlobalConfig
from hal0d.errors import (
    BusyError,
    ConfigError,
    Hal0Error,
    InsufficientMemoryError,
    NoModelError,
    UnitError,
)
from hal0d.slots import envfile
from hal0d.slots.adapters import Adapters, Timing
from hal0d.slots.lifecycle import start_job_sentence
from hal0d.slots.memory import memory_refusal
from hal0d.slots.models import SlotModels
from hal0d.slots.record import SlotRecord
from hal0d.slots.watcher import SlotWatcher
from hal0d.store.progress import PullPhase
from hal0d.systemd.client import Job
from hal0d.systemd.units import slot_unit

log = logging.getLogger(__name__)

START_JOB_TIMEOUT = 20 * 60.0  # TimeoutStartSec= of the unit is 15 min
STOP_JOB_TIMEOUT = 120.0  # TimeoutStopSec= is 90 s
START_VERBS = ("StartUnit", "RestartUnit")


class Launcher:
    def __init__(
        self,
        adapters: Adapters,
        models: SlotModels,
        watcher: SlotWatcher,
        env_dir: Path,
        timing: Timing,
    ) -> None:
        self._systemd = adapters.systemd
        self._memory = adapters.memory
        self._models = models
        self._watcher = watcher
        self._tasks = watcher.tasks
        self.env_dir = env_dir
        self._timing = timing

    async def launch(
        self, record: SlotRecord, others: list[SlotRecord], config: GlobalConfig, *, verb: str,
        force: bool,
    ) -> None:  # fmt: skip
        """Write the env file and queue ``verb`` (StartUnit or RestartUnit) for the slot."""
        path = self._models.path_for(record)
        if path is None:
            raise NoModelError(f"slot {record.name!r}: its model is not in the store")
        check_port(record, others)
        size = record.config.model.size
        if size is None:
            size = (await asyncio.to_thread(path.stat)).st_size
        self.check_memory(record, size, force)
        await self._write_env(record, path, config)
        unit = record.tracker.unit
        if unit is not None and unit.active_state == "failed":
            # ResetFailedUnit also clears NRestarts and the start-limit counter.
            await self._systemd.reset_failed_unit(slot_unit(record.name))
        pull = record.tracker.pull
        if pull is not None and pull.phase is not PullPhase.DONE:
            record.tracker.observe_pull(None)  # an old failed or cancelled pull is not this load's
        record.tracker.start_failed = ""
        job = await self._systemd.queue_job(verb, slot_unit(record.name))
        self._watch(record, job, START_JOB_TIMEOUT)
        self._watcher.schedule_refresh(record)

    async def stop(self, record: SlotRecord) -> None:
        """Queue StopUnit: the runner drains requests in flight, then stops llama-server."""
        job = await self._systemd.queue_job("StopUnit", slot_unit(record.name))
        self._watch(record, job, STOP_JOB_TIMEOUT)

    def check_memory(self, record: SlotRecord, size: int, force: bool) -> None:
        refusal = None if force else memory_refusal(size, self._memory())
        record.tracker.refused = refusal or ""
        record.tracker.refused_name = InsufficientMemoryError.dbus_name if refusal else ""
        if refusal is not None:
            record.tracker.load_requested = False
        self._watcher.publish(record)
        if refusal is not None:
            raise InsufficientMemoryError(f"slot {record.name!r}: {refusal}")

    async def _write_env(self, record: SlotRecord, path: Path, config: GlobalConfig) -> None:
        try:
            api_key = await asyncio.to_thread(envfile.read_api_key, record.config.api_key_file)
            launch = envfile.Launch(
                llama_server=config.llama_server,
                model_path=path,
                port=record.port,
                api_key=api_key,
                drain_sec=self._timing.drain_sec,
                grace_sec=self._timing.grace_sec,
            )
            values = envfile.slot_environment(record.config, launch)
            await asyncio.to_thread(envfile.write_env_file, self.env_dir, record.name, values)
        except (Hal0Error, OSError) as error:
            raise ConfigError(
                f"slot {record.name!r}: cannot write its env file: {error}"
            ) from error
        record.api_key = api_key
        record.launching(path, record.wanted_sha256)
        await self._models.remember(record, config)

    def _watch(self, record: SlotRecord, job: Job, within: float) -> None:
        async def watch() -> None:
            try:
                result = await job.result(within)
            except UnitError as error:
                job.forget()
                log.warning("%s", error)
                return
            if result != "done":
                log.info("%s of %s ended: %s", job.verb, job.unit, result)
            if job.verb in START_VERBS and result not in ("done", "canceled"):
                record.tracker.load_requested = False
                record.tracker.start_failed = start_job_sentence(record.name, result)
            self._watcher.schedule_refresh(record)

        self._tasks.spawn(watch(), f"{job.verb} of {job.unit}")


def check_port(record: SlotRecord, others: list[SlotRecord]) -> None:
    """Never hand a port to a slot while another slot's unit still listens on it."""
    for other in others:
        serving = other.serving
        if other is not record and serving is not None and serving.port == record.port:
            raise BusyError(
                f"slot {record.name!r}: port {record.port} is still in use by "
                f"{slot_unit(other.name)}; it is free once that unit has stopped"
            )
