"""Where the store keeps things, and the file primitives that keep them consistent.

    <models_dir>/<sha256>.gguf           verified models only, mode 0644
    <models_dir>/.lock                   held (flock) by the one process that owns the store
    <models_dir>/.partial/<key>.part     bytes of an unfinished download
    <models_dir>/.partial/<key>.json     where they came from (URL, ETag, Last-Modified, size)
    <models_dir>/quarantine/<id>.bin     bytes that failed verification
    <models_dir>/quarantine/<id>.json    why (URL, expected and actual SHA-256, size, time)
    <models_dir>/.verified/<sha256>      when the model's bytes were last hashed and matched

Everything here blocks: call it from a worker thread, never from the event loop.
"""

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hal0d.atomic import write_atomically
from hal0d.errors import BusyError, InvalidArgumentError
from hal0d.modelref import SHA256_FORM, SHA256_PATTERN

MODEL_SUFFIX = ".gguf"
PARTIAL_DIR = ".partial"
QUARANTINE_DIR = "quarantine"
VERIFIED_DIR = ".verified"
LOCK_FILE = ".lock"


def check_sha256(value: str) -> str:
    """Return ``value`` lower-cased if it is a SHA-256 hex digest, else raise."""
    lowered = value.strip().lower()
    if not SHA256_PATTERN.fullmatch(lowered):
        raise InvalidArgumentError(f"{value!r} is not a SHA-256 digest ({SHA256_FORM})")
    return lowered


class Layout:
    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        self.partial_dir = models_dir / PARTIAL_DIR
        self.quarantine_dir = models_dir / QUARANTINE_DIR
        self.lock_path = models_dir / LOCK_FILE
        self.verified_dir = models_dir / VERIFIED_DIR

    def model_path(self, sha256: str) -> Path:
        return self.models_dir / f"{check_sha256(sha256)}{MODEL_SUFFIX}"

    def partial_key(self, sha256: str | None, url: str) -> str:
        """Partials of a known model are named by its hash, others by the hash of the URL."""
        if sha256:
            return check_sha256(sha256)
        return "url-" + hashlib.sha256(url.encode()).hexdigest()

    def partial_path(self, key: str) -> Path:
        return self.partial_dir / f"{key}.part"

    def partial_meta_path(self, key: str) -> Path:
        return self.partial_dir / f"{key}.json"

    def verified_path(self, sha256: str) -> Path:
        return self.verified_dir / check_sha256(sha256)

    def create_dirs(self) -> None:
        private = (self.partial_dir, self.quarantine_dir, self.verified_dir)
        for directory in (self.models_dir, *private):
            directory.mkdir(parents=True, exist_ok=True)
        # Slots run as their own users and read models from here.
        self.models_dir.chmod(0o755)
        for directory in private:
            directory.chmod(0o700)

    def model_digests(self) -> list[str]:
        found = []
        for path in self.models_dir.glob(f"*{MODEL_SUFFIX}"):
            stem = path.name[: -len(MODEL_SUFFIX)]
            if SHA256_PATTERN.fullmatch(stem):
                found.append(stem)
        return found


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old or the new file, never half."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_atomically(path, text.encode("utf-8"))


def read_json(path: Path) -> dict[str, Any] | None:
    """The object in ``path``, or None if it is missing or unreadable (it is only a hint)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def hash_file(
    path: Path, chunk_size: int = 4 << 20, progress: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file; ``progress(n)`` after each block of n bytes."""
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
            size += n
            if progress is not None:
                progress(n)
    return digest.hexdigest(), size


class StoreLock:
    """An exclusive flock on ``<models_dir>/.lock``; the kernel drops it when the owner dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise BusyError(
                f"the model store {self.path.parent} is in use by another process (pid {owner})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
