"""Pulls against a real loopback HTTP server that drops, stalls, lies and changes files."""

import asyncio
import dataclasses
import json
import logging
import os
import random
from pathlib import Path

import pytest

from hal0d.errors import BusyError, DownloadError, IntegrityError
from hal0d.store.download import PullRequest
from hal0d.store.errors import (
    ChecksumMismatchError,
    HttpStatusError,
    InsecureUrlError,
    NoSpaceError,
    PullCancelledError,
)
from hal0d.store.progress import ProgressSnapshot, PullPhase
from hal0d.store.settings import StoreSettings
from hal0d.store.store import ModelStore
from tests.support.faultserver import Fault, FaultServer
from tests.unit.store.conftest import random_bytes, sha256

log = logging.getLogger(__name__)
MiB = 1 << 20


async def pull_once(settings: StoreSettings, request: PullRequest) -> Path:
    store = ModelStore(settings)
    await store.open()
    try:
        return await store.pull(request).wait()
    finally:
        await store.close()


def request_for(server: FaultServer, data: bytes, path: str = "/m.gguf") -> PullRequest:
    return PullRequest(
        url=server.url(path),
        sha256=sha256(data),
        size=len(data),
        allow_http=server.scheme == "http",
        name="test-model",
    )


def assert_stored(settings: StoreSettings, path: Path, data: bytes) -> None:
    assert path == settings.models_dir / f"{sha256(data)}.gguf"
    assert path.read_bytes() == data
    assert path.stat().st_mode & 0o777 == 0o644
    assert list((settings.models_dir / ".partial").iterdir()) == []


async def test_plain_pull_over_https(tls_server: FaultServer, settings: StoreSettings) -> None:
    data = random_bytes(3 * MiB + 17)
    tls_server.serve("/m.gguf", data)
    path = await pull_once(settings, request_for(tls_server, data))
    assert_stored(settings, path, data)
    assert [e.accept_encoding for e in tls_server.log] == ["identity"]


async def test_untrusted_certificate_is_not_retried(
    tls_server: FaultServer, settings: StoreSettings
) -> None:
    tls_server.serve("/m.gguf", b"x")
    untrusting = dataclasses.replace(settings, ssl_context=None)
    with pytest.raises(DownloadError, match="certificate is not trusted"):
        await pull_once(untrusting, request_for(tls_server, b"x"))


async def test_connection_dropped_at_random_offsets_resumes(
    server: FaultServer, settings: StoreSettings
) -> None:
    seed = random.randrange(1 << 32)  # noqa: S311
    log.warning("drop offsets seed=%d", seed)
    print(f"drop offsets seed={seed}")
    rng = random.Random(seed)  # noqa: S311
    data = random_bytes(8 * MiB, seed)
    server.serve("/m.gguf", data)
    drops = [rng.randrange(1, 1 * MiB) for _ in range(4)]
    server.script(*(Fault(drop_after=at) for at in drops))
    path = await pull_once(settings, request_for(server, data))
    assert_stored(settings, path, data)
    entries = server.log
    assert len(entries) == 5, f"seed={seed}"
    # every retry continued exactly where the previous attempt's bytes ended
    offset = 0
    for entry in entries:
        assert entry.body_start == offset, f"seed={seed}"
        offset += entry.bytes_sent
    assert offset == len(data)
    assert all(e.status == 206 for e in entries[1:])
    assert all(e.if_range for e in entries[1:])


async def test_server_errors_are_retried(server: FaultServer, settings: StoreSettings) -> None:
    data = random_bytes(MiB)
    server.serve("/m.gguf", data)
    server.script(Fault(status=500), Fault(status=503))
    path = await pull_once(settings, request_for(server, data))
    assert_stored(settings, path, data)
    assert [e.status for e in server.log] == [500, 503, 200]


@pytest.mark.parametrize("status", [404, 403])
async def test_client_errors_are_not_retried(
    server: FaultServer, settings: StoreSettings, status: int
) -> None:
    server.serve("/m.gguf", b"model")
    server.script(Fault(status=status))
    with pytest.raises(HttpStatusError, match=f"HTTP {status}") as caught:
        await pull_once(settings, request_for(server, b"model"))
    assert caught.value.status == status
    assert len(server.log) == 1


async def test_retries_are_bounded(server: FaultServer, settings: StoreSettings) -> None:
    server.serve("/m.gguf", b"model")
    server.script(*(Fault(status=503) for _ in range(10)))
    with pytest.raises(DownloadError, match="giving up after 6 attempts"):
        await pull_once(settings, request_for(server, b"model"))
    assert len(server.log) == settings.retries + 1


async def test_body_shorter_than_content_length(
    server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(2 * MiB)
    server.serve("/m.gguf", data)
    server.script(Fault(drop_after=MiB + 5))
    path = await pull_once(settings, request_for(server, data))
    assert_stored(settings, path, data)
    assert server.log[1].range == f"bytes={MiB + 5}-"


async def test_server_ignoring_range_starts_over(
    server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(2 * MiB)
    server.serve("/m.gguf", data)
    server.script(Fault(drop_after=MiB), Fault(ignore_range=True))
    path = await pull_once(settings, request_for(server, data))
    assert_stored(settings, path, data)
    assert [e.status for e in server.log] == [200, 200]
    assert server.log[1].range is not None


async def test_416_verifies_a_complete_partial(
    server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(MiB)
    resource = server.serve("/m.gguf", data)
    request = request_for(server, data)
    partial = settings.models_dir / ".partial"
    partial.mkdir(parents=True)
    (partial / f"{request.sha256}.part").write_bytes(data)
    meta = {"url": request.url, "validator": {"etag": resource.etag}, "total": len(data)}
    (partial / f"{request.sha256}.json").write_text(json.dumps(meta))
    path = await pull_once(settings, request)
    assert_stored(settings, path, data)
    assert [(e.status, e.bytes_sent) for e in server.log] == [(416, 0)]


async def test_416_for_an_oversized_partial_starts_over(
    server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(MiB)
    server.serve("/m.gguf", data)
    request = request_for(server, data)
    partial = settings.models_dir / ".partial"
    partial.mkdir(parents=True)
    (partial / f"{request.sha256}.part").write_bytes(data + b"junk")
    (partial / f"{request.sha256}.json").write_text(json.dumps({"url": request.url}))
    path = await pull_once(settings, request)
    assert_stored(settings, path, data)
    assert [e.status for e in server.log] == [416, 200]


async def test_remote_change_between_attempts_starts_over(
    server: FaultServer, settings: StoreSettings
) -> None:
    old, new = random_bytes(2 * MiB, 1), random_bytes(2 * MiB, 2)
    server.serve("/m.gguf", old)
    server.script(Fault(drop_after=MiB, replace_with=new))
    path = await pull_once(settings, request_for(server, new))
    assert_stored(settings, path, new)
    _first, second = server.log
    assert second.if_range is not None
    assert (second.status, second.body_start) == (200, 0)  # If-Range did not match


async def test_etag_change_without_if_range_support_starts_over(
    server: FaultServer, settings: StoreSettings
) -> None:
    old, new = random_bytes(2 * MiB, 1), random_bytes(2 * MiB, 2)
    server.serve("/m.gguf", old)
    server.script(Fault(drop_after=MiB, replace_with=new), Fault(ignore_if_range=True))
    path = await pull_once(settings, request_for(server, new))
    assert_stored(settings, path, new)
    assert [e.status for e in server.log] == [200, 206, 200]


async def test_https_to_http_redirect_is_refused(
    tls_server: FaultServer, server: FaultServer, settings: StoreSettings
) -> None:
    server.serve("/m.gguf", b"model")
    tls_server.script(Fault(redirect_to=server.url("/m.gguf")))
    request = request_for(tls_server, b"model")
    with pytest.raises(InsecureUrlError, match=r"redirect from https://.* to http://.* refused"):
        await pull_once(settings, request)
    assert server.log == []


async def test_https_redirect_is_followed(tls_server: FaultServer, settings: StoreSettings) -> None:
    data = random_bytes(MiB)
    tls_server.serve("/real.gguf", data)
    tls_server.script(Fault(redirect_to="/real.gguf"))
    path = await pull_once(settings, request_for(tls_server, data, "/alias"))
    assert_stored(settings, path, data)


async def test_plain_http_needs_allow_http(server: FaultServer, settings: StoreSettings) -> None:
    request = dataclasses.replace(request_for(server, b"model"), allow_http=False)
    store = ModelStore(settings)
    await store.open()
    try:
        with pytest.raises(InsecureUrlError, match="allow_http"):
            store.pull(request)
    finally:
        await store.close()


async def test_stall_is_retried(server: FaultServer, settings: StoreSettings) -> None:
    data = random_bytes(2 * MiB)
    server.serve("/m.gguf", data)
    server.script(Fault(stall_after=MiB, stall_seconds=3.0))
    quick = dataclasses.replace(settings, stall_timeout=0.5)
    path = await pull_once(quick, request_for(server, data))
    assert_stored(quick, path, data)
    assert server.log[1].range == f"bytes={server.log[0].bytes_sent}-"


async def test_hash_mismatch_is_quarantined_and_not_retried(
    server: FaultServer, settings: StoreSettings
) -> None:
    data, wrong = random_bytes(MiB, 1), random_bytes(MiB, 2)
    server.serve("/m.gguf", wrong)
    request = request_for(server, data)
    with pytest.raises(ChecksumMismatchError) as caught:
        await pull_once(settings, request)
    message = str(caught.value)
    assert sha256(data) in message
    assert sha256(wrong) in message
    assert len(server.log) == 1
    assert not (settings.models_dir / f"{sha256(data)}.gguf").exists()
    assert not (settings.models_dir / f"{sha256(wrong)}.gguf").exists()
    sidecars = list((settings.models_dir / "quarantine").glob("*.json"))
    assert len(sidecars) == 1
    record = json.loads(sidecars[0].read_text())
    assert record["expected_sha256"] == sha256(data)
    assert record["actual_sha256"] == sha256(wrong)
    assert record["url"] == request.url
    assert record["size"] == len(wrong)
    assert sidecars[0].with_suffix(".bin").read_bytes() == wrong
    assert caught.value.quarantined == sidecars[0].with_suffix(".bin")


async def test_size_offered_by_server_must_match(
    server: FaultServer, settings: StoreSettings
) -> None:
    server.serve("/m.gguf", b"model")
    request = dataclasses.replace(request_for(server, b"model"), size=999)
    with pytest.raises(IntegrityError, match="offers 5 bytes, expected 999"):
        await pull_once(settings, request)


async def test_not_enough_free_space(server: FaultServer, settings: StoreSettings) -> None:
    server.serve("/m.gguf", b"model")
    request = dataclasses.replace(request_for(server, b"model"), size=1 << 60)
    with pytest.raises(NoSpaceError, match="not enough free space"):
        await pull_once(settings, request)
    assert server.log == []


async def test_two_pulls_share_one_download(server: FaultServer, settings: StoreSettings) -> None:
    data = random_bytes(4 * MiB)
    server.serve("/m.gguf", data)
    server.script(Fault(pause_after=MiB))
    store = ModelStore(settings)
    await store.open()
    try:
        first = store.pull(request_for(server, data))
        second = store.pull(request_for(server, data))
        server.resume.set()
        assert await first.wait() == await second.wait()
        assert second.progress.snapshot.phase is PullPhase.DONE
    finally:
        await store.close()
    assert len(server.log) == 1


async def test_cancel_leaves_a_resumable_partial(
    server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(8 * MiB)
    server.serve("/m.gguf", data)
    server.script(Fault(pause_after=3 * MiB))
    store = ModelStore(settings)
    await store.open()
    seen: list[ProgressSnapshot] = []
    try:
        handle = store.pull(request_for(server, data))
        handle.progress.subscribe(seen.append)
        while handle.progress.snapshot.bytes_done < 2 * MiB:
            await _tick()
        handle.cancel()
        server.resume.set()
        with pytest.raises(PullCancelledError):
            await handle.wait()
        assert handle.progress.snapshot.phase is PullPhase.CANCELLED
    finally:
        await store.close()
    part = settings.models_dir / ".partial" / f"{sha256(data)}.part"
    kept = part.stat().st_size
    assert kept > 0
    assert PullPhase.DOWNLOAD in [s.phase for s in seen]
    path = await pull_once(settings, request_for(server, data))
    assert_stored(settings, path, data)
    assert server.log[-1].body_start == kept


async def test_a_second_owner_is_refused(settings: StoreSettings) -> None:
    first, second = ModelStore(settings), ModelStore(settings)
    await first.open()
    try:
        with pytest.raises(BusyError, match=f"in use by another process \\(pid {os.getpid()}\\)"):
            await second.open()
    finally:
        await first.close()
    await second.open()
    await second.close()


async def test_already_stored_model_is_not_fetched(
    server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(MiB)
    server.serve("/m.gguf", data)
    await pull_once(settings, request_for(server, data))
    path = await pull_once(settings, request_for(server, data))
    assert_stored(settings, path, data)
    assert len(server.log) == 1


async def _tick() -> None:
    await asyncio.sleep(0.01)
