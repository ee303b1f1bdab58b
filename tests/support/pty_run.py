"""Run a command with a pseudo-terminal as its stdin, stdout and stderr, and read what it draws.

For commands that behave differently on a terminal (hal0ctl's progress bar, colour): the
test reads the raw output, escape sequences and carriage returns included.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import termios
import time
from collections.abc import Callable, Sequence


def _controlling_terminal() -> None:
    """In the child, after setsid(): make the pseudo-terminal (stdin) its controlling
    terminal, as a login would, so /dev/tty works (pkttyagent reads passwords there)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyProcess:
    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self._master, slave = os.openpty()
        self.process = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=_controlling_terminal,  # noqa: PLW1509 - runs before exec, on purpose
        )
        os.close(slave)
        self.output = b""

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def read_until(self, done: Callable[[str], bool], within: float) -> bool:
        """Read output until ``done(text)`` or EOF; False if neither came in time."""
        deadline = time.monotonic() + within
        while not done(self.text):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([self._master], [], [], remaining)
            if not ready:
                continue
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: every slave end is closed
                data = b""
            if not data:
                return done(self.text)
            self.output += data
        return True

    def send(self, text: str) -> None:
        os.write(self._master, text.encode())

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def finish(self, within: float = 60) -> int:
        """Read to the end and return the exit status."""
        self.read_until(lambda _text: False, within)
        try:
            return self.process.wait(timeout=within)
        finally:
            os.close(self._master)


def run_in_pty(
    argv: Sequence[str], env: dict[str, str] | None = None, within: float = 60
) -> tuple[int, str]:
    process = PtyProcess(argv, env)
    status = process.finish(within)
    return status, process.text
