"""``make run``, ``make stop`` and ``make shell``: hal0d's package installed in a container and
used as a person would, from one command.

    /usr/bin/python3 -m tests.system.harness.run start [--release R] [--exit]
    /usr/bin/python3 -m tests.system.harness.run stop | shell

``start`` builds what the system tier builds (the .deb, llama-server, the release's rootfs)
and then runs ``tests.system.harness.scenario`` in the tier's venv, which boots the container
and walks through install, pull, load, status and one chat completion. This module needs only
the standard library, so it runs before any venv exists. What a run started is written to
``build/run/state.json``; ``stop`` removes exactly that and then looks for leftovers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.system.harness.container import CONTAINER_PATH, Container, Detached
from tests.system.harness.hoststate import HostState
from tests.system.harness.steps import StepError, Steps

REPO = Path(__file__).resolve().parents[3]
RUN_DIR = Path(os.environ.get("HAL0_RUN_DIR", REPO / "build" / "run"))
STATE = RUN_DIR / "state.json"
LOG = RUN_DIR / "run.log"
VENV_PYTHON = REPO / "build" / "venv-system" / "bin" / "python"


def read_state() -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(STATE.read_text())
    except FileNotFoundError:
        return None
    return state


def write_state(state: dict[str, Any]) -> None:
    STATE.parent.mkdir(parents=True, exist_ok=True)
    temporary = STATE.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    temporary.replace(STATE)


def report_failure(steps: Steps, failure: StepError, *, kept: bool) -> None:
    steps.say()
    steps.say(f"make run failed at step {failure.step.title!r}: {failure.reason}")
    steps.say(f"  full log: {steps.log_path}")
    steps.say(f"  retry:    {failure.step.retry}")
    if kept:
        steps.say(
            "  the container is still up: `make shell` to look inside, `make stop` to remove it"
        )


def start(release: str, exit_at_end: bool) -> int:
    state = read_state()
    if state is not None:
        print(f"make run: {state['container']['name']} from an earlier `make run` is still up; "
              "`make stop` removes it")  # fmt: skip
        return 1
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.unlink(missing_ok=True)
    steps = Steps(LOG).capture_logging()
    steps.say(f"hal0d: the .deb in a Debian {release} container (log: {LOG})")
    make = ["make", "--no-print-directory", "-C", str(REPO)]
    try:
        with steps.step("build the package", retry="make deb") as step:
            steps.command([*make, "deb"], timeout=1800)
            step.result = " ".join(p.name for p in (REPO / "dist").glob("hal0d_*_all.deb"))
        targets = ["deps-store", "deps-system", f"SYSTEM_RELEASES={release}"]
        with steps.step(
            "llama-server, rootfs, test venv", retry=f"make {' '.join(targets)}"
        ) as step:
            step.result = provide_dependencies(steps, make, targets, release)
    except StepError as failure:
        report_failure(steps, failure, kept=False)
        return 1
    steps.close()
    scenario = [str(VENV_PYTHON), "-m", "tests.system.harness.scenario", release]
    return subprocess.run([*scenario, *(["--exit"] if exit_at_end else [])], check=False).returncode


def provide_dependencies(steps: Steps, make: list[str], targets: list[str], release: str) -> str:
    """What the system tier needs, through its own targets. Once the tier's venv and
    llama-server exist they are used as they are (`make test-system` refreshes the venv, a
    minute of pip), and only the release's rootfs is checked (unpacking a cached one is fast)."""
    llama = REPO / "build" / "llama-server.path"
    if not (VENV_PYTHON.exists() and llama.exists()):
        steps.command([*make, *targets], timeout=3600)
        return llama.read_text().strip()
    binary = Path(llama.read_text().strip())
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"{binary} (from {llama}) is not executable: `make deps-system`")
    package = next((REPO / "dist").glob("hal0d_*_all.deb"))
    steps.command([*make, "deps-store"])
    steps.command([str(REPO / "tools" / "rootfs.sh"), release, str(package)], timeout=3600)
    return f"{binary} (venv and llama-server as they are)"


def stop(steps: Steps | None = None) -> int:
    """Remove what the recorded run started; exit status 1 if anything of it is left."""
    state = read_state()
    if state is None:
        print(f"make stop: nothing to stop (no {STATE})")
        return 0
    steps = steps or Steps(LOG).capture_logging()
    name = state["container"]["name"]
    leftovers: list[str] = []
    try:
        with steps.step("stop the catalog server", retry="make stop") as step:
            step.result = stop_server(state.get("server"), name)
        with steps.step("stop the container", retry="make stop") as step:
            step.result = "none was booted"
            if "nspawn" in state["container"]:
                Container.attach(state["container"]).teardown()
                step.result = name
        with steps.step("check for leftovers", retry="make stop") as step:
            leftovers = leftovers_of(name)
            if leftovers:
                raise RuntimeError(f"{len(leftovers)} left behind: {'; '.join(leftovers)}")
            step.result = "no process, mount or cgroup of the run is left"
    except StepError as failure:
        steps.say(f"make stop: {failure.reason}")
        steps.say(f"  full log: {steps.log_path}")
        return 1
    shutil.rmtree(RUN_DIR / name, ignore_errors=True)
    STATE.unlink()
    return 0


def stop_server(server: dict[str, Any] | None, name: str) -> str:
    if server is None:
        return "none was started"
    pid = server["pid"]
    if not any(pid == owner for owner, _ in processes_mentioning(name)):
        return f"pid {pid} already gone"
    process = Detached(pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
    return f"pid {pid}"


def processes_mentioning(name: str) -> list[tuple[int, str]]:
    """Host processes whose command line carries the run's name (its nspawn, its server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            if name in cmdline:
                found.append((int(entry.name), cmdline))
    return found


def leftovers_of(name: str) -> list[str]:
    """Mounts, cgroups and nspawn processes of the run, processes whose command line names it,
    and processes still in its cgroups (what ran inside the container)."""
    state = HostState.capture()
    found = state.mentioning(name)
    pids = dict(processes_mentioning(name))
    for cgroup in state.cgroups:
        if name in cgroup:
            with contextlib.suppress(OSError):
                for pid in Path(cgroup, "cgroup.procs").read_text().split():
                    pids.setdefault(int(pid), _cmdline(int(pid)))
    found += [f"process: {pid} {cmdline}" for pid, cmdline in sorted(pids.items())]
    return found


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    return "(exited)"


def shell(command: list[str]) -> int:
    """A root login shell (or COMMAND) inside the running container."""
    state = read_state()
    if state is None or not state["container"].get("leader"):
        print("make shell: no container is up; `make run` starts one")
        return 1
    box = Container.attach(state["container"])
    if not box.leader:
        print(f"make shell: {box.name} is no longer running; `make stop` cleans up after it")
        return 1
    term = os.environ.get("TERM", "dumb")
    argv = command or ["/bin/bash", "--login"]
    env = ["env", "-i", f"PATH={CONTAINER_PATH}", "LANG=C.UTF-8", f"TERM={term}", "HOME=/root"]
    return subprocess.run(
        ["nsenter", "-t", str(box.leader), "-a", *env, *argv], check=False
    ).returncode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tests.system.harness.run")
    verbs = parser.add_subparsers(dest="verb", required=True)
    start_parser = verbs.add_parser("start")
    start_parser.add_argument("--release", default="bookworm", choices=("bookworm", "trixie"))
    start_parser.add_argument("--exit", action="store_true", help="stop again at the end")
    verbs.add_parser("stop")
    shell_parser = verbs.add_parser("shell")
    shell_parser.add_argument("command", nargs="*")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(f"make {args.verb}: needs root (systemd-nspawn, mounts, cgroups)")
        return 1
    if args.verb == "start":
        return start(args.release, args.exit)
    if args.verb == "stop":
        return stop()
    return shell(args.command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
