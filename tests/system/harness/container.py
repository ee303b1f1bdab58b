"""A real systemd as PID 1 in a systemd-nspawn container, driven from the host.

Lifecycle: ``boot()`` unpacks the cached rootfs tarball into a fresh directory, starts
systemd-nspawn in a cgroup of its own and waits until the container's systemd reports
``SystemState=running``; ``teardown()`` powers it off (escalating to signals), removes the
cgroups and the directory, and returns what the host has left over compared with the snapshot
taken before boot. Both are timed and logged.

The container shares the host's network namespace (loopback servers on either side see each
other) and exposes its system bus at ``bus_address``; host root is root on that bus (no user
namespace, see docs/testing.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tests.system.harness.hoststate import CGROUP_ROOTS, RUN_PREFIX, HostState

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LLAMA_DIR = PurePosixPath("/usr/local/lib/hal0-test/llama-server")
MODELS_DIR = PurePosixPath("/usr/local/share/hal0-test/models")
PACKAGE_DIR = PurePosixPath("/var/cache/hal0-test-package")
BOOT_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
INSTALL_TIMEOUT = 300.0
TMPFS_SIZE = "4G"


class ContainerError(Exception):
    """The container could not be booted or driven; the message says what and where to look."""


class Container:
    def __init__(
        self,
        *,
        tarball: Path,
        workdir: Path,
        llama_server_dir: Path,
        models_dir: Path,
        package: Path | None = None,
        name: str | None = None,
    ) -> None:
        self.name = name or f"{RUN_PREFIX}{os.getpid()}-{secrets.token_hex(2)}"
        self.tarball = tarball
        self.workdir = workdir / self.name
        self.root = self.workdir / "root"
        self.bus_dir = self.workdir / "bus"
        self.console_log = self.workdir / "console.log"
        self.llama_server_dir = llama_server_dir
        self.models_dir = models_dir
        self.package = package
        self.cgroups = [root / self.name for root in CGROUP_ROOTS if root.is_dir()]
        self.process: subprocess.Popen[bytes] | Detached | None = None
        self.leader = 0
        self.mounted = False
        self.before: HostState | None = None
        self.timings: dict[str, float] = {}

    def state(self) -> dict[str, Any]:
        """What another process needs to drive or stop this running container (``attach``)."""
        assert self.process is not None
        return {
            "name": self.name, "tarball": str(self.tarball), "workdir": str(self.workdir.parent),
            "llama_server_dir": str(self.llama_server_dir), "models_dir": str(self.models_dir),
            "package": str(self.package) if self.package else None,
            "nspawn": self.process.pid, "leader": self.leader, "mounted": self.mounted,
        }  # fmt: skip

    @classmethod
    def attach(cls, state: dict[str, Any]) -> Container:
        """The container a previous process booted and described with ``state()``."""
        box = cls(
            tarball=Path(state["tarball"]), workdir=Path(state["workdir"]),
            llama_server_dir=Path(state["llama_server_dir"]), models_dir=Path(state["models_dir"]),
            package=Path(state["package"]) if state["package"] else None, name=state["name"],
        )  # fmt: skip
        box.process = Detached(state["nspawn"])
        box.leader = state["leader"] if box.process.poll() is None else 0
        box.mounted = state["mounted"]
        return box

    @property
    def bus_address(self) -> str:
        """D-Bus address of the container's system bus, usable from the host as root."""
        return f"unix:path={self.bus_dir / 'system_bus_socket'}"

    def path(self, inside: str | PurePosixPath) -> Path:
        """The host path of a file in the container (not under /run: the container's own
        tmpfs hides what the host writes there; use ``run`` for runtime files)."""
        relative = PurePosixPath(inside).relative_to("/")
        return self.root / relative

    # --- lifecycle -------------------------------------------------------------------------

    def boot(self) -> None:
        reap_stale_runs(self.workdir.parent)
        self.before = HostState.capture()
        started = time.monotonic()
        self.workdir.mkdir(parents=True)
        # The rootfs lives in RAM: unpacking ~9000 files onto this machine's disk takes 10-25 s,
        # into a tmpfs 1-3 s; and unmounting it is the whole cleanup.
        options = f"size={TMPFS_SIZE},mode=0755"
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, self.name, str(self.workdir)], check=True
        )
        self.mounted = True
        self.root.mkdir()
        self.bus_dir.mkdir()
        subprocess.run(
            ["tar", "-I", "zstd -T0", "-xf", str(self.tarball), "-C", str(self.root),
             "--numeric-owner", "--xattrs", "--xattrs-include=*"],
            check=True,
        )  # fmt: skip
        unpacked = time.monotonic()
        shutil.copyfile(
            "/etc/ssl/certs/ca-certificates.crt", self.path("/etc/ssl/certs/ca-certificates.crt")
        )
        self._start_nspawn()
        self._wait_running(started + BOOT_TIMEOUT)
        booted = time.monotonic()
        self.timings = {
            "unpack": unpacked - started,
            "boot": booted - unpacked,
            "total": booted - started,
        }
        log.warning(
            "container %s: unpacked in %.2f s, booted in %.2f s (total %.2f s)",
            self.name, self.timings["unpack"], self.timings["boot"], self.timings["total"],
        )  # fmt: skip

    def _start_nspawn(self) -> None:
        for cgroup in self.cgroups:
            cgroup.mkdir()
        nspawn = [
            "systemd-nspawn", "--quiet", "-D", str(self.root), "--boot", f"--machine={self.name}",
            "--register=no", "--keep-unit", "--console=read-only", "--kill-signal=SIGRTMIN+4",
            f"--bind={self.bus_dir}:/run/dbus",
            f"--bind-ro={self.llama_server_dir}:{LLAMA_DIR}",
            f"--bind-ro={self.models_dir}:{MODELS_DIR}",
        ]  # fmt: skip
        # A cgroup of its own in each hierarchy, entered before exec: with --keep-unit nspawn
        # makes its current cgroup the container's, and a second container must not share it.
        enter = "for f in " + " ".join(f"'{c}/cgroup.procs'" for c in self.cgroups)
        enter += '; do echo $$ >"$f"; done; exec "$@"'
        with self.console_log.open("wb") as console:
            self.process = subprocess.Popen(
                ["sh", "-c", enter, "sh", *nspawn],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_running(self, deadline: float) -> None:
        assert self.process is not None
        state = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                console = self.console_log.read_text(errors="replace")[-3000:]
                raise ContainerError(
                    f"systemd-nspawn exited with {self.process.returncode}; "
                    f"see {self.console_log}:\n{console}"
                )
            if (self.bus_dir / "system_bus_socket").exists():
                state = self._system_state()
                if state in ("running", "degraded"):
                    self.leader = self._find_leader()
                    if self.leader:
                        break
            time.sleep(0.05)
        else:
            raise ContainerError(
                f"container {self.name} not running after {BOOT_TIMEOUT} s (state {state!r})"
            )
        if state == "degraded":
            failed = self.run("systemctl", "--failed", "--no-legend", check=False).stdout
            raise ContainerError(f"container {self.name} booted degraded; failed units:\n{failed}")

    def _find_leader(self) -> int:
        """The container's PID 1 as a host PID: the child of nspawn that runs systemd (nspawn's
        short-lived helper children come and go during boot, so never just the first child)."""
        assert self.process is not None
        # The nspawn process is the sh we started (it exec'd).
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError):
            for pid in children.read_text().split():
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return int(pid)
        return 0

    def _system_state(self) -> str:
        result = self._busctl("get-property", "SystemState")
        return result.stdout.split('"')[1] if result.returncode == 0 else ""

    def _busctl(self, verb: str, member: str) -> subprocess.CompletedProcess[str]:
        """busctl from the host against the container's systemd manager object."""
        return subprocess.run(
            ["busctl", f"--address={self.bus_address}", verb, "org.freedesktop.systemd1",
             "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", member],
            capture_output=True, text=True, check=False, timeout=5,
        )  # fmt: skip

    def teardown(self, artifacts: Path | None = None) -> list[str]:
        """Stop everything and remove the rootfs; return leftovers compared with before boot.

        With ``artifacts`` the console log and the exported journal are copied there first."""
        self._stop()
        self._remove_cgroups()
        if artifacts is not None:
            self.collect_artifacts(artifacts)
        if self.mounted:
            unmounted = subprocess.run(["umount", str(self.workdir)], check=False)
            self.mounted = unmounted.returncode != 0
        if not self.mounted and self.workdir.exists():
            subprocess.run(["rm", "-rf", "--one-file-system", str(self.workdir)], check=False)
        if self.before is None:
            return []
        return self.before.leftovers(HostState.capture(), self.name)

    def _stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        started = time.monotonic()
        steps: list[tuple[str, float]] = [
            ("poweroff", STOP_TIMEOUT),
            ("sigterm", 5),
            ("sigkill", 5),
        ]
        for step, timeout in steps:
            try:
                if step == "poweroff":
                    self._busctl("call", "PowerOff")
                elif step == "sigterm":  # nspawn forwards it as SIGRTMIN+4: a clean poweroff
                    process.send_signal(signal.SIGTERM)
                else:  # the PID namespace dies with its init
                    if self.leader:
                        os.kill(self.leader, signal.SIGKILL)
                    process.kill()
                process.wait(timeout)
                break
            except (subprocess.TimeoutExpired, ProcessLookupError):
                log.warning("container %s: %s did not stop it in %s s", self.name, step, timeout)
        log.warning("container %s: stopped in %.2f s", self.name, time.monotonic() - started)

    def _remove_cgroups(self) -> None:
        for cgroup in self.cgroups:
            remove_cgroup(cgroup)

    def collect_artifacts(self, dest: Path) -> None:
        """Console log, and the container journal exported with the host's journalctl."""
        dest.mkdir(parents=True, exist_ok=True)
        if self.console_log.exists():
            shutil.copyfile(self.console_log, dest / "console.log")
        journal_dir = self.path("/var/log/journal")
        if journal_dir.exists():
            with (dest / "journal.txt").open("w") as out:
                subprocess.run(
                    ["journalctl", "-D", str(journal_dir), "--no-pager", "-o", "short-precise"],
                    stdout=out, stderr=subprocess.STDOUT, check=False, timeout=60,
                )  # fmt: skip

    # --- running things inside --------------------------------------------------------------

    def run(
        self,
        *argv: str,
        user: str | None = None,
        check: bool = True,
        timeout: float = 30,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the container (all its namespaces), as root or as ``user``.

        PIDs it sees are container PIDs. An unprivileged ``user`` goes through runuser, so
        polkit judges a process of the container, not a host PID."""
        if not self.leader:
            raise ContainerError("container is not running")
        environment = [f"PATH={CONTAINER_PATH}", "LANG=C.UTF-8"]
        environment += [f"{key}={value}" for key, value in (env or {}).items()]
        command: list[str] = ["nsenter", "-t", str(self.leader), "-a", "env", "-i", *environment]
        if user is not None:
            command += ["runuser", "-u", user, "--"]
        command += argv
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=timeout, input=input
        )
        if check and result.returncode != 0:
            raise ContainerError(
                f"{' '.join(argv)} (user {user or 'root'}) exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def journal(self, unit: str | None = None, *, since: str | None = None) -> str:
        """The container journal (message text only), optionally of one unit and since a time."""
        argv = ["journalctl", "--no-pager", "-o", "cat"]
        if unit is not None:
            argv += ["-u", unit]
        if since is not None:
            argv += ["--since", since]
        return self.run(*argv).stdout

    def write_file(self, inside: str | PurePosixPath, text: str, mode: int = 0o644) -> None:
        """Write a file into the container from the host (not under /run, see ``path``)."""
        target = self.path(inside)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)

    def drop_in(self, unit: str, name: str, text: str) -> None:
        """Install /etc/systemd/system/UNIT.d/NAME.conf and reload systemd."""
        self.write_file(f"/etc/systemd/system/{unit}.d/{name}.conf", text)
        self.daemon_reload()

    def daemon_reload(self) -> None:
        self.run("systemctl", "daemon-reload")

    def ensure_user(self, name: str, groups: Sequence[str] = ()) -> None:
        """Create an unprivileged login user (idempotent) and add it to ``groups``."""
        if self.run("getent", "passwd", name, check=False).returncode != 0:
            self.run("useradd", "--create-home", "--shell", "/bin/sh", name)
        for group in groups:
            self.run("usermod", "--append", "--groups", group, name)

    def install_project(self) -> None:
        """(Re)install the built package with ``apt-get install --reinstall ./hal0d_*.deb``,
        then stop hal0d.service again: tests start hal0d themselves, with the configuration
        they write. Reinstalling also restores files a test removed.

        The rootfs already holds the package's dependencies (tools/rootfs.sh), so apt needs no
        mirror; the maintainer scripts run for real (sysusers, tmpfiles, enable and start)."""
        self.apt("install", "--reinstall", self.package_path())
        self.run("systemctl", "stop", "hal0d.service", timeout=60)

    def package_path(self) -> str:
        """The package's path inside the container (copied in on first use)."""
        if self.package is None:
            raise ContainerError("no package to install: build it with `make deb`")
        inside = PACKAGE_DIR / self.package.name
        if not self.path(inside).exists():
            self.path(PACKAGE_DIR).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.package, self.path(inside))
        return str(inside)

    def apt(self, verb: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """apt-get VERB ARGS inside, non-interactive (install, remove, purge)."""
        return self.run(
            "apt-get", "-y", "-q", "--no-install-recommends", verb, *args,
            env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=INSTALL_TIMEOUT, check=check,
        )  # fmt: skip


class Detached:
    """A process this one did not start (the nspawn of an earlier command), with the part of
    Popen's interface ``teardown`` uses; a pidfd keeps its number from being reused meanwhile."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._fd = -1
        try:
            self._fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self.returncode = 0

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._fd], [], [], 0)[0]:
            self.returncode = 0  # exited; its status belongs to whoever reaps it
        return self.returncode

    def wait(self, timeout: float) -> int:
        if self.returncode is None and not select.select([self._fd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
        self.returncode = 0
        return 0

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            signal.pidfd_send_signal(self._fd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def remove_cgroup(cgroup: Path, within: float = 5) -> None:
    """Remove a cgroup tree depth first (a directory goes only once its children are gone)."""
    deadline = time.monotonic() + within
    while cgroup.exists():
        for dirpath, _dirs, _files in sorted(os.walk(cgroup), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                Path(dirpath).rmdir()
        if time.monotonic() > deadline:
            log.warning("cannot remove cgroup %s", cgroup)
            return
        if cgroup.exists():
            time.sleep(0.05)


def reap_stale_runs(workdir: Path) -> None:
    """Clean up after harness runs whose process died without tearing down (killed pytest):
    their nspawn processes, tmpfs, cgroups and directories. Live runs are left alone."""
    if not workdir.is_dir():
        return
    for run_dir in workdir.glob(f"{RUN_PREFIX}*"):
        owner = run_dir.name.removeprefix(RUN_PREFIX).split("-")[0]
        if not owner.isdigit() or Path(f"/proc/{owner}").exists():
            continue
        log.warning("reaping stale container run %s", run_dir.name)
        killed = []
        for proc in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
                if f"--machine={run_dir.name}".encode() in cmdline:
                    # The leader first: its PID namespace, the whole container, dies with it.
                    children = proc / "task" / proc.name / "children"
                    for pid in [*children.read_text().split(), proc.name]:
                        os.kill(int(pid), signal.SIGKILL)
                        killed.append(Path(f"/proc/{pid}"))
        deadline = time.monotonic() + 5
        while any(proc.exists() for proc in killed) and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["umount", "--lazy", str(run_dir)], capture_output=True, check=False)
        for root in CGROUP_ROOTS:
            remove_cgroup(root / run_dir.name)
        subprocess.run(["rm", "-rf", "--one-file-system", str(run_dir)], check=False)
