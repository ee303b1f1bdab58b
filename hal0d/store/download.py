"""One model download, start to finish, in a worker thread: attempts, resume, verification.

Each attempt asks for the bytes after what the partial file already holds (``Range``), and
only if the remote file is still the one those bytes came from (``If-Range`` with the saved
ETag or Last-Modified). ``206`` continues; ``200`` starts over; ``416`` means the partial may
already be complete, so it is verified. Transient failures are retried with bounded
exponential backoff and jitter, always from the original URL; the failure count resets when
an attempt made progress. Everything here blocks: it runs in a thread, never on the loop.
"""

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from hal0d.atomic import fsync_dir
from hal0d.errors import DownloadError, IntegrityError
from hal0d.store import http
from hal0d.store.errors import ChecksumMismatchError, NoSpaceError, PullCancelledError
from hal0d.store.layout import Layout, read_json, write_json_atomic
from hal0d.store.pipeline import Pipeline
from hal0d.store.progress import PullPhase
from hal0d.store.quarantine import QuarantineRecord, quarantine_file
from hal0d.store.settings import StoreSettings

log = logging.getLogger(__name__)

MAX_START_OVERS = 3
VERIFY_MODES = ("signature", "checksum", "no")

# (phase or None to keep it, bytes done, bytes total or 0): called from the worker thread.
Reporter = Callable[[PullPhase | None, int, int], None]


@dataclass(frozen=True)
class PullRequest:
    url: str
    sha256: str | None
    size: int | None
    allow_http: bool = False
    verify: str = "checksum"  # "signature" (catalog was signed) | "checksum" | "no"
    name: str = ""  # catalog entry or slot, for messages

    @property
    def label(self) -> str:
        return self.name or self.url


@dataclass(frozen=True)
class TransferHooks:
    """How a transfer talks back: progress reports and the cancel flag it polls."""

    report: Reporter
    cancel: threading.Event


class _StartOver(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The partial cannot be continued (remote changed, bad range): discard it and retry."""


def backoff_delay(failures: int, settings: StoreSettings, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [cap/2, cap], cap doubling up to the max."""
    cap = min(settings.backoff_max, settings.backoff_initial * (2 ** max(failures - 1, 0)))
    return rng.uniform(cap / 2, cap)


class Transfer:
    def __init__(
        self,
        request: PullRequest,
        settings: StoreSettings,
        client_factory: http.ClientFactory,
        hooks: TransferHooks,
    ) -> None:
        self.request = request
        self.settings = settings
        self.layout = layout = Layout(settings.models_dir)
        self._client_factory = client_factory
        self._report = hooks.report
        self._cancel = hooks.cancel
        self._key = layout.partial_key(request.sha256, request.url)
        self.part = layout.partial_path(self._key)
        self.meta_path = layout.partial_meta_path(self._key)
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography

    def run(self) -> Path:
        if self.request.sha256:
            final = self.layout.model_path(self.request.sha256)
            if final.exists():
                size = final.stat().st_size
                self._report(PullPhase.DONE, size, size)
                return final
        if self.request.size is not None:
            self._check_space(self.request.size - self._partial_size())
        with self._client_factory() as client:
            return self._attempts(client)

    def _attempts(self, client: httpx.Client) -> Path:
        failures = 0
        start_overs = 0
        while True:
            self._check_cancel()
            before = self._partial_size()
            try:
                return self._attempt(client)
            except _StartOver as exc:
                start_overs += 1
                if start_overs > MAX_START_OVERS:
                    raise DownloadError(
                        f"{self.request.label}: gave up after {start_overs} restarts: {exc}"
                    ) from None
                log.info("%s: starting over: %s", self.request.label, exc)
                self._discard_partial()
            except (http.TransientError, httpx.TransportError) as exc:
                self._raise_if_permanent(exc)
                failures = 0 if self._partial_size() > before else failures + 1
                if failures > self.settings.retries:
                    raise DownloadError(
                        f"{self.request.label}: giving up after {failures} attempts without"
                        f" progress: {_describe(exc)}"
                    ) from None
                delay = backoff_delay(failures, self.settings, self._rng)
                log.warning(
                    "%s: attempt failed (%s); retrying in %.2f s",
                    self.request.label,
                    _describe(exc),
                    delay,
                )
                if self._cancel.wait(delay):
                    self._check_cancel()

    def _raise_if_permanent(self, exc: Exception) -> None:
        if isinstance(exc, httpx.UnsupportedProtocol):
            raise DownloadError(f"{self.request.url}: {exc}") from exc
        if http.is_certificate_error(exc):
            raise DownloadError(
                f"{self.request.url}: the server's TLS certificate is not trusted: {exc}"
            ) from exc

    def _attempt(self, client: httpx.Client) -> Path:
        offset = self._partial_size()
        saved = read_json(self.meta_path) or {}
        if offset and saved.get("url") != self.request.url:
            raise _StartOver("the partial file has no record of where it came from")
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if if_range := http.if_range_value(saved.get("validator", {})):
                headers["If-Range"] = if_range
        response = http.open_stream(client, self.request.url, headers, self.request.allow_http)
        with contextlib.closing(response) as r:
            http.raise_for_status(r, self.request.url)
            if r.status_code == 416:
                return self._after_416(r, offset)
            offset, total = self._start_point(r, offset, saved)
            encoding = r.headers.get("content-encoding", "identity").lower()
            if encoding != "identity":
                raise DownloadError(
                    f"{self.request.url} was sent with Content-Encoding {encoding}"
                    " although identity was asked for"
                )
            self._check_expected_size(total)
            if total is not None:
                self._check_space(total - offset)
            write_json_atomic(
                self.meta_path,
                {"url": self.request.url, "validator": http.validator(r), "total": total},
            )
            digest, size = self._receive(r, offset, total)
        if total is not None and size != total:
            raise http.TransientError(f"connection closed at {size} of {total} bytes")
        return self._finalize(digest, size)

    def _start_point(
        self, response: httpx.Response, offset: int, saved: dict[str, object]
    ) -> tuple[int, int | None]:
        """The offset this response continues from and the file's total size (if known)."""
        length = response.headers.get("content-length")
        if response.status_code == 200:
            if offset:
                log.info("%s: server sent the whole file; starting over", self.request.label)
            return 0, int(length) if length else None
        content_range = http.parse_content_range(response.headers.get("content-range"))
        if content_range is None or content_range.start != offset:
            raise _StartOver(f"unusable Content-Range {response.headers.get('content-range')!r}")
        old = saved.get("validator")
        new = http.validator(response)
        if isinstance(old, dict) and old.get("etag") and new.get("etag") != old.get("etag"):
            raise _StartOver("the remote file changed (ETag differs)")
        return offset, content_range.total

    def _after_416(self, response: httpx.Response, offset: int) -> Path:
        content_range = http.parse_content_range(response.headers.get("content-range"))
        total = content_range.total if content_range else None
        if offset and (total == offset or (total is None and offset == self.request.size)):
            self._report(PullPhase.VERIFY, offset, offset)
            pipeline = Pipeline(self.part, offset)
            digest, size = pipeline.finish()
            return self._finalize(digest, size)
        raise _StartOver(f"server refused the range from byte {offset} (HTTP 416)")

    def _receive(self, response: httpx.Response, offset: int, total: int | None) -> tuple[str, int]:
        self._report(PullPhase.DOWNLOAD, offset, total or 0)
        pipeline = Pipeline(self.part, offset)
        reported = offset
        try:
            for chunk in response.iter_raw():
                pipeline.feed(chunk)
                if pipeline.size - reported >= 1 << 20:
                    self._check_cancel()
                    reported = pipeline.size
                    self._report(None, reported, total or 0)
        except BaseException:
            pipeline.abort()
            raise
        self._check_cancel_then_abort(pipeline)
        digest, size = pipeline.finish()
        self._report(PullPhase.VERIFY, size, total or size)
        return digest, size

    def _check_cancel_then_abort(self, pipeline: Pipeline) -> None:
        if self._cancel.is_set():
            pipeline.abort()
            self._check_cancel()

    def _finalize(self, digest: str, size: int) -> Path:
        expected = self.request.sha256
        if expected and digest != expected.lower():
            self._quarantine(digest, size, "checksum mismatch")
        if self.request.size is not None and size != self.request.size:
            self._quarantine(digest, size, f"size {size}, expected {self.request.size}")
        final = self.layout.model_path(digest)
        self.part.chmod(0o644)
        self.part.replace(final)
        fsync_dir(self.layout.models_dir)
        with contextlib.suppress(FileNotFoundError):
            self.meta_path.unlink()
        self._report(PullPhase.DONE, size, size)
        return final

    def _quarantine(self, digest: str, size: int, reason: str) -> None:
        self._report(PullPhase.QUARANTINE, size, size)
        expected = (self.request.sha256 or "").lower()
        record = QuarantineRecord(
            url=self.request.url,
            name=self.request.name,
            expected_sha256=expected,
            actual_sha256=digest,
            size=size,
            time=time.time(),
            reason=reason,
        )
        where = quarantine_file(
            self.part, self.layout.quarantine_dir, record, self.settings.quarantine_max_bytes
        )
        with contextlib.suppress(FileNotFoundError):
            self.meta_path.unlink()
        kept = f"kept in {where}" if where else "dropped: larger than the quarantine bound"
        message = (
            f"{self.request.label}: {reason}: expected SHA-256 {expected or '(any)'},"
            f" got {digest} ({size} bytes from {self.request.url}); {kept}"
        )
        if reason == "checksum mismatch":
            raise ChecksumMismatchError(message, expected, digest, where)
        raise IntegrityError(message)

    def _check_expected_size(self, total: int | None) -> None:
        if total is not None and self.request.size is not None and total != self.request.size:
            raise IntegrityError(
                f"{self.request.label}: {self.request.url} offers {total} bytes,"
                f" expected {self.request.size}"
            )

    def _check_space(self, needed: int) -> None:
        stat = os.statvfs(self.layout.models_dir)
        free = stat.f_bavail * stat.f_frsize
        if needed + self.settings.free_space_margin > free:
            raise NoSpaceError(
                f"{self.request.label}: not enough free space in {self.layout.models_dir}:"
                f" {needed} bytes to download plus {self.settings.free_space_margin} kept free,"
                f" {free} available"
            )

    def _partial_size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def _discard_partial(self) -> None:
        for path in (self.part, self.meta_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise PullCancelledError(
                f"pull of {self.request.label} cancelled; {self._partial_size()} bytes kept"
                " to resume from"
            )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
