"""What the outside world sees of a slot, and what the bus layer needs from slot management.

`SlotView` is the snapshot behind the `org.hal0.Slot1` properties. `SlotBackend` is the
boundary between the bus adapter and the slot core: the bus layer only ever talks to this.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from hal0d.slots.state import SlotState
from hal0d.store.progress import PullPhase


@dataclass(frozen=True)
class SlotView:
    name: str
    state: SlotState
    unit: str
    phase: PullPhase | None = None  # None: no pull has run for this slot
    bytes_done: int = 0
    bytes_total: int = 0
    model: str = ""  # catalog name or URL, as configured
    sha256: str = ""
    endpoint: str = ""  # http://127.0.0.1:PORT
    n_restarts: int = 0
    last_error: str = ""
    last_error_name: str = ""  # org.hal0.Error.* name of the failure last_error describes
    active_requests: int = 0
    aliases: tuple[str, ...] = ()  # more model names the router answers to


SlotListener = Callable[[SlotView], None]


class SlotBackend(Protocol):
    """Every method taking ``name`` raises NoSuchSlotError for an unknown slot."""

    def views(self) -> Mapping[str, SlotView]: ...

    def subscribe(self, listener: SlotListener) -> Callable[[], None]:
        """Call ``listener`` with the new view whenever a slot's view changes."""
        ...

    def needs_pull(self, name: str) -> bool:
        """True when loading the slot would first have to pull its model."""
        ...

    async def pull(self, name: str) -> None:
        """Start pulling the slot's model; returns once accepted."""
        ...

    async def load(self, name: str, *, force: bool = False) -> None:
        """Start the slot (pulling first if needed); returns once accepted.

        ``force`` skips the check of the model size against available memory.
        """
        ...

    async def wake(self, name: str) -> None:
        """Start a configured slot whose model is in the store; never pulls, never stops
        anything. NoModelError if the model must be pulled first."""
        ...

    async def unload(self, name: str) -> None: ...

    async def restart(self, name: str) -> None: ...

    async def cancel(self, name: str) -> None:
        """Cancel the slot's running pull or pending load."""
        ...
