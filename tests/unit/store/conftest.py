"""Fixtures for the store tests: a fault-injecting loopback server, TLS, store settings."""

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal0d.store.settings import StoreSettings
from tests.support.faultserver import FaultServer
from tests.support.tls import TestPki, make_pki


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)  # noqa: S311


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as running:
        yield running


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_server(pki: TestPki) -> Iterator[FaultServer]:
    with FaultServer(tls=pki.server_context()) as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, pki: TestPki) -> StoreSettings:
    return StoreSettings(
        models_dir=tmp_path / "models",
        state_dir=tmp_path / "state",
        quarantine_max_bytes=1 << 30,
        partial_max_age=3600.0,
        stall_timeout=5.0,
        retries=5,
        backoff_initial=0.01,
        backoff_max=0.05,
        connect_timeout=5.0,
        free_space_margin=0,
        ssl_context=pki.client_context(),
    )
