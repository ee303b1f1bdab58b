"""The unit driver where systemd is not on hal0d's bus (a container without systemd, the bus
test tier): no slot unit exists and none can be started, stopped or restarted.

The slot supervisor runs on it unchanged — views, pulls, Prune and reload are the real ones —
and every unit operation answers a `UnitError` that says why.
"""

from collections.abc import Callable, Collection

from hal0d.errors import UnitError
from hal0d.systemd.client import Job
from hal0d.systemd.units import UnitProperties

VERBS = {"StartUnit": "start", "StopUnit": "stop", "RestartUnit": "restart"}


class NoSystemd:
    async def subscribe(self) -> None:
        """Nothing to subscribe to."""

    async def watch_units(self, units: Collection[str]) -> None:
        """No unit signals to ask for."""

    def on_unit_changed(self, listener: Callable[[str], None]) -> Callable[[], None]:
        return lambda: None

    async def queue_job(self, verb: str, unit: str, mode: str = "replace") -> Job:
        raise UnitError(
            f"cannot {VERBS.get(verb, verb)} {unit}: systemd is not reachable on hal0d's bus, "
            "so hal0-slot@.service units cannot be driven"
        )

    async def reset_failed_unit(self, unit: str) -> None:
        """No unit can have failed."""

    async def list_units(self, patterns: list[str]) -> list[str]:
        return []

    async def properties(self, unit: str) -> UnitProperties | None:
        return None
