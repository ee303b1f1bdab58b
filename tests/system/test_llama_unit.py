"""A template unit runs the real llama-server on a generated model; systemd restarts it."""

from __future__ import annotations

import asyncio
import random
import signal
import string
import time

import httpx
import pytest

from tests.system.conftest import LlamaInstance, record_timing
from tests.system.harness.container import Container
from tests.system.harness.systemd import Systemd

pytestmark = pytest.mark.timeout(60)


async def wait_healthy(client: httpx.AsyncClient, url: str, within: float = 15) -> float:
    """Seconds until GET /health answers 200 (connection refused and 503 mean: not yet)."""
    started = time.monotonic()
    while True:
        try:
            response = await client.get(f"{url}/health")
            if response.status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        if time.monotonic() - started > within:
            raise AssertionError(f"{url}/health not 200 after {within} s")
        await asyncio.sleep(0.01)


def active(state: dict[str, object]) -> bool:
    return state["ActiveState"] == "active" and state["SubState"] == "running"


async def test_start_health_and_completion(
    container: Container, llama_instance: LlamaInstance
) -> None:
    async with (
        await Systemd.connect(container.bus_address) as systemd,
        httpx.AsyncClient() as client,
    ):
        started = time.monotonic()
        assert await systemd.start(llama_instance.unit) == "done"
        state = await systemd.wait_state(llama_instance.unit, active)
        assert state["MainPID"] > 0
        await wait_healthy(client, llama_instance.url)
        record_timing(
            "llama-server start job → /health 200 (tiny model)", time.monotonic() - started
        )
        response = await client.post(
            f"{llama_instance.url}/completion",
            json={"prompt": "Hello", "n_predict": 8, "seed": 1, "cache_prompt": False},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["content"]
        assert body["tokens_predicted"] == 8


@pytest.mark.release_sensitive  # Restart=on-failure after SIGKILL
async def test_sigkill_of_main_process_is_restarted(
    container: Container, llama_instance: LlamaInstance
) -> None:
    unit = llama_instance.unit
    async with (
        await Systemd.connect(container.bus_address) as systemd,
        httpx.AsyncClient() as client,
    ):
        await systemd.start(unit)
        before = await systemd.wait_state(unit, active)
        await wait_healthy(client, llama_instance.url)
        killed_at = time.monotonic()
        await systemd.kill(unit, signal.SIGKILL)
        after = await systemd.wait_state(
            unit,
            lambda s: (
                s["NRestarts"] > before["NRestarts"]
                and active(s)
                and s["MainPID"] != before["MainPID"]
            ),
        )
        await wait_healthy(client, llama_instance.url)
        record_timing("SIGKILL → restarted and /health 200", time.monotonic() - killed_at)
        assert after["NRestarts"] == before["NRestarts"] + 1
        assert after["Result"] == "success" or after["Result"] == "signal"


@pytest.mark.release_sensitive  # journald
async def test_journal_holds_llama_server_log(
    container: Container, llama_instance: LlamaInstance
) -> None:
    async with (
        await Systemd.connect(container.bus_address) as systemd,
        httpx.AsyncClient() as client,
    ):
        await systemd.start(llama_instance.unit)
        await wait_healthy(client, llama_instance.url)
    # journald takes the stream asynchronously: give it a moment to catch up.
    deadline = time.monotonic() + 5
    while f"{llama_instance.port}" not in (
        journal := await asyncio.to_thread(container.journal, llama_instance.unit)
    ):
        assert time.monotonic() < deadline, journal[-2000:]
        await asyncio.sleep(0.1)
    assert "llama_model_loader" in journal or "load_model" in journal, journal[-2000:]


async def test_fifty_seeded_prompts_answer_valid_utf8(
    container: Container, llama_instance: LlamaInstance
) -> None:
    rng = random.Random(20261123)  # noqa: S311 - seeded test data, not secrets
    alphabet = string.ascii_letters + string.digits + " .,;:!?-" + "äöüéñ日本語€"
    async with (
        await Systemd.connect(container.bus_address) as systemd,
        httpx.AsyncClient() as client,
    ):
        await systemd.start(llama_instance.unit)
        await wait_healthy(client, llama_instance.url)
        for index in range(50):
            prompt = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
            response = await client.post(
                f"{llama_instance.url}/completion",
                json={"prompt": prompt, "n_predict": 16, "seed": index, "cache_prompt": False},
            )
            assert response.status_code == 200, (prompt, response.text)
            content = response.content.decode("utf-8")  # strict: raises on invalid UTF-8
            assert response.json()["content"], (prompt, content)
