"""hal0ctl's side of org.hal0.Manager1: calls, property reads and change subscriptions.

Everything hal0ctl changes goes through this API, never around it. D-Bus errors become
`CliError`s with hal0ctl's exit statuses: hal0d absent → 3, polkit said no → 4. Signals
are received through match rules (AddMatch), which any user may add.
"""

import asyncio
import gc
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dbus_fast import Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.constants import BusType

from hal0d.bus.paths import slot_path
from hal0d.bus.wire import text_from_wire
from hal0d.cli.exits import EX_FAILURE, EX_NOT_AUTHORIZED, EX_NOT_RUNNING, CliError
from hal0d.contract import (
    BUS_NAME,
    DAEMON_UNIT,
    ERROR_PREFIX,
    MANAGER_INTERFACE,
    MANAGER_PATH,
    SLOT_INTERFACE,
)

PROPERTIES = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
NOT_RUNNING_ERRORS = (
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
)
NOT_RUNNING = (
    f"hal0d is not running ({BUS_NAME} is not on the system bus); start it with "
    f"`systemctl start {DAEMON_UNIT}`, or see what is wrong with `hal0ctl doctor`"
)
# Who may do what, for the sentence a refused caller reads.
AUTHORIZATION_HINT = (
    "members of group hal0 may do this without a password (an administrator runs "
    "`adduser USER hal0`), and root may always"
)

Signal = Callable[[str, dict[str, Any]], None]


def plain(value: Any) -> Any:
    """A D-Bus value without Variant wrappers, for printing and JSON."""
    if isinstance(value, Variant):
        return plain(value.value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, str):
        return text_from_wire(value)
    return value


class Hal0Client:
    """One connection to the system bus ($DBUS_SYSTEM_BUS_ADDRESS if set)."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self._watchers: list[Signal] = []
        bus.add_message_handler(self._dispatch)

    @classmethod
    async def connect(cls) -> "Hal0Client":
        try:
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (FileNotFoundError, ConnectionRefusedError) as error:
            # No system bus, so no hal0d either.
            _drop_half_made_bus(error)
            raise CliError(f"{NOT_RUNNING} (no system bus: {error})", EX_NOT_RUNNING) from None
        except (OSError, ValueError) as error:
            raise CliError(f"cannot connect to the system bus: {error}", EX_FAILURE) from None
        return cls(bus)

    def close(self) -> None:
        self.bus.disconnect()

    # -- calls ----------------------------------------------------------------------------

    async def call(  # noqa: PLR0913 - the parts of a D-Bus message
        self,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
        *,
        path: str = MANAGER_PATH,
        interface: str = MANAGER_INTERFACE,
        destination: str = BUS_NAME,
        interactive: bool = False,
    ) -> list[Any]:
        flags = MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION if interactive else MessageFlag.NONE
        message = Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body or [],
            flags=flags,
        )
        reply = await self.bus.call(message)
        if reply is None:
            raise CliError(f"no reply to {member} from {destination}")
        if reply.message_type is MessageType.ERROR:
            text = text_from_wire(str(reply.body[0])) if reply.body else ""
            raise error_for(reply.error_name or "", text)
        return list(reply.body)

    async def managed_objects(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every object of hal0d with its interfaces' properties (one round trip)."""
        (objects,) = await self.call(
            "GetManagedObjects", interface=OBJECT_MANAGER, path=MANAGER_PATH
        )
        return {path: plain(interfaces) for path, interfaces in objects.items()}

    async def manager_properties(self) -> dict[str, Any]:
        (values,) = await self.call("GetAll", "s", [MANAGER_INTERFACE], interface=PROPERTIES)
        return dict(plain(values))

    async def slot_properties(self, name: str) -> dict[str, Any]:
        (values,) = await self.call(
            "GetAll", "s", [SLOT_INTERFACE], path=slot_path(name), interface=PROPERTIES
        )
        return dict(plain(values))

    # -- signals --------------------------------------------------------------------------

    async def add_match(self, rule: str) -> None:
        await self.call(
            "AddMatch",
            "s",
            [rule],
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
        )

    async def watch_properties(self, path_namespace: str = MANAGER_PATH) -> None:
        """Receive hal0d's PropertiesChanged (and ObjectManager signals) below a path."""
        base = f"type='signal',sender='{BUS_NAME}',path_namespace='{path_namespace}'"
        await self.add_match(f"{base},interface='{PROPERTIES}',member='PropertiesChanged'")
        await self.add_match(f"{base},interface='{OBJECT_MANAGER}'")

    @contextmanager
    def on_signal(self, watcher: Signal) -> Iterator[None]:
        """``watcher(path, {"member": ..., "interface": ..., "changed": {...}})`` per signal."""
        self._watchers.append(watcher)
        try:
            yield
        finally:
            self._watchers.remove(watcher)

    def _dispatch(self, message: Message) -> bool:
        if message.message_type is not MessageType.SIGNAL or not self._watchers:
            return False
        event: dict[str, Any] = {"member": message.member, "interface": message.interface}
        if message.member == "PropertiesChanged" and len(message.body) >= 2:
            event["interface"] = message.body[0]
            event["changed"] = plain(message.body[1])
        elif message.member in ("InterfacesAdded", "InterfacesRemoved") and message.body:
            event["object"] = message.body[0]
            event["changed"] = plain(message.body[1]) if message.member == "InterfacesAdded" else {}
        else:
            event["changed"] = {}
            event["args"] = plain(list(message.body))
        for watcher in list(self._watchers):
            watcher(message.path or "", event)
        return False


def _drop_half_made_bus(error: BaseException) -> None:
    """dbus-fast before 2.x connects in MessageBus.__init__ and, when that fails, leaves its
    socket open in the half-made object the traceback holds; free it quietly now."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        error.__traceback__ = None
        gc.collect()


def error_for(name: str, text: str) -> CliError:
    """A D-Bus error as hal0ctl reports it."""
    if name in NOT_RUNNING_ERRORS:
        return CliError(NOT_RUNNING, EX_NOT_RUNNING, name)
    if name == ERROR_PREFIX + "NotAuthorized":
        return CliError(f"not authorized: {text}; {AUTHORIZATION_HINT}", EX_NOT_AUTHORIZED, name)
    if name.startswith(ERROR_PREFIX):
        return CliError(text or name, EX_FAILURE, name)
    return CliError(f"{text} ({name})" if text else name, EX_FAILURE, name)


def run(coroutine_factory: Callable[[Hal0Client], Any]) -> Any:
    """Connect, run ``coroutine_factory(client)`` to completion, disconnect."""

    async def main() -> Any:
        client = await Hal0Client.connect()
        try:
            return await coroutine_factory(client)
        finally:
            client.close()

    return asyncio.run(main())


def interactive() -> bool:
    """Whether polkit may ask for a password: only with a person at a terminal."""
    return os.isatty(0)
