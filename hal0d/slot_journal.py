"""What hal0d tells the journal about its slots, with fields an admin can filter on.

It watches the Manager (as the bus objects do) and logs each slot's state changes and the
end of its pulls once, with ``SLOT=``, ``PHASE=``, ``MODEL_SHA256=`` and, for the events one
searches for, a fixed ``MESSAGE_ID=`` (see `hal0d.log`). `journalctl SLOT=chat` and
`hal0ctl logs chat` show these next to llama-server's own lines. It also keeps the log level
in step with ``log_level`` in hal0.toml, at start and after every reload.
"""

import logging
from collections.abc import Mapping
from typing import Protocol

from hal0d.config import Config
from hal0d.log import (
    MESSAGE_PULL_VERIFIED,
    MESSAGE_QUARANTINED,
    MESSAGE_SLOT_FAILED,
    MESSAGE_SLOT_READY,
    apply_level,
    fields,
)
from hal0d.slots.state import SlotState
from hal0d.slots.view import SlotView
from hal0d.store.progress import PullPhase

log = logging.getLogger("hal0d.slots")

# Traffic moves a slot between these many times a minute: not worth an info line each.
_QUIET = {SlotState.READY, SlotState.SERVING, SlotState.IDLE}


class Watched(Protocol):
    @property
    def config(self) -> Config: ...

    def views(self) -> Mapping[str, SlotView]: ...


class SlotJournal:
    """A Manager listener: ``manager.subscribe(SlotJournal(manager))``."""

    def __init__(self, manager: Watched) -> None:
        self._manager = manager
        self._level = ""
        self._seen: dict[str, SlotView] = {}
        self()

    def __call__(self) -> None:
        level = self._manager.config.global_.log_level
        if level != self._level:
            self._level = level
            apply_level(level)
        current = dict(self._manager.views())
        for name, view in current.items():
            before = self._seen.get(name)
            if before is not None:
                self._state_changed(before, view)
                self._phase_changed(before, view)
        self._seen = current

    def _state_changed(self, before: SlotView, view: SlotView) -> None:
        if view.state is before.state:
            return
        name = view.name
        base = {"SLOT": name, "SLOT_STATE": str(view.state)}
        if view.sha256:
            base["MODEL_SHA256"] = view.sha256
        if view.state is SlotState.READY and before.state not in _QUIET:
            log.info(
                "slot %s ready on %s (%s)",
                name,
                view.endpoint,
                view.model,
                extra=fields(MESSAGE_ID=MESSAGE_SLOT_READY, **base),
            )
        elif view.state is SlotState.ERROR:
            log.error(
                "slot %s failed: %s",
                name,
                view.last_error or "no reason given",
                extra=fields(MESSAGE_ID=MESSAGE_SLOT_FAILED, **base),
            )
        else:
            level = logging.DEBUG if {before.state, view.state} <= _QUIET else logging.INFO
            log.log(
                level, "slot %s: %s -> %s", name, before.state, view.state, extra=fields(**base)
            )

    def _phase_changed(self, before: SlotView, view: SlotView) -> None:
        phase = view.phase
        if phase is None or phase == before.phase:
            return
        base: dict[str, str] = {"SLOT": view.name, "PHASE": str(phase)}
        if view.sha256:
            base["MODEL_SHA256"] = view.sha256
        if phase is PullPhase.DONE:
            log.info(
                "slot %s: pull of %s verified, sha256 %s (%d bytes)",
                view.name,
                view.model,
                view.sha256,
                view.bytes_done,
                extra=fields(MESSAGE_ID=MESSAGE_PULL_VERIFIED, **base),
            )
        elif phase is PullPhase.QUARANTINE:
            log.warning(
                "slot %s: the download of %s did not verify; moving it to quarantine",
                view.name,
                view.model,
                extra=fields(MESSAGE_ID=MESSAGE_QUARANTINED, **base),
            )
        elif phase is PullPhase.FAILED:
            log.error(
                "slot %s: pull of %s failed: %s",
                view.name,
                view.model,
                view.last_error or "no reason given",
                extra=fields(**base),
            )
        elif phase in (PullPhase.DOWNLOAD, PullPhase.CANCELLED):
            log.info("slot %s: pull of %s: %s", view.name, view.model, phase, extra=fields(**base))
