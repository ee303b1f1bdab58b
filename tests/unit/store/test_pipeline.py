"""The receive/write/hash/sync pipeline on its own, with more bytes than its page-cache window."""

import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal0d.store import pipeline
from hal0d.store.pipeline import WINDOW_BYTES, Pipeline
from tests.unit.store.conftest import random_bytes, sha256

MiB = 1 << 20
PREFIX = 40 * MiB
FED = WINDOW_BYTES + 24 * MiB  # more than the window, so the writer has to wait for the syncer


def chunks(data: bytes, seed: int) -> Iterator[bytes]:
    """``data`` in pieces of uneven sizes, the way a socket hands them over."""
    rng = random.Random(seed)  # noqa: S311
    position = 0
    while position < len(data):
        size = rng.randint(1, 3 * MiB)
        yield data[position : position + size]
        position += size


class Recorder:
    """Wraps os.writev, os.fdatasync and os.posix_fadvise to see what the pipeline asks of the
    kernel (the calls still happen), with each sync made slower, as on a slow disk."""

    def __init__(self) -> None:
        self._writev = os.writev
        self._fdatasync = os.fdatasync
        self._posix_fadvise = os.posix_fadvise
        self._lock = threading.Lock()
        self.syncs = 0
        self.dropped: list[tuple[int, int]] = []
        self.dropped_end = 0
        self.largest_lead = 0  # bytes written beyond what was synced and dropped

    def writev(self, fd: int, buffers: list[bytes]) -> int:
        written = self._writev(fd, buffers)
        end = os.lseek(fd, 0, os.SEEK_CUR)
        with self._lock:
            self.largest_lead = max(self.largest_lead, end - self.dropped_end)
        return written

    def fdatasync(self, fd: int) -> None:
        time.sleep(0.01)
        self._fdatasync(fd)
        with self._lock:
            self.syncs += 1

    def posix_fadvise(self, fd: int, offset: int, length: int, advice: int) -> None:
        self._posix_fadvise(fd, offset, length, advice)
        if advice == os.POSIX_FADV_DONTNEED:
            with self._lock:
                self.dropped.append((offset, length))
                self.dropped_end = max(self.dropped_end, offset + length)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recording = Recorder()
    monkeypatch.setattr(pipeline.os, "writev", recording.writev)
    monkeypatch.setattr(pipeline.os, "fdatasync", recording.fdatasync)
    monkeypatch.setattr(pipeline.os, "posix_fadvise", recording.posix_fadvise)
    return recording


def test_the_writer_stays_within_a_window_of_synced_and_dropped_bytes(
    tmp_path: Path, recorder: Recorder
) -> None:
    data = random_bytes(FED, seed=7)
    part = tmp_path / "model.part"

    receiving = Pipeline(part, 0)
    for chunk in chunks(data, seed=8):
        receiving.feed(chunk)
    digest, size = receiving.finish()

    assert (digest, size) == (sha256(data), len(data))
    assert part.read_bytes() == data
    # Synced and dropped from the cache while the bytes came in, as one contiguous run from
    # byte 0, and the writer never got more than the window ahead of it.
    assert recorder.syncs >= 1
    assert recorder.largest_lead <= WINDOW_BYTES
    assert recorder.dropped[0][0] == 0
    for (offset, length), (following, _) in zip(
        recorder.dropped, recorder.dropped[1:], strict=False
    ):
        assert offset + length == following
    last_offset, last_length = recorder.dropped[-1]
    assert len(data) - WINDOW_BYTES <= last_offset + last_length <= len(data)


def test_resume_hashes_the_prefix_already_there(tmp_path: Path) -> None:
    data = random_bytes(PREFIX + 24 * MiB, seed=12)
    part = tmp_path / "model.part"
    part.write_bytes(data[:PREFIX])

    receiving = Pipeline(part, PREFIX)
    for chunk in chunks(data[PREFIX:], seed=13):
        receiving.feed(chunk)

    assert receiving.finish() == (sha256(data), len(data))
    assert part.read_bytes() == data


def test_abort_keeps_every_byte_received(tmp_path: Path) -> None:
    data = random_bytes(20 * MiB, seed=9)
    part = tmp_path / "model.part"

    receiving = Pipeline(part, 0)
    for chunk in chunks(data, seed=10):
        receiving.feed(chunk)
    receiving.abort()

    assert part.read_bytes() == data


def test_an_empty_tail_verifies_what_is_there(tmp_path: Path) -> None:
    data = random_bytes(3 * MiB + 5, seed=11)
    part = tmp_path / "model.part"
    part.write_bytes(data)

    assert Pipeline(part, len(data)).finish() == (sha256(data), len(data))
