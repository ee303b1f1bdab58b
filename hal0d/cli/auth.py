"""A polkit agent for the length of a call, as systemctl does it.

On a terminal, hal0ctl sets the allow-interactive flag on changing calls and starts
`pkttyagent --notify-fd N --fallback` (package polkitd) first, so polkit can ask for a
password even over SSH, where no desktop agent runs. The agent tells us it has registered by
closing the notify fd. Root needs no agent (polkit always says yes to root).
"""

import os
import select
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

AGENT = "pkttyagent"
REGISTER_TIMEOUT = 5.0


@contextmanager
def polkit_agent() -> Iterator[None]:
    binary = shutil.which(AGENT)
    if binary is None or os.geteuid() == 0 or not os.isatty(0):
        yield
        return
    read_end, write_end = os.pipe()
    try:
        argv = [binary, "--notify-fd", str(write_end), "--fallback"]
        agent = subprocess.Popen(argv, pass_fds=(write_end,))  # noqa: S603 - fixed argv
    finally:
        os.close(write_end)
    try:
        # EOF on the pipe: the agent registered (or exited; polkit then just cannot ask).
        select.select([read_end], [], [], REGISTER_TIMEOUT)
        yield
    finally:
        os.close(read_end)
        agent.terminate()
        agent.wait()
