"""Receive, write, hash and sync a download at once, each in its own thread.

A loop that receives, hashes and writes in turn runs at the sum of the three costs; here they
overlap, so a pull runs at the pace of the slowest one, which on most machines is the disk.

- The receiving thread gathers chunks into batches of about ``BATCH_BYTES`` and queues them for
  the writer (a bounded queue: memory stays bounded when the disk is slower than the network).
- The writer appends each batch with one ``writev``.
- The hasher reads the file back as it grows, in blocks of ``HASH_BLOCK`` straight from the page
  cache, and hashes each block in one call. It thereby hashes exactly what is in the file —
  including, on resume, the prefix already there, while the writer carries on — and needs the
  GIL once per block.
- The syncer calls ``fdatasync`` after every ``SYNC_BYTES`` hashed, then drops what is hashed and
  on disk from the page cache. The disk (and a VM host's write cache) works from the first
  megabytes instead of all at the final fsync, which is left with little to do, and a
  partial is durable up to the last sync.
- Once the hasher is past a resumed prefix, the writer stays at most ``WINDOW_BYTES`` ahead of
  what is synced and dropped. A pull of any size thus holds a bounded amount of page cache:
  it does not evict everyone else's cached files, and it keeps reusing the pages it just freed
  instead of allocating fresh ones (which costs as much as writing them on a VM).

Everything here blocks: run it in a worker thread.
"""

import hashlib
import os
import queue
import threading
from pathlib import Path

from hal0d.errors import DownloadError
from hal0d.store.boundary import translated

BATCH_BYTES = 1 << 20
QUEUE_BATCHES = 32
HASH_BLOCK = 8 << 20
SYNC_BYTES = 32 << 20
# Must exceed SYNC_BYTES + HASH_BLOCK + a batch, or a writer waiting for room would wait for a
# sync that waits for a hash that waits for the writer.
WINDOW_BYTES = 128 << 20

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
        self._resumed_at = offset
        self._pending: Batch = []
        self._pending_bytes = 0
        self._queue: queue.Queue[Batch | None] = queue.Queue(QUEUE_BATCHES)
        # Guarded by _progress: bytes written, hashed, and settled (synced and dropped from
        # the cache), and which threads have stopped.
        self._progress = threading.Condition()
        self._written = offset
        self._hashed = 0
        self._settled = 0
        self._writing_done = False
        self._hashing_done = False
        self._syncing_done = False
        self._stop_hashing = False
        self._write_error: BaseException | None = None
        self._hash_error: BaseException | None = None
        self._sync_error: BaseException | None = None
        self._digest = hashlib.sha256()
        self._writer = threading.Thread(target=self._write_loop, name="hal0d-write", daemon=True)
        self._hasher = threading.Thread(target=self._hash_loop, name="hal0d-hash", daemon=True)
        self._syncer = threading.Thread(target=self._sync_loop, name="hal0d-sync", daemon=True)
        self._writer.start()
        self._hasher.start()
        self._syncer.start()
        self._closed = False

    def feed(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        self.size += len(chunk)
        if self._pending_bytes >= BATCH_BYTES:
            self._flush()

    def finish(self) -> tuple[str, int]:
        """Wait for the threads, fsync the file; the digest covers the whole file.
        Whatever fails, the threads have stopped and the file is closed on return."""
        try:
            self._flush()
            self._stop()
            self._raise_errors()
            os.fsync(self._fd)
        except OSError as exc:
            raise translated(exc, f"syncing {self.path}") from exc
        finally:
            self._stop()
            self._close()
        return self._digest.hexdigest(), self.size

    def abort(self) -> None:
        """Stop; bytes already received are still written so a later attempt resumes there.
        Never raises: it runs while another error is on its way out."""
        with self._progress:
            self._stop_hashing = True
            self._progress.notify_all()
        try:
            self._flush()
        except DownloadError:
            pass  # a write already failed; that error is the one being raised
        finally:
            self._stop()
            self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

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
        self._syncer.join()

    def _raise_errors(self) -> None:
        for error, doing in (
            (self._write_error, "writing"),
            (self._hash_error, "reading back"),
            (self._sync_error, "syncing"),
        ):
            if error is not None:
                raise translated(error, f"{doing} {self.path}")

    def _write_loop(self) -> None:
        try:
            while (batch := self._queue.get()) is not None:
                if self._write_error is not None:
                    continue  # drain, so the receiving thread never blocks on a full queue
                total = sum(len(chunk) for chunk in batch)
                self._wait_for_room(total)
                try:
                    self._write_batch(batch, total)
                except OSError as exc:
                    self._write_error = exc
                    total = 0
                with self._progress:
                    self._written += total
                    self._progress.notify_all()
        finally:
            with self._progress:
                self._writing_done = True
                self._progress.notify_all()

    def _wait_for_room(self, total: int) -> None:
        """Block while the next batch would put the writer more than a window ahead of what is
        settled."""
        with self._progress:
            while self._window_kept() and self._written + total - self._settled > WINDOW_BYTES:
                self._progress.wait()

    def _window_kept(self) -> bool:
        # Not while the hasher is still in a resumed prefix (the download would wait for it),
        # nor once hashing or syncing has stopped (nothing would settle any more).
        return (
            not self._hashing_done and not self._syncing_done and self._settled >= self._resumed_at
        )

    def _write_batch(self, batch: Batch, total: int) -> None:
        written = os.writev(self._fd, batch)
        if written < total:  # short write: finish the rest the slow way
            rest = memoryview(b"".join(batch))[written:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]

    def _hash_loop(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self._hash_error = exc
            self._hashing_stopped()
            return
        try:
            self._hash_file(fd)
        except (OSError, DownloadError) as exc:
            self._hash_error = exc
        finally:
            os.close(fd)
            self._hashing_stopped()

    def _hash_file(self, fd: int) -> None:
        view = memoryview(bytearray(HASH_BLOCK))
        position = 0
        while True:
            with self._progress:
                while (
                    not self._stop_hashing
                    and not self._writing_done
                    and self._written - position < HASH_BLOCK
                ):
                    self._progress.wait()
                end = self._written
                if self._stop_hashing or (self._writing_done and end == position):
                    return
            while position < end:
                n = os.preadv(fd, [view[: min(end - position, len(view))]], position)
                if n == 0:
                    raise DownloadError(f"{self.path} is shorter than what was written")
                self._digest.update(view[:n])
                position += n
                with self._progress:
                    self._hashed = position
                    self._progress.notify_all()

    def _sync_loop(self) -> None:
        """Every SYNC_BYTES hashed: fdatasync, then drop what is both hashed and on disk."""
        try:
            while True:
                with self._progress:
                    while not self._hashing_done and self._hashed - self._settled < SYNC_BYTES:
                        self._progress.wait()
                    if self._hashing_done:
                        return
                    settled, target = self._settled, self._hashed
                os.fdatasync(self._fd)
                os.posix_fadvise(self._fd, settled, target - settled, os.POSIX_FADV_DONTNEED)
                with self._progress:
                    self._settled = target
                    self._progress.notify_all()
        except OSError as exc:
            self._sync_error = exc
        finally:
            with self._progress:
                self._syncing_done = True
                self._progress.notify_all()

    def _hashing_stopped(self) -> None:
        with self._progress:
            self._hashing_done = True
            self._progress.notify_all()
