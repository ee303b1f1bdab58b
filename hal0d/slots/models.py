"""Pulls and model identity: which file each slot runs, and which digests Prune must keep.

A slot's model is known by its digest: the one in its slot file, the one its catalog entry
lists, or — for ``verify = "no"`` — the one its pull produced. Every digest learnt is written
to the slot's identity file (`hal0d.slots.identity`) before it is relied on, so a restarted
or rebooted hal0d knows as much as the one before.
"""

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from hal0d.config.model import Config, GlobalConfig
from hal0d.errors import BusyError, Hal0Error
from hal0d.runner import envspec
from hal0d.slots import envfile
from hal0d.slots.adapters import ModelSource
from hal0d.slots.identity import (
    Identity,
    launched_from_env,
    load_identity,
    reference,
    save_identity,
)
from hal0d.slots.model_request import ModelResolver
from hal0d.slots.record import SlotRecord
from hal0d.store.progress import ProgressSnapshot, PullPhase

log = logging.getLogger(__name__)

Progressed = Callable[[SlotRecord, ProgressSnapshot], None]


class SlotModels:
    def __init__(self, store: ModelSource, resolver: ModelResolver) -> None:
        self._store = store
        self.resolver = resolver

    def path_for(self, record: SlotRecord) -> Path | None:
        """The store file of the slot's configured model, if the store has it."""
        sha256 = record.wanted_sha256
        return self._store.path_for(sha256) if sha256 and self._store.has(sha256) else None

    async def recall(self, records: list[SlotRecord], config: GlobalConfig) -> None:
        """What hal0d knew before it (re)started: each slot's identity file, the catalogs held
        (local files and accepted copies, no network) and the digests they list."""
        for record in records:
            if record.identity == Identity():  # nothing learnt since the record was made
                record.identity = await asyncio.to_thread(
                    load_identity, config.state_dir, record.name
                )
                record.sync()
        await self.resolver.load_held(config)
        await self.resolve_known(records, config)

    async def refresh_catalogs(self, records: Iterable[SlotRecord], config: GlobalConfig) -> None:
        await self.resolver.refresh(config)
        await self.resolve_known(records, config)

    async def resolve_known(self, records: Iterable[SlotRecord], config: GlobalConfig) -> None:
        """Digests of catalog slots from the catalogs hal0d already holds (no network)."""
        for record in records:
            if record.removed or record.config.model.catalog_name is None:
                continue
            digest = self.resolver.known_digest(record.config, config)
            if digest and digest != record.wanted_sha256:
                record.resolved(digest)
                await self.remember(record, config)

    async def start_pull(
        self, record: SlotRecord, config: GlobalConfig, progressed: Progressed
    ) -> None:
        if record.pull is not None:
            raise BusyError(f"slot {record.name!r} is already pulling its model")
        request = await self.resolver.request_for(record.config, config)
        if record.pull is not None:  # a second Pull came in while a catalog was loading
            raise BusyError(f"slot {record.name!r} is already pulling its model")
        if request.sha256 and request.sha256 != record.wanted_sha256:
            record.resolved(request.sha256)
            await self.remember(record, config)
        handle = self._store.pull(request)
        record.pull, record.pull_sha256 = handle, request.sha256 or ""
        handle.progress.subscribe(lambda snapshot: progressed(record, snapshot))
        progressed(record, handle.progress.snapshot)

    async def finish_pull(self, record: SlotRecord, config: GlobalConfig) -> Path | None:
        """Wait for the slot's pull; the model's path, or None if the pull did not end in one.

        Whatever ends a pull, the slot shows it: a failure of any kind is `error` with its
        reason in LastError, and a Load waiting for the pull is dropped."""
        handle = record.pull
        ref = reference(record.config)
        failure: Exception | None = None
        try:
            path: Path = await handle.wait()
        except Exception as error:  # every failure must reach the slot's view
            failure = error
        finally:
            if record.pull is handle:
                record.pull, record.pull_sha256 = None, ""
        # The final phase is shown only now, once the slot can take another pull.
        if failure is not None:
            self._pull_failed(record, handle.progress.snapshot, failure)
            return None
        record.tracker.observe_pull(handle.progress.snapshot)
        if ref == reference(record.config) and not record.wanted_sha256:
            record.resolved(path.stem)  # verify = "no": the store named the file by its digest
            await self.remember(record, config)
        return path

    def _pull_failed(self, record: SlotRecord, last: ProgressSnapshot, error: Exception) -> None:
        record.pending_load = None
        log.info("pull for slot %s ended: %s", record.name, error)
        if last.phase in (PullPhase.FAILED, PullPhase.CANCELLED):
            record.tracker.observe_pull(last)
            return
        if isinstance(error, Hal0Error):
            reason = str(error)
        else:
            log.error("pull for slot %s failed unexpectedly", record.name, exc_info=error)
            reason = f"the pull failed unexpectedly ({type(error).__name__}); see the journal"
        record.tracker.observe_pull(replace(last, phase=PullPhase.FAILED, error=reason))

    async def observe_running(
        self, record: SlotRecord, env_dir: Path, config: GlobalConfig
    ) -> None:
        """Bind what a running unit serves to its InvocationID. The first time hal0d sees an
        invocation (an adopted unit, or systemd's own restart of it) the unit's env file is
        read — nothing rewrites the file of a running unit, so it names what the unit serves."""
        props = record.tracker.unit
        if props is None or not record.tracker.unit_is_up or props.sub_state == "auto-restart":
            return
        launched = record.identity.launched
        if launched is not None and launched.invocation == props.invocation_id:
            return
        try:
            path = envfile.env_file_path(env_dir, record.name)
            values = await asyncio.to_thread(envfile.read_env_file, path)
        except (OSError, UnicodeDecodeError) as error:
            log.warning("%s runs, but its env file cannot be read: %s", props.unit, error)
            values = {}
        adopted = launched_from_env(values, launched) or launched
        if adopted is None:
            return
        record.api_key = values.get(envspec.API_KEY, record.api_key)
        launched = replace(adopted, invocation=props.invocation_id)
        record.identity = replace(record.identity, launched=launched)
        record.sync()
        await self.remember(record, config)

    async def remember(self, record: SlotRecord, config: GlobalConfig) -> None:
        """Write the slot's identity to the state dir (before hal0d relies on it)."""
        try:
            await asyncio.to_thread(save_identity, config.state_dir, record.name, record.identity)
        except OSError as error:
            log.warning("slot %s: cannot remember its model identity: %s", record.name, error)

    @staticmethod
    def keep_set(records: Iterable[SlotRecord], config: Config) -> dict[str, str]:
        """Every digest Prune must keep, with why: configured, resolved, served by a running
        unit, being pulled, or run by a unit being stopped. A configured model whose digest
        hal0d does not know makes Prune refuse."""
        records = list(records)
        unknown = sorted(r.name for r in records if not r.removed and not r.wanted_sha256)
        if unknown:
            raise BusyError(
                f"Prune refused: hal0d does not know the digest of the model of slot(s) "
                f'{", ".join(unknown)} (a catalog entry or verify = "no" URL not '
                "pulled yet); Pull them first, so Prune cannot delete their model"
            )
        return {digest: describe(uses) for digest, uses in model_uses(records, config).items()}


@dataclass(frozen=True, order=True)
class ModelUse:
    """One reason a stored model must stay: a slot, and how it uses the model."""

    slot: str
    how: str  # "configured", "pulled", "running", "stopping"

    def __str__(self) -> str:
        return {
            "configured": f"slot {self.slot} (configured)",
            "pulled": f"a pull for slot {self.slot}",
            "running": f"the running unit of slot {self.slot}",
            "stopping": f"the unit of removed slot {self.slot}, being stopped",
        }[self.how]


def model_uses(records: Iterable[SlotRecord], config: Config) -> dict[str, list[ModelUse]]:
    """Who uses which model: every slot configured with it (in its file, or resolved from a
    catalog or a pull), every pull of it and every unit running it, by digest."""
    found: dict[str, set[ModelUse]] = {}

    def add(digest: str, slot: str, how: str) -> None:
        if digest:
            found.setdefault(digest, set()).add(ModelUse(slot, how))

    for slot in config.slots.values():
        add(slot.model.sha256 or "", slot.name, "configured")
    for record in records:
        add(record.wanted_sha256, record.name, "stopping" if record.removed else "configured")
        add(record.pull_sha256, record.name, "pulled")
        launched = record.identity.launched
        if launched is not None and (record.tracker.unit_is_up or record.removed):
            add(launched.sha256, record.name, "stopping" if record.removed else "running")
    return {digest: sorted(uses) for digest, uses in found.items()}


def describe(uses: Iterable[ModelUse]) -> str:
    """E.g. "used by slot chat (configured), the running unit of slot code"."""
    return "used by " + ", ".join(str(use) for use in uses)
