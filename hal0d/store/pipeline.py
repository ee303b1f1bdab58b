"""Write a download in one thread and hash it in another while the network thread receives.

A loop that receives, hashes and writes in turn runs at the sum of the three costs; here the
three overlap, so a pull runs at the pace of the slowest one.

- The receiving thread gathers chunks into batches of about ``BATCH_BYTES`` and queues them for
  the writer (a bounded queue: memory stays bounded when the disk is slower than the network).
- The writer appends each batch with one ``writev``.
- The hasher reads the file back as it grows, in blocks of ``HASH_BLOCK`` straight from the page
  cache, and hashes each block in one call. It thereby hashes exactly what is in the file —
  including, on resume, the prefix already there — and, unlike hashing each received chunk,
  it needs the GIL once per block rather than once per 64 KiB, which keeps it from stalling
  the receiving thread. Once a block is hashed the hasher starts its writeback, so the disk
  works while the network does and the final fsync finds little left to do.

Everything here blocks: run it in a worker thread.
"""

import hashlib
import os
import queue
import threading
from pathlib import Path

from hal0d.errors import DownloadError

BATCH_BYTES = 1 << 20
QUEUE_BATCHES = 32
HASH_BLOCK = 8 << 20

Batch = list[bytes]


class Pipeline:
    """Receives the bytes after ``offset`` of ``path``; ``finish`` returns (sha256, size)."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.size = offset
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(self._fd, offset)
            os.lseek(self._fd, offset, os.SEEK_SET)
        except OSError:
            os.close(self._fd)
            raise
        self._pending: Batch = []
        self._pending_bytes = 0
        self._queue: queue.Queue[Batch | None] = queue.Queue(QUEUE_BATCHES)
        self._written = offset  # guarded by _grown
        self._writing_done = False
        self._grown = threading.Condition()
        self._stop_hashing = False
        self._write_error: BaseException | None = None
        self._hash_error: BaseException | None = None
        self._digest = hashlib.sha256()
        self._writer = threading.Thread(target=self._write_loop, name="hal0d-write", daemon=True)
        self._hasher = threading.Thread(target=self._hash_loop, name="hal0d-hash", daemon=True)
        self._writer.start()
        self._hasher.start()
        self._closed = False

    def feed(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        self.size += len(chunk)
        if self._pending_bytes >= BATCH_BYTES:
            self._flush()

    def finish(self) -> tuple[str, int]:
        """Wait for both threads, fsync the file; the digest covers the whole file."""
        self._flush()
        self._stop()
        try:
            self._raise_errors()
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
        return self._digest.hexdigest(), self.size

    def abort(self) -> None:
        """Stop; bytes already received are still written so a later attempt resumes there."""
        self._stop_hashing = True
        self._flush()
        self._stop()
        os.close(self._fd)

    def _flush(self) -> None:
        if not self._pending:
            return
        self._raise_errors()
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        self._queue.put(batch)

    def _stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join()
        self._hasher.join()

    def _raise_errors(self) -> None:
        if self._write_error is not None:
            raise DownloadError(f"writing {self.path} failed: {self._write_error}")
        if self._hash_error is not None:
            raise DownloadError(f"reading back {self.path} failed: {self._hash_error}")

    def _write_loop(self) -> None:
        try:
            while (batch := self._queue.get()) is not None:
                if self._write_error is not None:
                    continue  # drain, so the receiving thread never blocks on a full queue
                try:
                    total = self._write_batch(batch)
                except OSError as exc:
                    self._write_error = exc
                    total = 0
                with self._grown:
                    self._written += total
                    self._grown.notify()
        finally:
            with self._grown:
                self._writing_done = True
                self._grown.notify()

    def _write_batch(self, batch: Batch) -> int:
        written = os.writev(self._fd, batch)
        total = sum(len(chunk) for chunk in batch)
        if written < total:  # short write: finish the rest the slow way
            rest = memoryview(b"".join(batch))[written:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]
        return total

    def _hash_loop(self) -> None:
        view = memoryview(bytearray(HASH_BLOCK))
        position = 0
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self._hash_error = exc
            return
        try:
            while True:
                with self._grown:
                    while not self._writing_done and self._written - position < HASH_BLOCK:
                        self._grown.wait()
                    end = self._written
                if self._stop_hashing or (self._writing_done and end == position):
                    return
                position = self._hash_range(fd, view, position, end)
        except (OSError, DownloadError) as exc:
            self._hash_error = exc
        finally:
            os.close(fd)

    def _hash_range(self, fd: int, view: memoryview, position: int, end: int) -> int:
        while position < end:
            n = os.preadv(fd, [view[: min(end - position, len(view))]], position)
            if n == 0:
                raise DownloadError(f"{self.path} is shorter than what was written")
            self._digest.update(view[:n])
            # Hashed: start writing these pages to disk now, without waiting, so the final
            # fsync finds little left. (Python has no sync_file_range; on Linux DONTNEED starts
            # writeback of dirty pages and drops only pages that are already clean.)
            os.posix_fadvise(fd, position, n, os.POSIX_FADV_DONTNEED)
            position += n
        return position
