"""Slots as systemd units: the product's hal0-slot@.service, its runner and hal0d's slot core.

Real systemd 252 (container), real llama-server, generated models. hal0d's SlotSupervisor
runs on the host against the container's bus (see slots_support). The daemon-level version
of the recovery scenario (hal0d itself SIGKILLed under systemd) needs the daemon wired to
the supervisor; here the supervisor is dropped without stopping anything and a fresh one
adopts the units, which is the part of recovery that is the slot core's.
"""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath

import httpx
import pytest

from hal0d.config.model import ModelRef
from hal0d.errors import InsufficientMemoryError
from hal0d.slots.state import SlotState
from hal0d.store.progress import PullPhase
from hal0d.store.settings import StoreSettings
from hal0d.store.store import ModelStore
from tests.system.conftest import Model, record_timing
from tests.system.harness.container import Container
from tests.system.slots_support import (
    ContainerStore,
    config_for,
    illegal_steps,
    install_slot_unit,
    slot_config,
    stop_slot_units,
    supervised,
)

pytestmark = pytest.mark.timeout(180)
CORRUPT_DIR = PurePosixPath("/var/lib/hal0-test-models")
SLOW_LOAD_CONTEXT = 65536


@pytest.fixture(scope="module", autouse=True)
def slot_unit(container: Container) -> str:
    install_slot_unit(container)
    return "hal0-slot@.service"


@pytest.fixture
def cleanup(container: Container) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    stop_slot_units(container, names)


def show(container: Container, unit: str, *props: str) -> dict[str, str]:
    out = container.run("systemctl", "show", unit, *(f"--property={p}" for p in props)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def server_pid(container: Container, unit: str) -> int:
    main = show(container, unit, "MainPID")["MainPID"]
    children = container.run("cat", f"/proc/{main}/task/{main}/children").stdout.split()
    assert len(children) == 1, children
    return int(children[0])


async def completion(endpoint: str, n_predict: int, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=180) as client:
        return await client.post(
            f"{endpoint}/completion",
            json={"prompt": "Hello", "n_predict": n_predict, "cache_prompt": False},
            headers=headers,
        )


@pytest.mark.release_sensitive  # Type=notify and the slot unit's sandbox on this systemd
async def test_load_reaches_ready_through_warming(
    container: Container, large_model: Model, tmp_path: Path, cleanup: list[str]
) -> None:
    cleanup.append("chat")
    # The model alone loads in ~0.1 s, less than one 0.25 s probe. A long context makes the
    # load slow the way it is in real use: llama-server allocates and clears a 1 GiB KV cache
    # (~0.9 s here) while /health answers 503.
    slot = slot_config("chat", large_model.sha256, large_model.size, context=SLOW_LOAD_CONTEXT)
    config = config_for([slot], state_dir=tmp_path)
    models = {large_model.sha256: large_model.path}
    async with supervised(container, config, models) as (supervisor, recorder):
        assert supervisor.views()["chat"].state is SlotState.OFFLINE
        started = time.monotonic()
        await supervisor.load("chat")
        view = await recorder.wait_state(supervisor, "chat", SlotState.READY, within=120)
        record_timing("slot Load → ready (large model, 64k context)", time.monotonic() - started)
        states = [SlotState.OFFLINE, *recorder.states("chat")]  # offline: asserted above
        assert states[-1] is SlotState.READY
        assert SlotState.WARMING in states, states
        assert not illegal_steps(states), states
        assert view.endpoint == f"http://127.0.0.1:{slot.port}"
        answer = await completion(view.endpoint, 8)
        assert answer.status_code == 200, answer.text
        assert answer.json()["tokens_predicted"] == 8

        status = container.run("systemctl", "status", "hal0-slot@chat", check=False).stdout
        assert f'Status: "ready: chat-model on 127.0.0.1:{slot.port}"' in status, status

        journal = container.journal("hal0-slot@chat.service").splitlines()
        ready_line = next(i for i, line in enumerate(journal) if line.startswith("ready: "))
        started_line = next(i for i, line in enumerate(journal) if line.startswith("Started "))
        assert ready_line < started_line, journal  # active only after /health said 200

        async with httpx.AsyncClient() as client:
            foreign = await client.get(
                f"{view.endpoint}/health", headers={"Origin": "http://evil.example"}
            )
        assert "access-control-allow-origin" not in foreign.headers


async def test_serving_then_idle_then_unloaded(
    container: Container, large_model: Model, tmp_path: Path, cleanup: list[str]
) -> None:
    cleanup.append("busy")
    slot = slot_config(
        "busy", large_model.sha256, large_model.size, idle_after=2.0, unload_after=1.0
    )
    config = config_for([slot], state_dir=tmp_path)
    async with supervised(container, config, {large_model.sha256: large_model.path}) as (
        supervisor,
        recorder,
    ):
        await supervisor.load("busy")
        view = await recorder.wait_state(supervisor, "busy", SlotState.READY, within=120)
        request = asyncio.ensure_future(completion(view.endpoint, 400))
        serving = await recorder.wait_state(supervisor, "busy", SlotState.SERVING, within=30)
        assert serving.active_requests >= 1
        assert (await request).status_code == 200
        await recorder.wait_state(supervisor, "busy", SlotState.READY, within=10)
        await recorder.wait_state(supervisor, "busy", SlotState.IDLE, within=10)
        await recorder.wait_state(supervisor, "busy", SlotState.OFFLINE, within=30)
        states = recorder.states("busy")
        assert states[-4:] == [
            SlotState.READY,
            SlotState.IDLE,
            SlotState.UNLOADING,
            SlotState.OFFLINE,
        ], states
        assert not illegal_steps(states), states
        final = show(container, "hal0-slot@busy.service", "ActiveState", "Result")
        assert final == {"ActiveState": "inactive", "Result": "success"}


async def test_unload_during_a_request_drains_it(
    container: Container, large_model: Model, tmp_path: Path, cleanup: list[str]
) -> None:
    cleanup.append("drain")
    slot = slot_config("drain", large_model.sha256, large_model.size)
    config = config_for([slot], state_dir=tmp_path)
    async with supervised(container, config, {large_model.sha256: large_model.path}) as (
        supervisor,
        recorder,
    ):
        await supervisor.load("drain")
        view = await recorder.wait_state(supervisor, "drain", SlotState.READY, within=120)
        request = asyncio.ensure_future(completion(view.endpoint, 600))
        await recorder.wait_state(supervisor, "drain", SlotState.SERVING, within=30)
        unloaded_at = time.monotonic()
        await supervisor.unload("drain")
        await recorder.wait_state(supervisor, "drain", SlotState.UNLOADING, within=10)
        answer = await request
        assert answer.status_code == 200, answer.text
        assert answer.json()["tokens_predicted"] == 600
        await recorder.wait_state(supervisor, "drain", SlotState.OFFLINE, within=40)
        record_timing("Unload with a request in flight → offline", time.monotonic() - unloaded_at)
        final = show(container, "hal0-slot@drain.service", "ActiveState", "Result")
        assert final == {"ActiveState": "inactive", "Result": "success"}
        # Drained, not cut short: the drain bound was not reached, and llama-server, idle
        # by then, ended at the first SIGTERM.
        container.run("journalctl", "--sync")
        runner_log = container.journal("hal0-slot@drain.service")
        assert "drain time up" not in runner_log, runner_log
        assert "still running" not in runner_log, runner_log
        assert "llama-server exited with code 0" in runner_log, runner_log


@pytest.mark.release_sensitive  # systemd's restart and watchdog handling
async def test_killed_server_is_restarted_and_a_hung_one_by_the_watchdog(
    container: Container, tiny_model: Model, tmp_path: Path, cleanup: list[str]
) -> None:
    cleanup.append("crashy")
    unit = "hal0-slot@crashy.service"
    slot = slot_config("crashy", tiny_model.sha256, tiny_model.size)
    config = config_for([slot], state_dir=tmp_path)
    async with supervised(container, config, {tiny_model.sha256: tiny_model.path}) as (
        supervisor,
        recorder,
    ):
        await supervisor.load("crashy")
        await recorder.wait_state(supervisor, "crashy", SlotState.READY, within=60)
        container.run("kill", "-KILL", str(server_pid(container, unit)))
        view = await recorder.wait(
            supervisor,
            "crashy",
            lambda v: v.n_restarts == 1 and v.state is SlotState.READY,
            within=30,
        )
        assert SlotState.STARTING in recorder.states("crashy")
        assert view.last_error == ""

        stopped_at = time.monotonic()
        container.run("kill", "-STOP", str(server_pid(container, unit)))
        await recorder.wait(
            supervisor,
            "crashy",
            lambda v: v.n_restarts == 2 and v.state is SlotState.READY,
            within=30,
        )
        record_timing(
            "SIGSTOPped llama-server → ready again (WatchdogSec=3s)",
            time.monotonic() - stopped_at,
        )
        assert "Watchdog timeout" in container.journal(unit)
        assert not illegal_steps(recorder.states("crashy")), recorder.states("crashy")


@pytest.mark.trixie  # start limits; NRestarts and Result differ nowhere (docs/testing.md)
async def test_crash_loop_gives_up_with_a_readable_error_and_load_recovers(
    container: Container, tiny_model: Model, tmp_path: Path, cleanup: list[str]
) -> None:
    cleanup.append("broken")
    fake_sha = "c" * 64
    path = CORRUPT_DIR / "broken.gguf"
    container.write_file(path, "GGUF" + "x" * 4096)
    slot = slot_config("broken", fake_sha, 4100)
    config = config_for([slot], state_dir=tmp_path)
    async with supervised(container, config, {fake_sha: path}) as (supervisor, recorder):
        await supervisor.load("broken")
        view = await recorder.wait_state(supervisor, "broken", SlotState.ERROR, within=60)
        assert re.fullmatch(
            r"crashed 3 times \(exit code 1\); systemd stopped restarting it; "
            r"see journalctl -u hal0-slot@broken\.service",
            view.last_error,
        ), view.last_error
        assert view.n_restarts == 3  # systemd counts the restart the start limit refused
        states = recorder.states("broken")
        assert states.count(SlotState.ERROR) == 1, states  # no flapping through "error"
        assert not illegal_steps(states), states

        container.path(path).write_bytes(tiny_model.host_path.read_bytes())  # fixed
        await supervisor.load("broken")
        view = await recorder.wait_state(supervisor, "broken", SlotState.READY, within=60)
        assert view.last_error == ""
        assert view.n_restarts == 0  # Load reset the failed unit


@pytest.mark.release_sensitive  # unit properties read back from a running systemd
async def test_a_new_supervisor_adopts_running_slots_without_touching_them(
    container: Container, tiny_model: Model, tmp_path: Path, cleanup: list[str]
) -> None:
    cleanup.extend(["left", "right"])
    slots = [slot_config(name, tiny_model.sha256, tiny_model.size) for name in ("left", "right")]
    config = config_for(slots, state_dir=tmp_path)
    models = {tiny_model.sha256: tiny_model.path}
    async with supervised(container, config, models) as (supervisor, recorder):
        for slot in slots:
            await supervisor.load(slot.name)
        for slot in slots:
            await recorder.wait_state(supervisor, slot.name, SlotState.READY, within=60)
    props = ("NRestarts", "ExecMainPID", "ActiveState")
    before = {s.name: show(container, f"hal0-slot@{s.name}.service", *props) for s in slots}
    assert all(p["ActiveState"] == "active" for p in before.values()), before

    started = time.monotonic()
    async with supervised(container, config, models) as (supervisor, recorder):
        record_timing("supervisor start with two running slots", time.monotonic() - started)
        # start() returned: the daemon would send READY=1 now. The true state is already there.
        views = supervisor.views()
        assert {name: v.state for name, v in views.items()} == {
            "left": SlotState.READY,
            "right": SlotState.READY,
        }
        after = {s.name: show(container, f"hal0-slot@{s.name}.service", *props) for s in slots}
        assert after == before
        for slot in slots:
            assert (await completion(f"http://127.0.0.1:{slot.port}", 4)).status_code == 200

        container.run("kill", "-KILL", str(server_pid(container, "hal0-slot@left.service")))
        await recorder.wait(
            supervisor, "left", lambda v: v.n_restarts == 1 and v.state is SlotState.READY
        )
        assert supervisor.views()["right"].state is SlotState.READY


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def model_server(tiny_model: Model) -> Iterator[str]:
    """A loopback HTTP server for the directory holding the tiny model."""
    handler = functools.partial(QuietHandler, directory=str(tiny_model.host_path.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_load_pulls_the_model_first(
    container: Container,
    tiny_model: Model,
    model_server: str,
    tmp_path: Path,
    cleanup: list[str],
) -> None:
    cleanup.append("fetch")
    # A store of its own: this one is written by root from the host, and must not leave
    # root-owned files in hal0d's own /var/lib/hal0/models.
    inside = PurePosixPath("/var/lib/hal0-test-store/models")
    shutil.rmtree(container.path(inside.parent), ignore_errors=True)
    container.run("install", "-d", "-m", "0755", str(inside.parent), str(inside))
    slot = replace(
        slot_config("fetch", tiny_model.sha256, tiny_model.size),
        model=ModelRef(
            url=f"{model_server}/{tiny_model.host_path.name}",
            sha256=tiny_model.sha256,
            size=tiny_model.size,
            allow_http=True,
        ),
    )
    config = config_for([slot], state_dir=tmp_path)
    store = ModelStore(StoreSettings(models_dir=container.path(inside), state_dir=tmp_path))
    await store.open()
    try:
        async with supervised(container, config, {}, store=ContainerStore(store, inside)) as (
            supervisor,
            recorder,
        ):
            assert supervisor.needs_pull("fetch")
            await supervisor.load("fetch")
            view = await recorder.wait_state(supervisor, "fetch", SlotState.READY, within=60)
            states = recorder.states("fetch")
            assert states[:2] == [SlotState.PULLING, SlotState.STARTING], states
            assert not illegal_steps(states), states
            assert (view.phase, view.bytes_done) == (PullPhase.DONE, tiny_model.size)
            assert not supervisor.needs_pull("fetch")
    finally:
        await store.close()


async def test_load_refuses_a_model_larger_than_memory_unless_forced(
    container: Container, tiny_model: Model, tmp_path: Path, cleanup: list[str]
) -> None:
    cleanup.append("huge")
    slot = slot_config("huge", tiny_model.sha256, 1 << 50)  # the size the config claims
    config = config_for([slot], state_dir=tmp_path)
    async with supervised(container, config, {tiny_model.sha256: tiny_model.path}) as (
        supervisor,
        recorder,
    ):
        with pytest.raises(InsufficientMemoryError, match=r"not enough memory: model needs"):
            await supervisor.load("huge")
        view = supervisor.views()["huge"]
        assert view.state is SlotState.OFFLINE
        assert view.last_error.startswith("not enough memory: model needs 1048576.0 GiB, ")
        await supervisor.load("huge", force=True)
        view = await recorder.wait_state(supervisor, "huge", SlotState.READY, within=60)
        assert view.last_error == ""
