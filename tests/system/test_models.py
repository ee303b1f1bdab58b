"""Generated GGUF models: deterministic, and the large one loads in the real llama-server."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support import gguf_model
from tests.system.conftest import LlamaInstance, Model, llama_env, record_timing
from tests.system.harness.container import Container
from tests.system.harness.systemd import Systemd
from tests.system.test_llama_unit import wait_healthy


@pytest.mark.timeout(30)
def test_tiny_model_is_byte_identical_for_the_same_spec(tmp_path: Path, tiny_model: Model) -> None:
    started = time.monotonic()
    digest = gguf_model.write_model(gguf_model.TINY, tmp_path / "again.gguf")
    record_timing("tiny model generation", time.monotonic() - started)
    assert digest == tiny_model.sha256
    assert 400_000 < tiny_model.size < 800_000


@pytest.mark.timeout(120)
async def test_large_model_loads(
    container: Container, llama_instance: LlamaInstance, large_model: Model
) -> None:
    assert large_model.size > 100 * 1024 * 1024
    container.write_file(llama_instance.env_file, llama_env(large_model.path, llama_instance.port))
    async with (
        await Systemd.connect(container.bus_address) as systemd,
        httpx.AsyncClient() as client,
    ):
        started = time.monotonic()
        await systemd.start(llama_instance.unit)
        await wait_healthy(client, llama_instance.url, within=60)
        record_timing(
            "llama-server start job → /health 200 (large model)", time.monotonic() - started
        )
        response = await client.post(
            f"{llama_instance.url}/completion", json={"prompt": "Hi", "n_predict": 4, "seed": 1}
        )
        assert response.status_code == 200, response.text
