"""Pulls on bad links, against the real loopback fault server: a trickle, a link that stalls
after every burst, a pull cancelled while the server is silent, bodies longer than announced,
a malformed Content-Length, a full disk."""

import asyncio
import dataclasses
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal0d.errors import DownloadError, Hal0Error, IntegrityError
from hal0d.store.download import PullRequest
from hal0d.store.errors import (
    InsecureUrlError,
    NoSpaceError,
    OverlongBodyError,
    PullCancelledError,
)
from hal0d.store.settings import StoreSettings
from hal0d.store.store import ModelStore
from hal0d.store.transport import READ_BYTES
from tests.support.faultserver import Fault, FaultServer
from tests.unit.store.conftest import random_bytes, sha256
from tests.unit.store.test_pull import assert_stored, pull_once, request_for

KiB = 1 << 10
MiB = 1 << 20
PULL_THREADS = ("hal0d-pull", "hal0d-write", "hal0d-hash", "hal0d-sync")
HANG_GUARD = 60.0  # seconds; only ever reached when the behaviour under test is broken


@pytest.fixture
def small(settings: StoreSettings) -> StoreSettings:
    """The small settings of the issue: 1 KiB/s over 2 s, 2 retries, 0.1-0.2 s back-off."""
    return dataclasses.replace(
        settings,
        speed_limit=KiB,
        speed_time=2.0,
        stall_timeout=60.0,
        retries=2,
        backoff_initial=0.2,
        backoff_max=0.2,
    )


def pull_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in PULL_THREADS]


async def test_a_trickle_fails_after_retries_plus_one_requests(
    server: FaultServer, small: StoreSettings
) -> None:
    data = random_bytes(64 * KiB)
    server.serve("/m.gguf", data)
    server.every = Fault(trickle=1.0)  # one byte per second, on every connection
    with pytest.raises(DownloadError) as caught:
        await pull_once(small, request_for(server, data))
    message = str(caught.value)
    assert len(server.log) == small.retries + 1
    assert "giving up after 3 attempts in a row below the speed limit of 1.0 KiB/s" in message
    assert " B/s" in message.split("the last averaged", 1)[1]  # the rate seen
    assert server.url("/m.gguf") in message
    assert all(e.range for e in server.log[1:])  # the trickled bytes were kept


async def test_a_link_that_stalls_after_every_burst_still_finishes(
    server: FaultServer, small: StoreSettings
) -> None:
    data = random_bytes(5 * 64 * KiB)
    server.serve("/m.gguf", data)
    server.every = Fault(silent_after=64 * KiB)  # 64 KiB at full speed, then silence
    path = await pull_once(small, request_for(server, data))
    assert_stored(small, path, data)
    entries = server.log
    assert len(entries) == 5 > small.retries + 1
    assert [e.body_start for e in entries] == [i * 64 * KiB for i in range(5)]
    assert all(e.client_closed.is_set() for e in entries[:-1])


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_cancel_of_a_pull_blocked_on_a_silent_server(
    server: FaultServer, tls_server: FaultServer, settings: StoreSettings, scheme: str
) -> None:
    source = tls_server if scheme == "https" else server
    data = random_bytes(MiB)
    source.serve("/m.gguf", data)
    source.script(Fault(silent_after=200 * KiB))
    # Nothing but the cancel may end the wait: no stall timeout or speed rule in reach.
    settings = dataclasses.replace(settings, stall_timeout=3600.0, speed_limit=0)
    store = ModelStore(settings)
    await store.open()
    try:
        first = store.pull(request_for(source, data))
        assert await asyncio.to_thread(source.silent.wait, HANG_GUARD)
        (pull_thread,) = [t for t in pull_threads() if t.name == "hal0d-pull"]

        first.cancel()

        assert await asyncio.to_thread(source.log[0].client_closed.wait, HANG_GUARD)
        await asyncio.to_thread(pull_thread.join, HANG_GUARD)
        assert not pull_thread.is_alive()
        assert pull_threads() == []
        with pytest.raises(PullCancelledError):
            await first.wait()
        second = store.pull(request_for(source, data))  # resumes the partial at once
        path = await second.wait()
    finally:
        await store.close()
    assert_stored(settings, path, data)
    assert len(source.log) == 2


async def test_a_body_longer_than_its_content_length_is_refused(
    server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(MiB)
    server.serve("/m.gguf", data)
    server.script(Fault(extra=4096))
    request = request_for(server, data)
    with pytest.raises(OverlongBodyError, match=r"sent more than the 1\.0 MiB") as caught:
        await pull_once(settings, request)
    assert "test-model" in str(caught.value)
    assert not (settings.models_dir / f"{sha256(data)}.gguf").exists()
    assert list((settings.models_dir / ".partial").iterdir()) == []  # nothing to resume from
    assert len(server.log) == 1


async def test_an_overlong_chunked_body_stops_one_block_past_the_size(
    server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(MiB)
    server.serve("/m.gguf", data)
    server.script(Fault(chunked=True, extra=8 * MiB))
    with pytest.raises(IntegrityError, match=r"more than the expected 1\.0 MiB"):
        await pull_once(settings, request_for(server, data))
    (kept,) = (settings.models_dir / "quarantine").glob("*.bin")
    assert MiB < kept.stat().st_size <= MiB + READ_BYTES


async def test_a_malformed_content_length_is_a_download_error(
    server: FaultServer, settings: StoreSettings
) -> None:
    server.serve("/m.gguf", b"model")
    server.script(Fault(content_length="5x"))
    with pytest.raises(DownloadError, match="malformed Content-Length '5x'"):
        await pull_once(settings, request_for(server, b"model"))


async def test_a_failed_metadata_write_is_a_download_error(
    server: FaultServer, settings: StoreSettings
) -> None:
    server.serve("/m.gguf", b"model")
    store = ModelStore(settings)
    await store.open()
    partial_dir = settings.models_dir / ".partial"
    partial_dir.rmdir()
    partial_dir.write_text("not a directory")  # every write below it fails
    try:
        with pytest.raises(DownloadError, match=r"pulling test-model from http://.*: Not a dir"):
            await store.pull(request_for(server, b"model")).wait()
    finally:
        await store.close()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: the tests run as root (a failure here is a failure, not a skip)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", mount], check=True)


def descriptors_under(directory: Path) -> list[str]:
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink()
        except FileNotFoundError:
            continue
        if target.is_relative_to(directory):
            found.append(str(target))
    return found


async def test_a_full_disk_leaves_no_thread_and_no_descriptor(
    server: FaultServer, settings: StoreSettings, tiny_disk: Path
) -> None:
    data = random_bytes(4 * MiB)
    server.serve("/m.gguf", data)
    server.script(Fault(chunked=True))  # no length: no space check before the bytes come
    on_tiny = dataclasses.replace(settings, models_dir=tiny_disk / "models")
    request = dataclasses.replace(request_for(server, data), size=None)
    with pytest.raises(NoSpaceError, match="No space left on device"):
        await pull_once(on_tiny, request)
    for thread in pull_threads():
        if thread.name == "hal0d-pull":  # it has handed its error over and is returning
            await asyncio.to_thread(thread.join, HANG_GUARD)
    assert pull_threads() == []  # the pipeline's threads stopped before the error left
    assert descriptors_under(tiny_disk) == []


async def test_a_repeated_wrong_hash_keeps_one_quarantine_entry(
    server: FaultServer, settings: StoreSettings
) -> None:
    data, wrong = random_bytes(MiB, 1), random_bytes(MiB, 2)
    server.serve("/m.gguf", wrong)
    for _ in range(3):
        with pytest.raises(IntegrityError):
            await pull_once(settings, request_for(server, data))
    (sidecar,) = (settings.models_dir / "quarantine").glob("*.json")
    assert '"attempts": 3' in sidecar.read_text()
    assert sidecar.with_suffix(".bin").read_bytes() == wrong


async def test_messages_say_gib_name_the_slot_and_both_ends_of_a_redirect(
    tls_server: FaultServer, settings: StoreSettings
) -> None:
    tls_server.script(Fault(redirect_to="/moved.gguf"), Fault(status=404))
    request = dataclasses.replace(request_for(tls_server, b"x", "/m.gguf"), slot="chat")
    with pytest.raises(DownloadError) as caught:
        await pull_once(settings, request)
    assert str(caught.value) == (
        f"test-model for slot 'chat': {tls_server.url('/m.gguf')} (redirected to"
        f" {tls_server.url('/moved.gguf')}) answered HTTP 404 Not Found"
    )
    huge = dataclasses.replace(request, size=10 << 40)
    with pytest.raises(NoSpaceError) as full:
        await pull_once(settings, huge)
    assert "10.0 TiB (10995116277760 bytes) to download" in str(full.value)
    assert "slot 'chat'" in str(full.value)
    plain = dataclasses.replace(request, url="http://127.0.0.1:1/m.gguf")
    refused = r"^test-model for slot 'chat': 'http://.*' is plain"
    with pytest.raises(InsecureUrlError, match=refused):
        await pull_once(settings, plain)


async def test_only_the_exception_tree_leaves_the_store(
    server: FaultServer, settings: StoreSettings
) -> None:
    """Every failure above surfaced as a Hal0Error; so does a store that cannot be opened."""
    settings.models_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.models_dir.write_text("a file where the store should be")
    with pytest.raises(Hal0Error, match=r"opening the model store .*: File exists"):
        await ModelStore(settings).open()


def test_pull_request_label() -> None:
    base = PullRequest("https://x/m.gguf", None, None)
    assert base.label == "https://x/m.gguf"
    assert dataclasses.replace(base, name="qwen").label == "qwen"
    assert dataclasses.replace(base, name="chat", slot="chat").label == "slot 'chat'"
    assert dataclasses.replace(base, name="qwen", slot="chat").label == "qwen for slot 'chat'"
