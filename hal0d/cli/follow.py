"""Following one slot live: its properties as `PropertiesChanged` signals bring them.

`SlotWatch` subscribes before the caller acts (so no change is missed), then reads the
current values once; after that every update comes from signals, never from polling, and
the caller takes them one by one, in order (a load may pass through a state in a few ms).
`ProgressLine` draws a pull: a bar redrawn in place on a terminal, JSON lines otherwise.
"""

import asyncio
import json
import time
from collections import deque
from typing import Any, TextIO

from hal0d.bus.paths import slot_path
from hal0d.cli.client import Hal0Client
from hal0d.cli.style import Style, human_bytes
from hal0d.contract import SLOT_INTERFACE

FINAL_PHASES = ("done", "failed", "cancelled")
BAR_WIDTH = 24
RATE_WINDOW = 5.0  # seconds of samples behind the transfer rate


class SlotWatch:
    def __init__(self, client: Hal0Client, name: str) -> None:
        self.client = client
        self.name = name
        self.path = slot_path(name)
        self.props: dict[str, Any] = {}
        self._updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def start(self) -> dict[str, Any]:
        await self.client.watch_properties(self.path)
        self._context = self.client.on_signal(self._on_signal)
        self._context.__enter__()
        self.props = await self.client.slot_properties(self.name)
        return self.props

    def stop(self) -> None:
        self._context.__exit__(None, None, None)

    def _on_signal(self, path: str, event: dict[str, Any]) -> None:
        if path != self.path or event.get("interface") != SLOT_INTERFACE:
            return
        self._updates.put_nowait(event.get("changed") or {})

    def wake(self) -> None:
        """Let a waiting `next` return (with no change), so its caller looks again."""
        self._updates.put_nowait({})

    async def next(self, deadline: float | None = None) -> dict[str, Any]:
        """The next change, applied to `props`; TimeoutError once ``deadline`` (monotonic)
        has passed."""
        if deadline is None:
            changed = await self._updates.get()
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            changed = await asyncio.wait_for(self._updates.get(), remaining)
        self.props.update(changed)
        return changed


def eta_text(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressLine:
    """Progress of one slot's pull, for a person (a bar) or a program (JSON lines)."""

    def __init__(self, name: str, out: TextIO) -> None:
        self.name = name
        self.out = out
        self.style = Style(out)
        self._samples: deque[tuple[float, int]] = deque()
        self._drawn = False

    @property
    def drawn(self) -> bool:
        """Whether a bar is on the terminal's current line."""
        return self._drawn

    def update(self, props: dict[str, Any]) -> None:
        phase = str(props.get("Phase", ""))
        done, total = int(props.get("BytesDone", 0)), int(props.get("BytesTotal", 0))
        if not self.style.terminal:
            record = {"slot": self.name, "phase": phase, "bytes_done": done, "bytes_total": total}
            print(json.dumps(record), file=self.out, flush=True)
            return
        now = time.monotonic()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW:
            self._samples.popleft()
        self.out.write("\r" + self.bar(phase, done, total) + "\033[K")
        self.out.flush()
        self._drawn = True

    def bar(self, phase: str, done: int, total: int) -> str:
        parts = [self.name, f"{phase:<14}"]
        if total:
            filled = min(BAR_WIDTH, done * BAR_WIDTH // total)
            parts.append("[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]")
            parts.append(f"{done * 100 // total:3d} %")
            parts.append(f"{human_bytes(done)} / {human_bytes(total)}")
        else:
            parts.append(human_bytes(done))
        rate = self.rate()
        if rate > 0:
            parts.append(f"{human_bytes(rate)}/s")
            if total > done and phase == "download":
                parts.append(f"ETA {eta_text((total - done) / rate)}")
        return "  ".join(parts)

    def rate(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (start, first), (end, last) = self._samples[0], self._samples[-1]
        return (last - first) / (end - start) if end > start else 0.0

    def finish(self, props: dict[str, Any], error: str = "") -> None:
        """The last word: the verified SHA-256 or the reason it failed."""
        phase = str(props.get("Phase", ""))
        if not self.style.terminal:
            record = {
                "slot": self.name,
                "phase": phase,
                "bytes_done": int(props.get("BytesDone", 0)),
                "bytes_total": int(props.get("BytesTotal", 0)),
                "sha256": props.get("Sha256", "") if phase == "done" else "",
                "error": error,
            }
            print(json.dumps(record), file=self.out, flush=True)
            return
        if self._drawn:
            self.out.write("\n")
        if phase == "done":
            sha = self.style.paint(str(props.get("Sha256", "")), "green")
            print(f"{self.name}: model verified, sha256 {sha}", file=self.out, flush=True)
