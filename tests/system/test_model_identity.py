"""Model identity through hal0d restarts and reboots, in the real hal0d.service.

The slot files are exactly as a user writes them: ``model = "tiny"`` from a signed catalog,
and a ``verify = "no"`` URL — no sha256 in either. hal0d pulls both from a loopback server on
the host, then (a) SIGKILLed and restarted by systemd, (b) restarted after a "reboot" (units
stopped, env files gone) while the catalog server accepts and never answers, (c) restarted
twice after a running slot's model changed, (d) reloaded with a running slot's new port.
Prune must keep every model a slot runs or is configured with, nothing is downloaded twice,
and Endpoint names the port the unit listens on.
"""

from __future__ import annotations

import collections
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import gguf_model
from tests.system.conftest import CACHE, Model, free_port
from tests.system.harness.container import LLAMA_DIR, Container
from tests.system.test_daemon_slots import show, slot_property, wait_for
from tests.unit.store.test_catalog import make_keys, sign

pytestmark = pytest.mark.timeout(240)
DAEMON = "hal0d.service"
SLOTS = ("cat", "raw")
MODELS = "/var/lib/hal0/models"
OTHER_SHA = "c" * 64  # a second catalog entry, never pulled


class ModelServer:
    """Serves files over loopback HTTP, counting GETs; can hold catalog requests open."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.gets: collections.Counter[str] = collections.Counter()
        self.hang_catalog = False
        self.held = threading.Event()  # a catalog request is being held open
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.gets[self.path] += 1
                if server.hang_catalog and self.path.startswith("/main.toml"):
                    server.held.set()
                    server.release.wait()
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Setup:
    server: ModelServer
    tiny: Model
    raw_sha256: str


def call(container: Container, member: str, *args: str) -> str:
    signature = ("s",) if args else ()
    return container.run(
        "busctl", "call", "org.hal0.Manager1", "/org/hal0/Manager1", "org.hal0.Manager1",
        member, *signature, *args, timeout=60,
    ).stdout  # fmt: skip


def model_file(container: Container, sha256: str) -> Path:
    return container.path(f"{MODELS}/{sha256}.gguf")


def env_file(container: Container, name: str) -> dict[str, str]:
    text = container.run("cat", f"/run/hal0/slots/{name}.env").stdout
    lines = [line for line in text.splitlines() if "=" in line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def healthy(port: str) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def endpoint_port(container: Container, name: str) -> str:
    return slot_property(container, name, "Endpoint").rsplit(":", 1)[1]


def restart_daemon(container: Container) -> None:
    """`systemctl restart` returns once the new hal0d sent READY=1 (Type=notify)."""
    container.run("systemctl", "restart", DAEMON, timeout=60)


def wait_ready(container: Container, *names: str) -> None:
    for name in names:
        wait_for(f"{name} ready", lambda n=name: slot_property(container, n, "State") == "ready")


@pytest.fixture(scope="module")
def setup(
    container: Container, tiny_model: Model, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    raw_path, raw_sha256 = gguf_model.cached_model(
        replace(gguf_model.TINY, name="hal0-tiny-raw", seed=1), CACHE / "models"
    )
    keys = make_keys(tmp_path_factory.mktemp("signer"))
    files = {"/tiny.gguf": tiny_model.host_path.read_bytes(), "/raw.gguf": raw_path.read_bytes()}
    server = ModelServer(files)
    catalog = tmp_path_factory.mktemp("catalog") / "main.toml"
    catalog.write_text(
        f'serial = 1\n\n[models.tiny]\nurl = "{server.url}/tiny.gguf"\n'
        f'sha256 = "{tiny_model.sha256}"\nsize = {tiny_model.size}\n\n'
        f'[models.other]\nurl = "{server.url}/other.gguf"\nsha256 = "{OTHER_SHA}"\n'
    )
    sign(keys, catalog)
    files["/main.toml"] = catalog.read_bytes()
    files["/main.toml.minisig"] = catalog.with_name("main.toml.minisig").read_bytes()

    slots_dir = container.path("/etc/hal0/slots")
    for old in slots_dir.glob("*.toml") if slots_dir.exists() else ():
        old.unlink()
    first = free_port()
    container.write_file("/etc/hal0/keys/publisher.pub", keys.public.read_text())
    container.write_file(
        "/etc/hal0/hal0.toml",
        f'llama_server = "{LLAMA_DIR}/llama-server"\nidle_after = "1h"\n'
        f"port_range = [{first}, {first + 9}]\n\n"
        f'[[catalogs]]\nname = "main"\nurl = "{server.url}/main.toml"\nallow_http = true\n',
    )
    container.write_file("/etc/hal0/slots/cat.toml", 'model = "tiny"\n')
    container.write_file(
        "/etc/hal0/slots/raw.toml",
        f'url = "{server.url}/raw.gguf"\nverify = "no"\nallow_http = true\n',
    )
    container.run("systemd-tmpfiles", "--create")
    restart_daemon(container)
    yield Setup(server, tiny_model, raw_sha256)
    container.run("systemctl", "stop", DAEMON, check=False, timeout=60)
    for name in SLOTS:
        container.run("systemctl", "stop", f"hal0-slot@{name}.service", check=False, timeout=120)
        container.run("systemctl", "reset-failed", f"hal0-slot@{name}.service", check=False)
        (slots_dir / f"{name}.toml").unlink(missing_ok=True)
    shutil.rmtree(container.path("/etc/hal0/keys"), ignore_errors=True)
    container.write_file("/etc/hal0/hal0.toml", f'llama_server = "{LLAMA_DIR}/llama-server"\n')
    server.close()


def test_a_killed_hal0d_comes_back_knowing_its_models(container: Container, setup: Setup) -> None:
    """(a) load, SIGKILL hal0d, systemd restarts it, Prune → both model files are still
    there, Restart works, nothing was downloaded again."""
    for name in SLOTS:
        call(container, "Load", name)
    wait_ready(container, *SLOTS)
    downloads = dict(setup.server.gets)
    old_daemon = show(container, DAEMON, "MainPID")["MainPID"]
    container.run("systemctl", "kill", "--signal=KILL", DAEMON)

    def restarted() -> bool:
        now = show(container, DAEMON, "MainPID", "ActiveState")
        return now["ActiveState"] == "active" and now["MainPID"] not in ("0", old_daemon)

    wait_for("hal0d restarted by systemd", restarted, within=30)
    assert slot_property(container, "cat", "Sha256") == setup.tiny.sha256
    call(container, "Prune")
    assert model_file(container, setup.tiny.sha256).exists()
    assert model_file(container, setup.raw_sha256).exists()
    pids = {n: show(container, f"hal0-slot@{n}.service", "ExecMainPID") for n in SLOTS}
    for name in SLOTS:
        call(container, "Restart", name)
    for name in SLOTS:
        wait_for(
            f"{name} restarted",
            lambda n=name: (
                show(container, f"hal0-slot@{n}.service", "ExecMainPID") != pids[n]
                and slot_property(container, n, "State") == "ready"
            ),
        )
    for path in ("/tiny.gguf", "/raw.gguf"):
        assert setup.server.gets[path] == downloads.get(path, 0), path


def test_after_a_reboot_hal0d_is_ready_without_the_catalog_server_and_prune_keeps_models(
    container: Container, setup: Setup
) -> None:
    """(b) units stopped, /run/hal0/slots emptied, the catalog server accepts and never
    answers: hal0d restarts (READY=1) with the catalog request still open, Prune keeps both."""
    for name in SLOTS:
        container.run("systemctl", "stop", f"hal0-slot@{name}.service", timeout=120)
    container.run("sh", "-c", "rm -f /run/hal0/slots/*.env")
    setup.server.hang_catalog = True
    try:
        started = time.monotonic()
        restart_daemon(container)  # returns on READY=1
        assert setup.server.held.wait(30), "hal0d never refreshed its catalog"
        assert not setup.server.release.is_set()
        assert show(container, DAEMON, "ActiveState")["ActiveState"] == "active"
        assert time.monotonic() - started < 60
        call(container, "Prune")
        assert model_file(container, setup.tiny.sha256).exists()
        assert model_file(container, setup.raw_sha256).exists()
        assert slot_property(container, "cat", "Sha256") == setup.tiny.sha256
    finally:
        setup.server.hang_catalog = False
        setup.server.release.set()


def test_a_running_slots_model_outlives_a_config_change_and_two_restarts(
    container: Container, setup: Setup
) -> None:
    """(c) while a slot runs its model changes in the config and hal0d reloads, then restarts
    twice: Prune keeps the model the unit serves and its env file still names it."""
    call(container, "Load", "cat")
    wait_ready(container, "cat")
    served = env_file(container, "cat")["LLAMA_ARG_MODEL"]
    assert served == f"{MODELS}/{setup.tiny.sha256}.gguf"
    container.write_file("/etc/hal0/slots/cat.toml", 'model = "other"\n')
    try:
        call(container, "Reload")
        assert "Restart it to apply" in slot_property(container, "cat", "LastError")
        for _ in range(2):
            restart_daemon(container)
        call(container, "Prune")
        assert model_file(container, setup.tiny.sha256).exists()
        assert env_file(container, "cat")["LLAMA_ARG_MODEL"] == served
        assert slot_property(container, "cat", "Sha256") == setup.tiny.sha256
        assert slot_property(container, "cat", "State") == "ready"
    finally:
        container.write_file("/etc/hal0/slots/cat.toml", 'model = "tiny"\n')
        call(container, "Reload")


def test_a_changed_port_is_reported_and_endpoint_follows_the_unit(
    container: Container, setup: Setup
) -> None:
    """(d) Endpoint names the port the unit listens on before the reload, after it, and after
    the next start; the pending change is reported meanwhile."""
    call(container, "Load", "raw")
    wait_ready(container, "raw")
    before = endpoint_port(container, "raw")
    assert healthy(before)
    new = str(free_port())
    raw = container.path("/etc/hal0/slots/raw.toml").read_text()
    container.write_file("/etc/hal0/slots/raw.toml", raw + f"port = {new}\n")
    call(container, "Reload")
    assert endpoint_port(container, "raw") == before
    assert healthy(before)
    pending = slot_property(container, "raw", "LastError")
    assert f"port {before} " in pending, pending  # "port OLD → NEW"
    assert f" {new})" in pending, pending
    assert env_file(container, "raw")["LLAMA_ARG_PORT"] == before
    call(container, "Restart", "raw")
    wait_for("raw on its new port", lambda: endpoint_port(container, "raw") == new and healthy(new))
    wait_ready(container, "raw")
    assert endpoint_port(container, "raw") == new
    assert slot_property(container, "raw", "LastError") == ""
