"""The composition root and lifecycle of hal0d.

Start: config → bus connection → objects exported → bus name (never queued: a second
instance stops here) → model store → slot state recovered → READY=1. SIGHUP reloads the
config (RELOADING=1 … READY=1; a bad config keeps the old one). SIGTERM: STOPPING=1, then an
orderly shutdown that leaves the slot units running — systemd owns them, and the next
hal0d recovers their state.
"""

import asyncio
import logging
import signal
from contextlib import suppress
from pathlib import Path
from typing import Protocol

from dbus_fast import DBusError, Message, MessageType, NameFlag, RequestNameReply

from hal0d.bus.service import BusService, Hal0Bus, system_bus
from hal0d.bus.throttle import PropertyThrottle
from hal0d.config import Config, load_config
from hal0d.config.problems import log_problems
from hal0d.contract import BUS_NAME
from hal0d.errors import ConfigError, Hal0Error
from hal0d.manager import ConfigurableBackend, Lifecycle, Manager
from hal0d.notify import Notifier, feed_watchdog
from hal0d.polkit import PolkitAuthority
from hal0d.slot_journal import SlotJournal
from hal0d.slots.adapters import Adapters
from hal0d.slots.nosystemd import NoSystemd
from hal0d.slots.probe import HttpProbe
from hal0d.slots.supervisor import SlotSupervisor
from hal0d.store.settings import settings_from_config
from hal0d.store.store import ModelStore
from hal0d.systemd.client import SystemdClient
from hal0d.tasks import TaskSet

log = logging.getLogger(__name__)

SYSTEMD_NAME = "org.freedesktop.systemd1"
STATUS_INTERVAL = 1.0  # STATUS= at most once a second; the bus has the fine-grained view
# How soon Status notices a llama-server installed (or removed) by the admin; Load and
# Reload look at once. Each look is a thread hand-off, ~8 context switches: every 5 s that
# alone kept an idle hal0d above one wakeup a second.
LLAMA_SERVER_RECHECK = 30.0


class DaemonBackend(ConfigurableBackend, Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def systemd_on_bus(bus: Hal0Bus) -> bool:
    reply = await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="NameHasOwner",
            signature="s",
            body=[SYSTEMD_NAME],
        )
    )
    return (
        reply is not None
        and reply.message_type is MessageType.METHOD_RETURN
        and bool(reply.body[0])
    )


def slot_supervisor(config: Config, bus: Hal0Bus, store: ModelStore, units: bool) -> SlotSupervisor:
    """Slots driven through systemd on ``bus`` — or, where systemd is not on it, through
    `NoSystemd` — probed with httpx, models from the store."""
    probe = HttpProbe()
    driver = SystemdClient(bus) if units else NoSystemd()
    adapters = Adapters(systemd=driver, prober=probe, store=store, closers=(probe.close,))
    return SlotSupervisor(config, adapters)


class DaemonError(Hal0Error):
    """hal0d cannot start or go on; the message says why and what to do."""


def read_config(config_dir: Path) -> Config:
    config, problems = load_config(config_dir)
    log_problems(problems, log)
    if config is None:
        raise ConfigError(
            f"the configuration in {config_dir} has errors (listed above); "
            f"check it with `hal0d check-config --config-dir {config_dir}`"
        )
    return config


class Daemon:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._notifier = Notifier()
        self._stop = asyncio.Event()
        self._tasks = TaskSet(log)

    async def run(self) -> None:
        bus = system_bus()
        await bus.connect()
        try:
            await self._serve(bus)
        finally:
            bus.disconnect()
            self._notifier.close()

    async def _serve(self, bus: Hal0Bus) -> None:
        store = ModelStore(settings_from_config(self._config.global_))
        units = await systemd_on_bus(bus)
        if not units:
            log.warning(
                "systemd (org.freedesktop.systemd1) is not on this bus: slots can be pulled "
                "but not loaded"
            )
        backend: DaemonBackend = slot_supervisor(self._config, bus, store, units)
        manager = Manager(self._config, backend, store, units_available=units)
        manager.subscribe(SlotJournal(manager))
        service = BusService(bus, manager, PolkitAuthority(bus))
        service.export()
        await self._own_name(bus)
        status = PropertyThrottle(lambda changed: self._status(changed["Status"]), STATUS_INTERVAL)
        unsubscribe = manager.subscribe(lambda: status.change({"Status": manager.status}))
        try:
            await store.open()
            await manager.check_llama_server()
            await backend.start()  # recovers the slots' state from their units
            self._install_signals(manager)  # before READY=1: systemd may signal at once
            manager.set_lifecycle(Lifecycle.RUNNING)
            self._notifier.ready(manager.status)
            log.info("hal0d ready: %s", manager.status)
            self._tasks.spawn(feed_watchdog(self._notifier), "watchdog pings")
            self._tasks.spawn(self._recheck_llama_server(manager), "llama-server re-check")
            await self._until_stopped_or_disconnected(bus)
            manager.set_lifecycle(Lifecycle.STOPPING)
            self._notifier.send("STOPPING=1", f"STATUS={manager.status}")
            log.info("stopping; slot units keep running")
            await backend.stop()
            await store.close()
        finally:
            unsubscribe()
            status.close()
            await self._tasks.close()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            service.unexport()

    async def _until_stopped_or_disconnected(self, bus: Hal0Bus) -> None:
        stop = asyncio.ensure_future(self._stop.wait())
        lost = asyncio.ensure_future(bus.wait_for_disconnect())  # type: ignore[no-untyped-call]
        await asyncio.wait({stop, lost}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if lost.done():
            error = None if lost.cancelled() else lost.exception()
            raise DaemonError(
                f"lost the connection to the system bus ({error or 'disconnected'}); "
                "exiting so that systemd restarts hal0d"
            )
        lost.cancel()

    async def _own_name(self, bus: Hal0Bus) -> None:
        try:
            reply = await bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
        except DBusError as error:
            raise DaemonError(
                f"not allowed to own {BUS_NAME} on the system bus ({error.text}); hal0d runs "
                "as user _hal0 with dbus/org.hal0.Manager1.conf installed in "
                "/usr/share/dbus-1/system.d"
            ) from None
        if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            raise DaemonError(
                f"another hal0d is already running: {BUS_NAME} is owned on the system bus "
                "(see `busctl status org.hal0.Manager1`); only one hal0d runs at a time"
            )

    def _status(self, text: str) -> None:
        self._notifier.status(text)

    def _install_signals(self, manager: Manager) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(
            signal.SIGHUP, lambda: self._tasks.spawn(self._reload(manager), "reload on SIGHUP")
        )
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)

    async def _reload(self, manager: Manager) -> None:
        self._notifier.reloading()
        try:
            await manager.reload()
        except ConfigError as error:
            log.error("%s", error)  # noqa: TRY400 - the message says it all
        except Exception:
            log.exception("reload failed; keeping the previous configuration")
        self._notifier.ready(manager.status)

    async def _recheck_llama_server(self, manager: Manager) -> None:
        while True:
            await asyncio.sleep(LLAMA_SERVER_RECHECK)
            await manager.check_llama_server()


async def run_daemon(config_dir: Path) -> None:
    config = await asyncio.to_thread(read_config, config_dir)
    daemon = Daemon(config)
    with suppress(asyncio.CancelledError):
        await daemon.run()
