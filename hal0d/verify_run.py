"""A verify run over the model store: one at a time, in the background, its progress published.

The Manager starts it once polkit has agreed; the store re-hashes each model in a thread of
its own. Each damaged model is handed on as soon as it is found (it is in quarantine by
then), so the slots using it say so in LastError while the run goes on. The progress —
phase, bytes, digests found damaged — is what the manager's Verify* properties show.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from hal0d.errors import BusyError, Hal0Error
from hal0d.store.scrub import Damage, VerifyAborted
from hal0d.store.verified import StoredModel

log = logging.getLogger(__name__)


class VerifyPhase(StrEnum):
    NONE = ""  # no verify ran since hal0d started
    VERIFY = "verify"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class VerifyProgress:
    phase: VerifyPhase = VerifyPhase.NONE
    bytes_done: int = 0
    bytes_total: int = 0
    damaged: tuple[str, ...] = ()  # digests found damaged by the running (or last) run


class VerifyingStore(Protocol):
    async def verify(
        self,
        digests: list[str],
        progress: Callable[[int], None],
        damaged: Callable[[Damage], None],
    ) -> None: ...


class VerifyRun:
    def __init__(self, damaged: Callable[[Damage], None], changed: Callable[[], None]) -> None:
        """``damaged(damage)`` for each model found damaged; ``changed()`` after any progress."""
        self._damaged = damaged
        self._changed = changed
        self.progress = VerifyProgress()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, store: VerifyingStore, models: list[StoredModel]) -> None:
        """Verify ``models`` in the background; BusyError while another run goes on."""
        if self.running:
            raise BusyError(
                "a verify is running (VerifyPhase is verify); wait until it is done or failed"
            )
        total = sum(model.size for model in models)
        self.progress = VerifyProgress(VerifyPhase.VERIFY, 0, total)
        self._changed()
        digests = [model.sha256 for model in models]
        self._task = asyncio.ensure_future(self._run(store, digests))

    async def _run(self, store: VerifyingStore, digests: list[str]) -> None:
        log.info("verifying %d stored model(s)", len(digests))
        try:
            await store.verify(digests, self._advance, self._found)
        except VerifyAborted:
            log.info("verify stopped: hal0d is stopping")
            self._finish(VerifyPhase.FAILED)
        except Hal0Error as error:
            log.error("verify failed: %s", error)  # noqa: TRY400 - the message says it all
            self._finish(VerifyPhase.FAILED)
        except Exception:
            log.exception("verify failed unexpectedly")
            self._finish(VerifyPhase.FAILED)
        else:
            damaged = len(self.progress.damaged)
            log.info("verify done: %d model(s), %d damaged", len(digests), damaged)
            self._finish(VerifyPhase.DONE)

    def _advance(self, count: int) -> None:
        done = self.progress.bytes_done + count
        self.progress = replace(self.progress, bytes_done=done)
        self._changed()

    def _found(self, damage: Damage) -> None:
        damaged = (*self.progress.damaged, damage.sha256)
        self.progress = replace(self.progress, damaged=damaged)
        self._damaged(damage)
        self._changed()

    def _finish(self, phase: VerifyPhase) -> None:
        self.progress = replace(self.progress, phase=phase)
        self._changed()
