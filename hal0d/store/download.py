"""One model download, start to finish, in a worker thread: attempts, resume, verification.

Each attempt asks for the bytes after what the partial file already holds (``Range``), and
only if the remote file is still the one those bytes came from (``If-Range`` with the saved
ETag or Last-Modified). ``206`` continues; ``200`` starts over; ``416`` means the partial may
already be complete, so it is verified. Transient failures are retried with bounded
exponential backoff and jitter, always from the original URL. An attempt that reached the
speed limit on average resets the failure count, however it ended; one that did not counts as
a failure even if it gained bytes (`hal0d.store.pace`). Everything received is written and
counts for the next attempt. Everything here blocks: it runs in a thread, never on the loop.
"""

import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from hal0d.atomic import fsync_dir
from hal0d.config.sizes import format_rate, format_size
from hal0d.errors import DownloadError, IntegrityError
from hal0d.store import http
from hal0d.store.abort import Abort
from hal0d.store.boundary import edge
from hal0d.store.credentials import OriginToken
from hal0d.store.errors import (
    ChecksumMismatchError,
    InsecureUrlError,
    NoSpaceError,
    OverlongBodyError,
    PullCancelledError,
)
from hal0d.store.layout import Layout, read_json, write_json_atomic
from hal0d.store.pace import attempt_ok
from hal0d.store.pipeline import Pipeline
from hal0d.store.progress import PullPhase
from hal0d.store.quarantine import QuarantineRecord, quarantine_file
from hal0d.store.settings import StoreSettings, backoff_cap
from hal0d.store.transport import ABORT_EXTENSION, PACE_EXTENSION, READ_BYTES
from hal0d.store.verified import record_verified

log = logging.getLogger(__name__)

MAX_START_OVERS = 3

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
    slot: str = ""  # the slot that asked for it, for messages
    tokens: tuple[OriginToken, ...] = ()  # credentials for one origin each (hf_token_file)

    @property
    def label(self) -> str:
        """Who wants what, for messages: "qwen for slot 'chat'", "slot 'chat'"."""
        parts = [self.name] if self.name and self.name != self.slot else []
        if self.slot:
            parts.append(f"slot {self.slot!r}")
        return " for ".join(parts) or self.url


@dataclass(frozen=True)
class TransferHooks:
    """How a transfer talks back: progress reports, and the abort that cancels it."""

    report: Reporter
    cancel: Abort


class _StartOver(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The partial cannot be continued (remote changed, bad range): discard it and retry."""


def backoff_delay(failures: int, settings: StoreSettings, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [cap/2, cap], cap doubling up to the max."""
    cap = backoff_cap(failures, settings)
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
        self._last_hop = request.url
        self._gained = 0  # bytes received by the current attempt

    def run(self) -> Path:
        """The verified model's path; only exceptions of hal0d's tree leave here."""
        with edge(f"pulling {self.request.label} from {self.request.url}"):
            return self._run()

    def _run(self) -> Path:
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
        rule = self.settings.speed_rule
        while True:
            self._check_cancel()
            started, self._gained = time.monotonic(), 0
            try:
                return self._attempt(client)
            except _StartOver as exc:
                start_overs += 1
                if start_overs > MAX_START_OVERS:
                    raise DownloadError(
                        f"{self.request.label}: gave up after {start_overs} restarts"
                        f" ({self._where()}): {exc}"
                    ) from None
                log.info("%s: starting over: %s", self.request.label, exc)
                self._discard_partial()
            except OverlongBodyError as exc:
                self._discard_partial()  # its framing was wrong: trust none of it
                raise OverlongBodyError(f"{self.request.label}: {exc}") from None
            except (http.TransientError, httpx.TransportError) as exc:
                self._check_cancel()
                self._raise_if_permanent(exc)
                seconds = time.monotonic() - started
                ok = attempt_ok(rule, self._gained, seconds)
                failures = 0 if ok else failures + 1
                if failures > self.settings.retries:
                    raise DownloadError(self._give_up(failures, seconds, exc)) from None
                delay = backoff_delay(failures, self.settings, self._rng)
                log.warning(
                    "%s: attempt failed (%s); retrying in %.2f s",
                    self.request.label,
                    _describe(exc),
                    delay,
                )
                if self._cancel.wait(delay):
                    self._check_cancel()

    def _give_up(self, failures: int, seconds: float, exc: BaseException) -> str:
        rule = self.settings.speed_rule
        if rule.speed_limit > 0:
            rate = format_rate(self._gained / seconds if seconds > 0 else 0.0)
            below = f"below the speed limit of {rule.describe_limit()}; the last averaged {rate}"
        else:
            below = "without progress"
        return (
            f"{self.request.label}: giving up after {failures} attempts in a row {below}"
            f" ({self._where()}): {_describe(exc)}"
        )

    def _raise_if_permanent(self, exc: Exception) -> None:
        if isinstance(exc, httpx.UnsupportedProtocol):
            raise DownloadError(f"{self.request.label}: {self._where()}: {exc}") from exc
        if http.is_certificate_error(exc):
            raise DownloadError(
                f"{self.request.label}: {self._where()}: the server's TLS certificate is not"
                f" trusted (ca_file adds a private CA): {exc}"
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
        extensions = {PACE_EXTENSION: self.settings.speed_rule, ABORT_EXTENSION: self._cancel}
        try:
            response = http.open_stream(
                client,
                self.request.url,
                headers,
                self.request.allow_http,
                extensions,
                tokens=self.request.tokens,
            )
        except InsecureUrlError as exc:
            raise InsecureUrlError(f"{self.request.label}: {exc}") from None
        with contextlib.closing(response) as r:
            self._last_hop = str(r.url)
            http.raise_for_status(r, f"{self.request.label}: {self._where()}")
            if r.status_code == 416:
                return self._after_416(r, offset)
            offset, total = self._start_point(r, offset, saved)
            encoding = r.headers.get("content-encoding", "identity").lower()
            if encoding != "identity":
                raise DownloadError(
                    f"{self.request.label}: {self._where()} was sent with Content-Encoding"
                    f" {encoding} although identity was asked for"
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
        length = http.content_length(response)
        if response.status_code == 200:
            if offset:
                log.info("%s: server sent the whole file; starting over", self.request.label)
            return 0, length
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
        # A body of unknown length (chunked) stops one block past the size expected.
        limit = total if total is not None else self.request.size
        pipeline = Pipeline(self.part, offset)
        reported = offset
        try:
            for chunk in response.iter_raw():
                pipeline.feed(chunk)
                self._gained += len(chunk)
                if limit is not None and pipeline.size > limit:
                    break
                if pipeline.size - reported >= READ_BYTES:
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
        if self.request.size is not None and size > self.request.size:
            self._quarantine(
                digest, size, f"more than the expected {format_size(self.request.size)} sent"
            )
        if expected and digest != expected.lower():
            self._quarantine(digest, size, "checksum mismatch")
        if self.request.size is not None and size != self.request.size:
            self._quarantine(digest, size, f"size {size}, expected {self.request.size}")
        final = self.layout.model_path(digest)
        self.part.chmod(0o644)
        self.part.replace(final)
        fsync_dir(self.layout.models_dir)
        record_verified(self.layout, digest, time.time())
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
            f" got {digest} ({format_size(size)} from {self._where()}); {kept}"
        )
        if reason == "checksum mismatch":
            raise ChecksumMismatchError(message, expected, digest, where)
        raise IntegrityError(message)

    def _check_expected_size(self, total: int | None) -> None:
        if total is not None and self.request.size is not None and total != self.request.size:
            raise IntegrityError(
                f"{self.request.label}: {self._where()} offers {format_size(total)},"
                f" expected {format_size(self.request.size)}"
            )

    def _check_space(self, needed: int) -> None:
        stat = os.statvfs(self.layout.models_dir)
        free = stat.f_bavail * stat.f_frsize
        margin = self.settings.free_space_margin
        if needed + margin > free:
            raise NoSpaceError(
                f"{self.request.label}: not enough free space in {self.layout.models_dir}"
                f" for {self.request.url}: {format_size(needed)} to download plus"
                f" {format_size(margin)} kept free, {format_size(free)} available"
            )

    def _where(self) -> str:
        """The URL, and where redirects led if they did."""
        if self._last_hop != self.request.url:
            return f"{self.request.url} (redirected to {self._last_hop})"
        return self.request.url

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
                f"pull of {self.request.label} cancelled; {format_size(self._partial_size())}"
                " kept to resume from"
            )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
