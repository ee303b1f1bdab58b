"""The slot runner: the Type=notify main process of hal0-slot@NAME.service.

It starts llama-server and speaks for it to systemd, because llama-server has no sd_notify:

- READY=1 only once /health answers 200; STATUS= says loading / ready / serving N requests.
- WATCHDOG=1 only while /health answers at all, so a hung server is aborted and restarted.
- SIGTERM (KillMode=mixed sends it to the runner alone) drains: wait while requests are in
  flight, up to the drain bound, then SIGTERM llama-server, and after the grace period a
  second SIGTERM and finally SIGKILL — llama-server ignores a first SIGTERM while a request is
  in flight.
- Exit status: 0 after a requested stop; the server's own failure otherwise (its exit code,
  or 128+N when a signal N killed it, 1 when it exited 0 unasked), so Restart=on-failure and
  the start limit see every crash. 78 (EX_CONFIG): the env file is unusable; the unit's
  RestartPreventExitStatus= keeps systemd from retrying that.
"""

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

from hal0d.runner import http
from hal0d.runner.metrics import Traffic
from hal0d.runner.notify import Notifier
from hal0d.runner.settings import LOOPBACK, Settings

EXIT_CONFIG = 78
EXIT_UNEXPECTED_CLEAN_EXIT = 1
TICK = 1.0
LOADING_TICK = 0.025  # until ready: READY=1 follows the first 200 by at most this much
DRAIN_TICK = 0.25
SECOND_TERM_WAIT = 2.0


def log(priority: int, message: str) -> None:
    """One journald line: the <N> prefix is the syslog priority."""
    print(f"<{priority}>{message}", file=sys.stderr, flush=True)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


def status_line(settings: Settings, traffic: Traffic | None) -> str:
    in_flight = 0 if traffic is None else traffic.in_flight
    if in_flight:
        return f"serving {in_flight} request{'s' if in_flight != 1 else ''}"
    return f"ready: {settings.model_label} on {settings.address}"


class Runner:
    def __init__(
        self,
        settings: Settings,
        notifier: Notifier,
        *,
        tick: float = TICK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.notifier = notifier
        self.tick = tick
        self.clock = clock
        self.server: subprocess.Popen[bytes] | None = None
        self.ready = False
        self.terms = 0
        self.aborted = False
        self._status = ""
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    # -- signals -------------------------------------------------------------------------

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self.terms += 1

    def _on_abort(self, signum: int, frame: FrameType | None) -> None:
        self.aborted = True

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        # systemd's watchdog sends SIGABRT: end the hung server at once, without a core dump.
        signal.signal(signal.SIGABRT, self._on_abort)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # only to wake the loop

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once on any signal (SIGTERM, SIGCHLD, SIGABRT)."""
        readable, _, _ = select.select([self._wake_read], [], [], max(seconds, 0))
        if readable:
            try:
                while os.read(self._wake_read, 512):
                    pass
            except BlockingIOError:
                pass

    # -- notification --------------------------------------------------------------------

    def _notify(self, **fields: str | int) -> None:
        status = fields.get("STATUS")
        if status is not None:
            if status == self._status and len(fields) == 1:
                return
            self._status = str(status)
        try:
            self.notifier.send(**fields)
        except OSError as error:
            log(4, f"cannot notify systemd: {error}")

    # -- main loop -----------------------------------------------------------------------

    def run(self) -> int:
        self._install_signals()
        settings = self.settings
        self._notify(STATUS=f"loading {settings.model_label}")
        log(6, f"starting llama-server for slot {settings.slot}: {settings.model}")
        try:
            self.server = subprocess.Popen(  # noqa: S603 - argv built from checked settings
                settings.argv(), env=dict(settings.server_env), stdin=subprocess.DEVNULL
            )
        except OSError as error:
            log(3, f"cannot start {settings.llama_server}: {error}")
            self._notify(STATUS=f"cannot start llama-server: {error.strerror}")
            return EXIT_CONFIG
        while True:
            returncode = self.server.poll()
            if returncode is not None:
                return self._server_exited(returncode)
            if self.aborted:
                return self._abort()
            if self.terms:
                return self._stop()
            self._probe()
            self._sleep(self.tick if self.ready else min(self.tick, LOADING_TICK))

    def _probe(self) -> None:
        settings = self.settings
        status = http.health(LOOPBACK, settings.port)
        if status is None:
            return  # no answer: no watchdog ping, so a hung server gets aborted
        fields: dict[str, str | int] = {"WATCHDOG": 1}
        if status == 200:
            traffic = http.traffic(LOOPBACK, settings.port, settings.api_key)
            fields["STATUS"] = status_line(settings, traffic)
            if not self.ready:
                self.ready = True
                fields["READY"] = 1
                log(6, f"ready: {settings.model_label} on {settings.address}")
        self._notify(**fields)

    def _server_exited(self, returncode: int) -> int:
        what = f"llama-server {describe_exit(returncode)}"
        log(3, f"{what} unasked")
        self._notify(STATUS=what)
        if returncode > 0:
            return returncode
        if returncode < 0:
            return 128 - returncode
        return EXIT_UNEXPECTED_CLEAN_EXIT

    def _abort(self) -> int:
        log(3, "aborted (watchdog): killing llama-server")
        if self.server is not None:
            self.server.kill()
            self.server.wait()
        return 128 + signal.SIGABRT

    # -- stopping ------------------------------------------------------------------------

    def _stop(self) -> int:
        self._notify(STOPPING=1, STATUS="stopping")
        if self.ready:
            self._drain()
        if self.server is not None:
            self._terminate(self.server)
        log(6, "stopped")
        return 0

    def _drain(self) -> None:
        settings = self.settings
        deadline = self.clock() + settings.drain_sec
        while self.terms < 2 and self.server is not None and self.server.poll() is None:
            traffic = http.traffic(LOOPBACK, settings.port, settings.api_key)
            if traffic is None or traffic.in_flight == 0:
                return
            if self.clock() >= deadline:
                log(4, f"drain time up with {traffic.in_flight} request(s) still in flight")
                return
            self._notify(STATUS=f"draining {traffic.in_flight} request(s)", WATCHDOG=1)
            self._sleep(DRAIN_TICK)

    def _terminate(self, server: subprocess.Popen[bytes]) -> None:
        for signum, wait in (
            (signal.SIGTERM, self.settings.grace_sec),
            (signal.SIGTERM, SECOND_TERM_WAIT),
            (signal.SIGKILL, None),
        ):
            if server.poll() is not None:
                break
            server.send_signal(signum)
            if wait is None:
                server.wait()
                break
            self._wait_for_exit(server, wait)
            if server.poll() is None:
                log(4, f"llama-server still running {wait:g} s after {signum.name}")
        log(6, f"llama-server {describe_exit(server.wait())}")

    def _wait_for_exit(self, server: subprocess.Popen[bytes], seconds: float) -> None:
        deadline = self.clock() + seconds
        while server.poll() is None and self.clock() < deadline:
            self._sleep(min(DRAIN_TICK, deadline - self.clock()))
