"""No file I/O and no hashing of large buffers on the event-loop thread during a pull.

blockbuster replaces blocking functions (os.*, io.*, sockets, locks, time.sleep...) with
versions that raise when called on a thread running an event loop, from hal0d's code. Hashing
is added here: `update` of the hash object type with a buffer of 64 KiB or more.
"""

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from blockbuster import BlockBuster, BlockBusterFunction, BlockingError

from hal0d.store.download import PullRequest
from hal0d.store.layout import hash_file
from hal0d.store.settings import StoreSettings
from hal0d.store.store import ModelStore
from tests.support.faultserver import Fault, FaultServer
from tests.unit.store.conftest import random_bytes, sha256

MiB = 1 << 20
SCANNED = ["hal0d"]  # only calls made from hal0d code count


def _large(_hash: object, data: bytes = b"", *_: object) -> bool:
    return len(data) < 64 << 10  # the predicate says when blocking is fine


@contextmanager
def blocking_detector(scanned: list[str] | None = SCANNED) -> Iterator[BlockBuster]:
    detector = BlockBuster(scanned_modules=scanned)
    hash_type = type(hashlib.sha256())
    detector.functions["hash.update"] = BlockBusterFunction(
        hash_type, "update", scanned_modules=scanned, can_block_predicate=_large
    )
    detector.activate()
    try:
        yield detector
    finally:
        detector.deactivate()


async def test_the_detector_catches_hashing_and_file_io_on_the_loop(tmp_path: Path) -> None:
    target = tmp_path / "blob"
    target.write_bytes(random_bytes(MiB))
    with blocking_detector(), pytest.raises(BlockingError):
        hash_file(target)  # hal0d code reading a file on the loop
    with blocking_detector(scanned=None), pytest.raises(BlockingError, match="update"):
        hashlib.sha256().update(bytes(MiB))
    with blocking_detector(scanned=None):
        hashlib.sha256().update(b"small buffers are fine")


async def test_pull_with_resume_keeps_the_loop_free(
    server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(6 * MiB)
    server.serve("/m.gguf", data)
    server.script(Fault(drop_after=2 * MiB), Fault(status=503))
    request = PullRequest(server.url("/m.gguf"), sha256(data), len(data), allow_http=True)
    with blocking_detector():
        store = ModelStore(settings)
        await store.open()
        try:
            path = await store.pull(request).wait()
            assert await store.scrub(sha256(data))
            report = await store.prune({sha256(data)})
        finally:
            await store.close()
    assert path.read_bytes() == data
    assert report.removed_models == ()
    assert [e.status for e in server.log] == [200, 503, 206]
    assert json.dumps(report.freed_bytes) == "0"
