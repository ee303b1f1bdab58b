"""ModelStore: the facade the daemon uses to pull, check and prune models.

All methods are called on the event loop; every file operation and the whole transfer run in
worker threads. Two pulls of one model share one download: each caller gets its own
`PullHandle` (own progress, own cancel), and the download stops only when every handle that
joined it has cancelled.
"""

import asyncio
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from hal0d.errors import BusyError, Hal0Error, InvalidArgumentError
from hal0d.modelref import VERIFY_MODES
from hal0d.store import http
from hal0d.store.abort import Abort
from hal0d.store.boundary import edge
from hal0d.store.download import PullRequest, Transfer, TransferHooks
from hal0d.store.errors import InsecureUrlError, PullCancelledError
from hal0d.store.layout import Layout, StoreLock, check_sha256
from hal0d.store.progress import Progress, ProgressSnapshot, PullPhase
from hal0d.store.prune import PruneReport, delete_model, prune
from hal0d.store.scrub import Damage, check_models, scrub
from hal0d.store.settings import StoreSettings
from hal0d.store.verified import StoredModel, stored_models

log = logging.getLogger(__name__)
T = TypeVar("T")


async def _in_thread(name: str, func: Callable[[], T]) -> T:
    """Run ``func`` in its own thread (not the shared executor: pulls are long)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = func()
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


class PullHandle:
    """One caller's view of a pull: its progress, its result, its cancel."""

    def __init__(self, download: "_Download") -> None:
        self._download = download
        self.progress = Progress()
        self._result: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        self._unsubscribe = download.progress.subscribe(self._mirror)
        self._mirror(download.progress.snapshot)

    async def wait(self) -> Path:
        """The verified model's path. Raises DownloadError, IntegrityError (and subclasses);
        `PullCancelledError` once this handle was cancelled. Cancelling the awaiting task
        cancels this handle."""
        try:
            return await asyncio.shield(self._result)
        except asyncio.CancelledError:
            if not self._result.done():
                self.cancel()
            raise

    def cancel(self) -> None:
        """Leave the pull; the partial stays for a later pull to resume."""
        if self._result.done():
            return
        self._unsubscribe()
        label = self._download.request.label
        self._settle(None, PullCancelledError(f"pull of {label} cancelled"))
        self.progress.update(phase=PullPhase.CANCELLED, error="cancelled")
        self._download.detach(self)

    def _mirror(self, snapshot: ProgressSnapshot) -> None:
        self.progress.update(
            phase=snapshot.phase,
            bytes_done=snapshot.bytes_done,
            bytes_total=snapshot.bytes_total,
            error=snapshot.error,
            error_name=snapshot.error_name,
        )

    def _settle(self, path: Path | None, error: BaseException | None) -> None:
        if self._result.done():
            return
        if error is not None:
            self._result.set_exception(error)
            self._result.exception()  # retrieved: a caller may never wait
        elif path is not None:
            self._result.set_result(path)


class _Download:
    def __init__(
        self,
        request: PullRequest,
        transfer: Callable[[Abort, Callable[..., None]], Transfer],
        previous: "_Download | None",
    ) -> None:
        self.request = request
        self.progress = Progress()
        self.cancel_event = Abort()  # also shuts down the connection a transfer waits on
        self.handles: list[PullHandle] = []
        self.stopping = False
        loop = asyncio.get_running_loop()

        def report(phase: PullPhase | None, done: int, total: int) -> None:
            loop.call_soon_threadsafe(self._report, phase, done, total)

        self._transfer = transfer(self.cancel_event, report)
        self.task = asyncio.ensure_future(self._run(previous))

    def attach(self) -> PullHandle:
        handle = PullHandle(self)
        self.handles.append(handle)
        return handle

    def detach(self, handle: PullHandle) -> None:
        if handle in self.handles:
            self.handles.remove(handle)
        if not self.handles and not self.task.done():
            self.stopping = True
            self.cancel_event.set()

    def _report(self, phase: PullPhase | None, done: int, total: int) -> None:
        if self.progress.snapshot.phase.is_final:
            return
        self.progress.update(phase=phase, bytes_done=done, bytes_total=total)

    async def _run(self, previous: "_Download | None") -> Path:
        if previous is not None:  # a stopping download still owns the partial: let it finish
            await asyncio.gather(previous.task, return_exceptions=True)
        try:
            path = await _in_thread("hal0d-pull", self._transfer.run)
        except BaseException as exc:
            cancelled = isinstance(exc, PullCancelledError | asyncio.CancelledError)
            phase = PullPhase.CANCELLED if cancelled else PullPhase.FAILED
            name = exc.dbus_name if isinstance(exc, Hal0Error) else Hal0Error.dbus_name
            self.progress.update(phase=phase, error=str(exc) or type(exc).__name__, error_name=name)
            for handle in list(self.handles):
                handle._settle(None, exc)
            raise
        self.progress.update(phase=PullPhase.DONE)
        for handle in list(self.handles):
            handle._settle(path, None)
        return path


class ModelStore:
    def __init__(
        self, settings: StoreSettings, *, client_factory: http.ClientFactory | None = None
    ) -> None:
        self.settings = settings
        self.layout = Layout(settings.models_dir)
        self._given_client_factory = client_factory  # tests'; else one per transfer, below
        self._lock = StoreLock(self.layout.lock_path)
        self._running: dict[str, _Download] = {}
        self._stopping = threading.Event()
        self._verifying: set[asyncio.Future[None]] = set()
        self._open = False

    async def open(self) -> None:
        """Create the layout and take the store lock; BusyError if another process has it."""

        def take() -> None:
            with edge(f"opening the model store {self.layout.models_dir}"):
                self.layout.create_dirs()
                self._lock.acquire()

        await asyncio.to_thread(take)
        self._open = True

    async def close(self) -> None:
        self._stopping.set()  # a verify run stops at its next block
        await asyncio.gather(*self._verifying, return_exceptions=True)
        for download in list(self._running.values()):
            for handle in list(download.handles):
                handle.cancel()
        await asyncio.gather(*(d.task for d in self._running.values()), return_exceptions=True)
        self._running.clear()
        await asyncio.to_thread(self._lock.release)
        self._open = False

    def apply(self, settings: StoreSettings) -> None:
        """Take a reloaded configuration's settings for the pulls, verifies and prunes that
        start from now on (running ones keep theirs). The directories are the store's
        identity: a changed models_dir or state_dir waits for the next start of hal0d."""
        moved = [
            f"{key} {str(getattr(settings, key))!r}"
            for key in ("models_dir", "state_dir")
            if getattr(settings, key) != getattr(self.settings, key)
        ]
        if moved:
            log.warning(
                "%s: takes effect when hal0d next starts; the store stays in %s",
                " and ".join(moved),
                self.settings.models_dir,
            )
        self.settings = replace(
            settings, models_dir=self.settings.models_dir, state_dir=self.settings.state_dir
        )

    def path_for(self, sha256: str) -> Path:
        return self.layout.model_path(sha256)

    def has(self, sha256: str) -> bool:
        """Whether the verified model is in the store (one stat; fine to call on the loop)."""
        with edge(f"looking for the model {sha256} in {self.layout.models_dir}"):
            return self.layout.model_path(sha256).is_file()

    def pull(self, request: PullRequest) -> PullHandle:
        """Start (or join) the pull of a model. Bad requests raise here, transfer errors in
        `PullHandle.wait`."""
        self._require_open()
        request = _checked(request)
        key = self.layout.partial_key(request.sha256, request.url)
        running = self._running.get(key)
        if running is not None and not running.stopping and not running.task.done():
            return running.attach()

        settings = self.settings  # this pull's, whatever a reload brings meanwhile
        factory = self._given_client_factory or (lambda: http.make_client(settings))

        def transfer(cancel: Abort, report: Callable[..., None]) -> Transfer:
            hooks = TransferHooks(report, cancel)
            return Transfer(request, settings, factory, hooks)

        download = _Download(request, transfer, running)
        self._running[key] = download
        download.task.add_done_callback(lambda _: self._forget(key, download))
        return download.attach()

    async def verify(
        self,
        digests: list[str],
        progress: Callable[[int], None],
        damaged: Callable[[Damage], None],
    ) -> None:
        """Re-hash each stored model in turn, in a thread of its own: an intact one is
        recorded as verified now, a damaged one moved to quarantine and then reported with
        ``damaged(damage)``; ``progress(n)`` after each block of n bytes. Both run on the
        event loop. A model deleted meanwhile is skipped; closing the store stops the run
        (`VerifyAborted`)."""
        self._require_open()
        digests = [check_sha256(digest) for digest in digests]
        loop = asyncio.get_running_loop()

        def advanced(count: int) -> None:
            loop.call_soon_threadsafe(progress, count)

        def found(damage: Damage) -> None:
            loop.call_soon_threadsafe(damaged, damage)

        def run() -> None:
            with edge(f"verifying the stored models in {self.layout.models_dir}"):
                limit = self.settings.quarantine_max_bytes
                check_models(
                    self.layout,
                    digests,
                    limit,
                    progress=advanced,
                    damaged=found,
                    abort=self._stopping,
                )

        run_future = asyncio.ensure_future(_in_thread("hal0d-verify", run))
        self._verifying.add(run_future)
        run_future.add_done_callback(self._verifying.discard)
        await asyncio.shield(run_future)

    async def scrub(self, sha256: str) -> bool:
        """Re-hash a stored model; False if it is missing or damaged (then quarantined)."""
        self._require_open()
        sha256 = check_sha256(sha256)

        def check() -> bool:
            with edge(f"checking the stored model {sha256}"):
                return scrub(self.layout, sha256, self.settings.quarantine_max_bytes)

        return await asyncio.to_thread(check)

    async def prune(self, referenced: Mapping[str, str] | Collection[str]) -> PruneReport:
        """Remove stale partials and every model not in ``referenced`` (digest → why kept)."""
        self._require_open()
        active = set(self._running)

        def remove() -> PruneReport:
            with edge(f"pruning the model store {self.layout.models_dir}"):
                return prune(self.layout, referenced, self.settings.partial_max_age, active)

        return await asyncio.to_thread(remove)

    async def delete(self, sha256: str) -> int:
        """Remove one stored model; the bytes freed. NoModelError if it is not stored,
        BusyError while a pull of it runs (the caller checks who else uses it)."""
        self._require_open()
        sha256 = check_sha256(sha256)
        if sha256 in self._running:
            raise BusyError(f"model {sha256} is being pulled; cancel the pull first")

        def remove() -> int:
            with edge(f"deleting the stored model {sha256}"):
                return delete_model(self.layout, sha256)

        return await asyncio.to_thread(remove)

    async def models(self) -> list[StoredModel]:
        """Every stored model with its size and when it was last verified, by digest."""
        self._require_open()

        def look() -> list[StoredModel]:
            with edge(f"listing the model store {self.layout.models_dir}"):
                return stored_models(self.layout)

        return await asyncio.to_thread(look)

    def _forget(self, key: str, download: _Download) -> None:
        if self._running.get(key) is download:
            del self._running[key]
        if not download.task.cancelled():
            download.task.exception()  # delivered through the handles

    def _require_open(self) -> None:
        if not self._open:
            raise Hal0Error("the model store is not open (call ModelStore.open first)")


def _checked(request: PullRequest) -> PullRequest:
    if request.verify not in VERIFY_MODES:
        raise InvalidArgumentError(
            f"verify mode {request.verify!r} for {request.label} is not one of"
            f" {', '.join(VERIFY_MODES)}"
        )
    sha256 = check_sha256(request.sha256) if request.sha256 else None
    if sha256 is None and request.verify != "no":
        raise InvalidArgumentError(
            f'{request.label}: a SHA-256 is required unless verify = "no" is set explicitly'
        )
    if request.size is not None and request.size < 0:
        raise InvalidArgumentError(f"{request.label}: size {request.size} is negative")
    try:
        http.check_url(request.url, request.allow_http)
    except InsecureUrlError as exc:
        raise InsecureUrlError(f"{request.label}: {exc}") from None
    return replace(request, sha256=sha256)
