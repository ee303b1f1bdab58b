"""Coalesced PropertiesChanged: at most one signal per object per interval (100 ms).

The first change after a quiet interval goes out at once; later ones accumulate and leave
together when the interval is over, so byte counters travel in the same signal as `Phase`,
and the last value of every property — the final phase of a pull included — is always sent.
Nothing is scheduled while nothing changes.
"""

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

DEFAULT_INTERVAL = 0.1

Emit = Callable[[dict[str, Any]], None]


class PropertyThrottle:
    def __init__(
        self,
        emit: Emit,
        interval: float = DEFAULT_INTERVAL,
        together: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        """``together``: groups of properties that always travel as one (Phase with the
        byte counters), so each progress signal is complete on its own."""
        self._emit = emit
        self._interval = interval
        self._together = together
        self._latest: dict[str, Any] = {}
        self._published: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}
        self._last_emit = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def seed(self, values: Mapping[str, Any]) -> None:
        """The values clients already know (from InterfacesAdded or GetAll)."""
        self._published.update(values)
        self._latest.update(values)

    def current(self, name: str) -> Any:
        """The latest value of ``name`` (what a Get answers), published or not yet."""
        return self._latest[name]

    def change(self, values: Mapping[str, Any]) -> None:
        self._latest.update(values)
        for name, value in values.items():
            if self._published.get(name, _MISSING) == value and name not in self._pending:
                continue
            self._pending[name] = value
        if not self._pending or self._timer is not None:
            return
        wait = self._last_emit + self._interval - time.monotonic()
        if wait <= 0:
            self.flush()
        else:
            self._timer = asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self) -> None:
        self._timer = None
        changed = {k: v for k, v in self._pending.items() if self._published.get(k, _MISSING) != v}
        self._pending.clear()
        if not changed:
            return
        for group in self._together:
            if any(name in changed for name in group):
                changed.update({name: self._latest[name] for name in group if name in self._latest})
        self._published.update(changed)
        self._last_emit = time.monotonic()
        self._emit(changed)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()


_MISSING = object()
