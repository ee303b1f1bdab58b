"""The steps of ``make run`` after the build: boot, install, configure, pull, load, status, chat.

Runs in the system tier's venv (gguf, cryptography, httpx), started by
``tests.system.harness.run``. Everything the user does goes through the product's own
surfaces: ``apt-get install ./hal0d_*.deb``, files under /etc/hal0, ``systemctl``, and
``hal0ctl`` inside the container (its output goes to the log); the host only sends the chat
request over the loopback the container shares.

    python -m tests.system.harness.scenario RELEASE [--exit]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from tests.support import gguf_model
from tests.system.harness import catalog
from tests.system.harness.container import Container
from tests.system.harness.hoststate import DEMO_PREFIX
from tests.system.harness.run import LOG, REPO, RUN_DIR, report_failure, stop, write_state
from tests.system.harness.steps import Step, StepError, Steps

CACHE = Path(os.environ.get("HAL0_TEST_CACHE", "/var/cache/hal0-test"))
WORKDIR = Path("/var/tmp/hal0-run")
SLOT = "chat"
ENTRY = "hal0-demo"
CATALOG_NAME = "local"
WAIT = 300.0  # seconds a pull or a load may take before the step gives up
QUESTION = "Say hello in five words."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Run:
    def __init__(self, steps: Steps, release: str) -> None:
        self.steps = steps
        self.release = release
        self.name = f"{DEMO_PREFIX}{secrets.token_hex(3)}"
        self.host_dir = RUN_DIR / self.name
        self.state: dict[str, Any] = {"release": release}
        self.box: Container | None = None
        self.endpoint = ""

    # --- host side ----------------------------------------------------------------------------

    def model(self, step: Step) -> tuple[Path, str]:
        path, sha256 = gguf_model.cached_model(gguf_model.LARGE, CACHE / "models")
        step.result = f"{path.name}, {path.stat().st_size / 2**20:.0f} MiB"
        return path, sha256

    def publish(self, step: Step, model: Path, sha256: str) -> catalog.Publication:
        port = free_port()
        publication = catalog.publish(self.host_dir, model, sha256, entry=ENTRY, port=port)
        pki = publication.pki
        argv = [sys.executable, "-m", "tests.system.harness.catalog", "serve",
                str(publication.directory), str(pki.cert_file), str(pki.key_file), str(port),
                self.name]  # fmt: skip
        self.steps.note("$ " + " ".join(argv))
        with (self.host_dir / "server.log").open("ab") as server_log:
            server = subprocess.Popen(
                argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=server_log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.state["server"] = {"pid": server.pid, "port": port}
        write_state(self._state())
        wait_for_tls(port, pki.client_context(), server)
        step.result = f"https://127.0.0.1:{port}/{catalog.CATALOG} (minisign-signed)"
        self.state["port"] = port
        return publication

    def boot(self, step: Step, package: Path) -> Container:
        tarball = subprocess.run(
            [str(REPO / "tools/rootfs.sh"), self.release, str(package)],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        llama = Path((REPO / "build" / "llama-server.path").read_text().strip())
        WORKDIR.mkdir(parents=True, exist_ok=True)
        box = Container(
            tarball=Path(tarball), workdir=WORKDIR, llama_server_dir=llama.parent,
            models_dir=CACHE / "models", package=package, name=self.name,
        )  # fmt: skip
        try:
            box.boot()
        except BaseException:
            box.teardown()
            raise
        self.box = box
        write_state(self._state())
        systemd = box.run("systemctl", "--version").stdout.split()[1]
        step.result = f"{box.name}: Debian {self.release}, systemd {systemd}"
        return box

    def _state(self) -> dict[str, Any]:
        state = dict(self.state)
        state["container"] = (
            self.box.state() if self.box and self.box.process else {"name": self.name}
        )
        return state

    # --- inside, as an admin -------------------------------------------------------------------

    def inside(self, *argv: str, timeout: float = 60) -> str:
        """ARGV run inside the container as root; its output goes to the log."""
        assert self.box is not None
        self.steps.note("(container) # " + " ".join(argv))
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        result = self.box.run(*argv, check=False, timeout=timeout, env=env)
        self.steps.log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
            raise RuntimeError(f"{argv[0]} exited {result.returncode}: {last[0]}")
        return result.stdout

    def install(self, step: Step) -> None:
        assert self.box is not None
        deb = PurePosixPath(self.box.package_path())
        self.inside("sh", "-c", f"cd {deb.parent} && apt install -y ./{deb.name}", timeout=300)
        version = self.inside("dpkg-query", "-W", "-f", "${Version}", "hal0d")
        active = self.inside("systemctl", "is-active", "hal0d.service").strip()
        step.result = f"hal0d {version}, hal0d.service {active}"

    def configure(self, step: Step, publication: catalog.Publication) -> None:
        assert self.box is not None
        slot_port = free_port()
        catalog.configure(self.box, publication, self.state["port"], catalog=CATALOG_NAME)
        self.box.write_file(
            f"/etc/hal0/slots/{SLOT}.toml",
            f'model = "{CATALOG_NAME}/{ENTRY}"\nport = {slot_port}\nthreads = 1\ncontext = 2048\n',
        )
        self.inside("hal0d", "check-config")
        # A restart, not a reload: hal0d builds its model store, ca_file included, at start.
        self.inside("systemctl", "restart", "hal0d.service", timeout=90)
        step.result = f"/etc/hal0/hal0.toml, /etc/hal0/slots/{SLOT}.toml; {self.status_line()}"

    def status_line(self) -> str:
        return str(self.hal0ctl_status()["manager"]["Status"])

    def hal0ctl_status(self) -> dict[str, Any]:
        return dict(json.loads(self.inside("hal0ctl", "status", "--json")))

    def pull(self, step: Step) -> None:
        started = time.monotonic()
        # Without a terminal hal0ctl prints one JSON object per progress signal; the last one
        # carries the outcome (it exits non-zero unless the phase is "done").
        out = self.inside("hal0ctl", "pull", SLOT, timeout=WAIT)
        final = json.loads(out.strip().splitlines()[-1])
        mib = final["bytes_total"] / 2**20
        seconds = time.monotonic() - started
        step.result = f"{mib:.1f} MiB downloaded and verified ({mib / seconds:.0f} MiB/s)"

    def load(self, step: Step) -> None:
        self.inside("hal0ctl", "load", SLOT, timeout=WAIT)
        self.endpoint = str(self.hal0ctl_status()["slots"][SLOT]["Endpoint"])
        step.result = f"ready on {self.endpoint}"

    def status(self, step: Step) -> None:
        self.inside("hal0ctl", "status")
        self.inside("systemctl", "status", "--no-pager", "--lines=5", f"hal0-slot@{SLOT}.service")
        step.result = self.status_line()

    def chat(self, step: Step) -> str:
        request = {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 24}
        self.steps.note(f"POST {self.endpoint}/v1/chat/completions {request}")
        response = httpx.post(f"{self.endpoint}/v1/chat/completions", json=request, timeout=120)
        self.steps.note(response.text)
        response.raise_for_status()
        answer = str(response.json()["choices"][0]["message"]["content"]).strip()
        step.result = f"{len(answer)} characters"
        return answer


def wait_for_tls(port: int, context: ssl.SSLContext, server: subprocess.Popen[bytes]) -> None:
    """Until the server completes a TLS handshake with the CA we made (or exits)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw, \
                    context.wrap_socket(raw, server_hostname="127.0.0.1"):  # fmt: skip
                return
        except OSError as exc:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the catalog server on port {port} did not come up") from exc
            time.sleep(0.05)


def next_steps(run: Run) -> list[str]:
    assert run.box is not None
    return [
        f"hal0d runs in {run.box.name} (Debian {run.release}); it stays up until `make stop`.",
        "Where to look next:",
        "  make shell                             a root shell inside; there:",
        "    hal0ctl status                       hal0d's status line and the slots",
        f"    systemctl status hal0-slot@{SLOT}    the slot's unit and its status line",
        f"    journalctl -u hal0-slot@{SLOT}       llama-server's log",
        "    journalctl -u hal0d                  hal0d's log",
        "    busctl monitor org.hal0.Manager1     every change hal0d publishes, live",
        f"    hal0ctl unload {SLOT}                  stop the slot",
        "  from here (the container shares this machine's loopback):",
        f"    curl -s {run.endpoint}/v1/chat/completions \\",
        f'      -d \'{{"messages": [{{"role": "user", "content": "{QUESTION}"}}]}}\'',
        "  make stop                              remove the container and all make run started",
        "  docs/install.md                        installing the .deb on a real machine",
    ]


def scenario(steps: Steps, release: str, exit_at_end: bool) -> int:
    package = next((REPO / "dist").glob("hal0d_*_all.deb"))
    run = Run(steps, release)
    run.host_dir.mkdir(parents=True)
    write_state(run._state())
    try:
        with steps.step("generate a model", retry="make stop && make run") as step:
            model, sha256 = run.model(step)
        with steps.step("sign a catalog, serve it (HTTPS)", retry="make stop && make run") as step:
            publication = run.publish(step, model, sha256)
        with steps.step("boot a container", retry="make stop && make run") as step:
            run.boot(step, package)
        retry = "make stop && make run"
        with steps.step("apt install ./hal0d_*.deb", retry=retry) as step:
            run.install(step)
        with steps.step("configure catalog, CA, a slot", retry=retry) as step:
            run.configure(step, publication)
        shell = "make shell, then: hal0ctl"
        with steps.step(f"pull {SLOT}'s model", retry=f"{shell} pull {SLOT}") as step:
            run.pull(step)
        with steps.step(f"load {SLOT}", retry=f"{shell} load {SLOT}") as step:
            run.load(step)
        with steps.step("status", retry=f"{shell} status") as step:
            run.status(step)
        with steps.step(
            "one chat completion", retry=f"curl {run.endpoint}/v1/chat/completions"
        ) as step:
            answer = run.chat(step)
    except StepError as failure:
        report_failure(steps, failure, kept=not exit_at_end)
        if exit_at_end:
            stop(steps)
        return 1
    steps.say(f"\n  you:  {QUESTION}\n  {SLOT}: {answer}")
    steps.say("  (a generated model with random weights: it answers nonsense)\n")
    if exit_at_end:
        return stop(steps)
    for line in next_steps(run):
        steps.say(line)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tests.system.harness.scenario")
    parser.add_argument("release")
    parser.add_argument("--exit", action="store_true")
    args = parser.parse_args(argv)
    return scenario(Steps(LOG).capture_logging(), args.release, args.exit)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
