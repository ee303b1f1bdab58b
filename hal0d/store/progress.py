"""Progress of one pull, as an observable the bus layer subscribes to.

No throttling happens here: every change is delivered to every subscriber at once, on the
event loop thread. Coalescing for D-Bus signals is the bus layer's job.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum


class PullPhase(StrEnum):
    CHECKING_LOCAL = "checking_local"
    DOWNLOAD = "download"
    VERIFY = "verify"
    QUARANTINE = "quarantine"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (PullPhase.DONE, PullPhase.FAILED, PullPhase.CANCELLED)


@dataclass(frozen=True)
class ProgressSnapshot:
    phase: PullPhase
    bytes_done: int = 0
    bytes_total: int = 0  # 0 = unknown
    error: str = ""
    error_name: str = ""  # the org.hal0.Error.* name of ``error``


Listener = Callable[[ProgressSnapshot], None]


class Progress:
    """The current snapshot of a pull plus the listeners that want every change."""

    def __init__(self, phase: PullPhase = PullPhase.CHECKING_LOCAL) -> None:
        self._snapshot = ProgressSnapshot(phase)
        self._listeners: list[Listener] = []

    @property
    def snapshot(self) -> ProgressSnapshot:
        return self._snapshot

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every change; returns a function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def update(
        self,
        *,
        phase: PullPhase | None = None,
        bytes_done: int | None = None,
        bytes_total: int | None = None,
        error: str | None = None,
        error_name: str | None = None,
    ) -> None:
        changes: dict[str, object] = {}
        if phase is not None:
            changes["phase"] = phase
        if bytes_done is not None:
            changes["bytes_done"] = bytes_done
        if bytes_total is not None:
            changes["bytes_total"] = bytes_total
        if error is not None:
            changes["error"] = error
        if error_name is not None:
            changes["error_name"] = error_name
        new = replace(self._snapshot, **changes)  # type: ignore[arg-type]
        if new == self._snapshot:
            return
        self._snapshot = new
        for listener in list(self._listeners):
            listener(new)
