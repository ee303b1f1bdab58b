"""Hash and write a download in two threads while the network thread keeps receiving.

A loop that receives, hashes and writes in turn runs at the sum of the three costs; here the
three overlap, so a pull runs at the pace of the slowest one. The receiving thread gathers
chunks into batches of about ``BATCH_BYTES`` and hands each batch to both stages through
bounded queues (so memory stays bounded when the disk is slower than the network).

On resume the hasher first reads back the prefix already on disk, while the network is
already delivering the rest. Everything here blocks: run it in a worker thread.
"""

import hashlib
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from hal0d.errors import DownloadError

BATCH_BYTES = 1 << 20
QUEUE_BATCHES = 16

Batch = list[bytes]


class _Stage(threading.Thread):
    """A thread applying ``work`` to each batch; after an error it drains without working."""

    def __init__(self, name: str, work: Callable[[Batch], None]) -> None:
        super().__init__(name=name, daemon=True)
        self._work = work
        self._queue: queue.Queue[Batch | None] = queue.Queue(QUEUE_BATCHES)
        self.error: BaseException | None = None
        self.skip = False  # set on abort: drop batches not yet worked on

    def put(self, batch: Batch | None) -> None:
        self._queue.put(batch)

    def run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self.error is None and not self.skip:
                try:
                    self._work(batch)
                except BaseException as exc:
                    self.error = exc


class Pipeline:
    """Receives the bytes after ``offset`` of ``path``; ``finish`` returns (sha256, size)."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.size = offset
        self._digest = hashlib.sha256()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(self._fd, offset)
            os.lseek(self._fd, offset, os.SEEK_SET)
        except OSError:
            os.close(self._fd)
            raise
        self._pending: Batch = []
        self._pending_bytes = 0
        self._hasher = _Stage("hal0d-hash", self._digest_batch)
        self._writer = _Stage("hal0d-write", self._write_batch)
        self._prefix = offset
        self._hasher.put([])  # first job of the hasher: the prefix already on disk
        self._hasher.start()
        self._writer.start()
        self._closed = False

    def feed(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        self.size += len(chunk)
        if self._pending_bytes >= BATCH_BYTES:
            self._flush()

    def finish(self) -> tuple[str, int]:
        """Wait for both stages, fsync the file; the digest covers the whole file."""
        self._flush()
        self._stop()
        try:
            self._raise_stage_errors()
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
        return self._digest.hexdigest(), self.size

    def abort(self) -> None:
        """Stop; bytes already received are still written so a later attempt resumes there."""
        self._hasher.skip = True
        self._flush()
        self._stop()
        os.close(self._fd)

    def _flush(self) -> None:
        if not self._pending:
            return
        self._raise_stage_errors()
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        self._hasher.put(batch)
        self._writer.put(batch)

    def _stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        for stage in (self._hasher, self._writer):
            stage.put(None)
        for stage in (self._hasher, self._writer):
            stage.join()

    def _raise_stage_errors(self) -> None:
        if self._writer.error is not None:
            raise DownloadError(f"writing {self.path} failed: {self._writer.error}")
        if self._hasher.error is not None:
            raise DownloadError(f"hashing {self.path} failed: {self._hasher.error}")

    def _digest_batch(self, batch: Batch) -> None:
        if self._prefix:
            self._hash_prefix()
        for chunk in batch:
            self._digest.update(chunk)

    def _hash_prefix(self) -> None:
        remaining, self._prefix = self._prefix, 0
        buf = bytearray(4 << 20)
        view = memoryview(buf)
        with self.path.open("rb", buffering=0) as f:
            while remaining:
                n = f.readinto(view[: min(len(buf), remaining)])
                if not n:
                    raise DownloadError(f"{self.path} shrank while it was being read back")
                self._digest.update(view[:n])
                remaining -= n

    def _write_batch(self, batch: Batch) -> None:
        written = os.writev(self._fd, batch)
        total = sum(len(chunk) for chunk in batch)
        if written < total:  # short write: finish the rest the slow way
            rest = b"".join(batch)[written:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]
