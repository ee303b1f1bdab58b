"""Quarantine bound, prune and scrub on a real store directory."""

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from hal0d.config.model import GlobalConfig
from hal0d.errors import BusyError, InvalidArgumentError, NoModelError
from hal0d.store.download import PullRequest
from hal0d.store.layout import Layout
from hal0d.store.quarantine import QuarantineRecord, entries, quarantine_file
from hal0d.store.settings import StoreSettings, settings_from_config
from hal0d.store.store import ModelStore
from tests.support.faultserver import Fault, FaultServer
from tests.unit.store.conftest import random_bytes, sha256


def record(actual: str, size: int, when: float) -> QuarantineRecord:
    return QuarantineRecord("https://x/m", "m", "0" * 64, actual, size, when, "test")


def test_quarantine_bound_drops_oldest_first(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.create_dirs()
    for index in range(4):
        blob = tmp_path / f"blob{index}"
        blob.write_bytes(bytes([index]) * 1000)
        quarantine_file(blob, layout.quarantine_dir, record(f"{index:064x}", 1000, index), 2500)
    kept = entries(layout.quarantine_dir)
    assert [data["actual_sha256"] for _, data in kept] == [f"{2:064x}", f"{3:064x}"]
    assert all(path.read_bytes()[:1] in (b"\x02", b"\x03") for path, _ in kept)
    assert len(list(layout.quarantine_dir.iterdir())) == 4  # two .bin + two .json


def test_an_entry_larger_than_the_bound_is_dropped(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.create_dirs()
    blob = tmp_path / "blob"
    blob.write_bytes(b"x" * 100)
    assert quarantine_file(blob, layout.quarantine_dir, record("a" * 64, 100, 1.0), 10) is None
    assert list(layout.quarantine_dir.iterdir()) == []


async def test_prune_never_removes_a_referenced_model(
    server: FaultServer, settings: StoreSettings
) -> None:
    used, unused = random_bytes(1000, 1), random_bytes(1000, 2)
    server.serve("/used", used)
    server.serve("/unused", unused)
    store = ModelStore(settings)
    await store.open()
    try:
        for path, data in (("/used", used), ("/unused", unused)):
            request = PullRequest(server.url(path), sha256(data), len(data), allow_http=True)
            await store.pull(request).wait()
        partials = settings.models_dir / ".partial"
        old = partials / ("url-" + "1" * 60 + ".part")
        fresh = partials / ("url-" + "2" * 60 + ".part")
        for part in (old, fresh):
            part.write_bytes(b"partial")
        stale = time.time() - settings.partial_max_age - 10
        os.utime(old, (stale, stale))
        report = await store.prune({sha256(used): "used by slot chat (configured)"})
        assert report.removed_models == (sha256(unused),)
        assert report.removed_partials == (old.stem,)
        assert report.freed_bytes == 1000 + len(b"partial")
        assert {(e.item, e.size, e.why.split(":")[0]) for e in report.entries} == {
            (sha256(used), 1000, "kept"),
            (sha256(unused), 1000, "removed"),
            (old.name, len(b"partial"), "removed"),
            (fresh.name, len(b"partial"), "kept"),
        }
        why = {e.item: e.why for e in report.entries}
        assert why[sha256(used)] == "kept: used by slot chat (configured)"
        assert why[fresh.name].startswith("kept: touched less than partial_max_age (1h) ago")
        assert why[old.name].startswith("removed: a partial download untouched for 1h")
        assert store.has(sha256(used))
        assert not store.has(sha256(unused))
        assert fresh.exists()
        assert not old.exists()
    finally:
        await store.close()


async def test_scrub_quarantines_a_damaged_model(
    server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(4096)
    server.serve("/m", data)
    store = ModelStore(settings)
    await store.open()
    try:
        request = PullRequest(server.url("/m"), sha256(data), len(data), allow_http=True)
        path = await store.pull(request).wait()
        assert await store.scrub(sha256(data))
        with path.open("r+b") as f:
            f.write(b"\xff")
        assert not await store.scrub(sha256(data))
        assert not path.exists()
        (sidecar,) = (settings.models_dir / "quarantine").glob("*.json")
        saved = json.loads(sidecar.read_text())
        assert saved["expected_sha256"] == sha256(data)
        assert saved["actual_sha256"] == sha256(b"\xff" + data[1:])
        assert not await store.scrub(sha256(data))  # missing now
    finally:
        await store.close()


async def test_delete_removes_one_model_and_refuses_what_it_cannot(
    server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(4096)
    server.serve("/m", data)
    store = ModelStore(settings)
    await store.open()
    try:
        request = PullRequest(server.url("/m"), sha256(data), len(data), allow_http=True)
        server.script(Fault(pause_after=1000))
        handle = store.pull(request)
        assert await asyncio.to_thread(server.paused.wait, 5)
        with pytest.raises(BusyError, match="being pulled; cancel the pull first"):
            await store.delete(sha256(data))  # not stored yet, but a pull of it runs
        server.resume.set()
        await handle.wait()
        (listed,) = await store.models()
        assert (listed.sha256, listed.size) == (sha256(data), len(data))
        assert abs(listed.last_verified - time.time()) < 60  # the pull verified it
        assert await store.delete(sha256(data)) == len(data)
        assert not store.has(sha256(data))
        assert await store.models() == []
        assert not list((settings.models_dir / ".verified").iterdir())
        with pytest.raises(NoModelError, match="not in the store"):
            await store.delete(sha256(data))
        with pytest.raises(InvalidArgumentError):
            await store.delete("x" * 64)
    finally:
        await store.close()


def test_settings_from_config() -> None:
    config = GlobalConfig(
        models_dir=Path("/m"),
        state_dir=Path("/s"),
        quarantine_max_bytes=5,
        partial_max_age=6.0,
        stall_timeout=7.0,
    )
    settings = settings_from_config(config)
    assert (settings.models_dir, settings.state_dir) == (Path("/m"), Path("/s"))
    assert (settings.quarantine_max_bytes, settings.partial_max_age) == (5, 6.0)
    assert settings.stall_timeout == 7.0
