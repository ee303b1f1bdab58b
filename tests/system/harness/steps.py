"""One line per step on the terminal, everything else in a log file (``make run``, ``make stop``).

A step prints its title, then ``ok`` and a short result, or ``FAILED`` and the reason; commands
run through ``Steps.command`` write their full output to the log only. A failed step raises
``StepError``, which carries what to run to retry it.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

WIDTH = 34


@dataclass
class Step:
    title: str
    retry: str
    result: str = ""


class StepError(Exception):
    def __init__(self, step: Step, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


class Steps:
    def __init__(self, log_path: Path, out: TextIO = sys.stdout) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = log_path.open("a", buffering=1)
        self.out = out

    def capture_logging(self) -> Steps:
        """Send what the harness logs (boot and stop times) to the log, not the terminal."""
        handler = logging.StreamHandler(self.log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
        return self

    def close(self) -> None:
        self.log.close()

    def note(self, text: str) -> None:
        """A line for the log only."""
        self.log.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def say(self, text: str = "") -> None:
        """A line for the terminal (and the log)."""
        self.out.write(text + "\n")
        self.out.flush()
        self.note(text)

    def progress(self, step: Step, text: str) -> None:
        """Redraw the step's line in place, on a terminal only."""
        if self.out.isatty():
            self.out.write(f"\r\033[K  {step.title:<{WIDTH}} {text}")
            self.out.flush()

    @contextlib.contextmanager
    def step(self, title: str, *, retry: str) -> Iterator[Step]:
        step = Step(title, retry)
        self.note(f"--- step: {title}")
        started = time.monotonic()
        try:
            yield step
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.note(f"step failed: {exc!r}\n{exc}")
            self._line(step, f"FAILED: {reason}")
            if isinstance(exc, StepError):
                raise
            raise StepError(step, reason) from exc
        seconds = time.monotonic() - started
        self._line(step, f"ok  {step.result} ({seconds:.1f} s)".replace(" ()", ""))

    def _line(self, step: Step, text: str) -> None:
        if self.out.isatty():
            self.out.write("\r\033[K")
        self.say(f"  {step.title:<{WIDTH}} {text}")

    def command(
        self, argv: list[str], *, timeout: float = 600, env: dict[str, str] | None = None
    ) -> None:
        """Run ARGV on the host, its output straight into the log (`tail -f` shows a long
        step's progress); raise naming the command and its last line if it fails."""
        self.note("$ " + " ".join(argv))
        self.log.flush()
        result = subprocess.run(
            argv, stdout=self.log, stderr=subprocess.STDOUT, timeout=timeout, check=False, env=env
        )
        if result.returncode != 0:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
            raise RuntimeError(
                f"{argv[0]} exited {result.returncode}: {lines[-1] if lines else ''}"
            )
