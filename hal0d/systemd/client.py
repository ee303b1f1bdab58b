"""A thin dbus-fast client of org.freedesktop.systemd1, for the slot units.

Low-level `Message` calls only (no proxy objects, no introspection), which behave the same on
dbus-fast 1.84 (Debian bookworm) and 5.x.

Jobs are waited for race-free: systemd may emit `JobRemoved` for a job before the coroutine
that queued it has even seen the job path in the method reply. While any job call is
outstanding, every JobRemoved is remembered, and the waiter first looks there.

Signals are believed only from the current owner of org.freedesktop.systemd1. Any local user
can send a signal to hal0d's connection (unicast signals pass every match rule), so a
`JobRemoved` or `PropertiesChanged` from anyone else is dropped. The owner is tracked through
`NameOwnerChanged`: `systemctl daemon-reexec` (every systemd upgrade runs it) gives systemd a
new connection and unique name; systemd keeps its subscribers across it, and hal0d subscribes
again anyway. Unit signals are asked for per watched unit — one match rule each, since unit
paths are escaped and a slot-unit wildcard cannot be written — so changes of other units on
the machine never wake hal0d (256 slots take 258 of the bus's 512 rules per connection).
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from hal0d.errors import Hal0Error, NotAuthorizedError, UnitError
from hal0d.systemd.units import UnitProperties, unit_from_path, unit_path

log = logging.getLogger(__name__)

SYSTEMD = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
SERVICE = "org.freedesktop.systemd1.Service"
JOB = "org.freedesktop.systemd1.Job"
PROPERTIES = "org.freedesktop.DBus.Properties"
BUS_DAEMON = "org.freedesktop.DBus"
NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"
ALREADY_SUBSCRIBED = "org.freedesktop.systemd1.AlreadySubscribed"
NO_SUCH_JOB = "org.freedesktop.systemd1.NoSuchJob"
ACCESS_DENIED = (
    "org.freedesktop.DBus.Error.AccessDenied",
    "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
)
JOB_TIMEOUT = 30.0

OWNER_RULE = (
    f"type='signal',sender='{BUS_DAEMON}',path='/org/freedesktop/DBus',interface='{BUS_DAEMON}',"
    f"member='NameOwnerChanged',arg0='{SYSTEMD}'"
)
JOB_RULE = (
    f"type='signal',sender='{SYSTEMD}',path='{MANAGER_PATH}',interface='{MANAGER}',"
    "member='JobRemoved'"
)


def unit_rule(unit: str) -> str:
    """The match rule for one unit's PropertiesChanged."""
    return (
        f"type='signal',sender='{SYSTEMD}',path='{unit_path(unit)}',interface='{PROPERTIES}',"
        "member='PropertiesChanged'"
    )


UnitListener = Callable[[str], None]


class Target(NamedTuple):
    destination: str
    path: str
    interface: str


MANAGER_TARGET = Target(SYSTEMD, MANAGER_PATH, MANAGER)
BUS_TARGET = Target(BUS_DAEMON, "/org/freedesktop/DBus", BUS_DAEMON)


def properties_of(path: str) -> Target:
    return Target(SYSTEMD, path, PROPERTIES)


def _value(properties: dict[str, Any], key: str, default: Any) -> Any:
    item = properties.get(key)
    return item.value if isinstance(item, Variant) else default


class SystemdClient:
    def __init__(self, bus: MessageBus, *, job_timeout: float = JOB_TIMEOUT) -> None:
        self._bus = bus
        self._job_timeout = job_timeout
        self._waiters: dict[str, asyncio.Future[str]] = {}
        self._early: dict[str, str] = {}
        self._calls_in_flight = 0
        self._unit_listeners: list[UnitListener] = []
        self._handler_installed = False
        self._owner: str | None = None  # unique name of org.freedesktop.systemd1
        self._watched: set[str] = set()
        self._watch_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- plumbing ------------------------------------------------------------------------

    async def _call(
        self,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
        *,
        to: Target = MANAGER_TARGET,
    ) -> list[Any]:
        message = Message(
            destination=to.destination,
            path=to.path,
            interface=to.interface,
            member=member,
            signature=signature,
            body=body or [],
        )
        reply = await self._bus.call(message)
        if reply is None:
            raise UnitError(f"systemd sent no reply to {member}")
        if reply.message_type == MessageType.ERROR:
            raise DBusError(reply.error_name or "", (reply.body or [""])[0])
        return list(reply.body)

    async def subscribe(self) -> None:
        """Ask for JobRemoved and the watched units' PropertiesChanged (systemd sends none
        before), and follow who owns org.freedesktop.systemd1."""
        if not self._handler_installed:
            self._bus.add_message_handler(self._on_message)
            self._handler_installed = True
        # The rule first, then the question: an owner change in between is not missed.
        await self._call("AddMatch", "s", [OWNER_RULE], to=BUS_TARGET)
        await self._call("AddMatch", "s", [JOB_RULE], to=BUS_TARGET)
        (owner,) = await self._call("GetNameOwner", "s", [SYSTEMD], to=BUS_TARGET)
        self._owner = str(owner)
        await self._subscribe_to_systemd()

    async def _subscribe_to_systemd(self) -> None:
        try:
            await self._call("Subscribe")
        except DBusError as error:
            if error.type != ALREADY_SUBSCRIBED:
                raise

    async def watch_units(self, units: Collection[str]) -> None:
        """Receive PropertiesChanged of exactly these units (one match rule each)."""
        async with self._watch_lock:
            wanted = set(units)
            for unit in sorted(wanted - self._watched):
                await self._call("AddMatch", "s", [unit_rule(unit)], to=BUS_TARGET)
                self._watched.add(unit)
            for unit in sorted(self._watched - wanted):
                self._watched.discard(unit)
                with contextlib.suppress(DBusError):
                    await self._call("RemoveMatch", "s", [unit_rule(unit)], to=BUS_TARGET)

    def on_unit_changed(self, listener: UnitListener) -> Callable[[], None]:
        """Call ``listener(unit_name)`` whenever a unit's properties change."""
        self._unit_listeners.append(listener)
        return lambda: self._unit_listeners.remove(listener)

    def _on_message(self, message: Message) -> bool:
        if message.message_type != MessageType.SIGNAL:
            return False
        if message.sender == BUS_DAEMON and message.member == "NameOwnerChanged":
            name, _old, new = message.body
            if name == SYSTEMD:
                self._owner_changed(str(new))
        elif self._owner is None or message.sender != self._owner:
            pass  # not systemd: forged, or from before a re-exec
        elif message.member == "JobRemoved" and message.path == MANAGER_PATH:
            _id, job_path, _unit, result = message.body
            self._job_removed(job_path, result)
        elif message.member == "PropertiesChanged" and message.interface == PROPERTIES:
            unit = unit_from_path(message.path or "")
            if unit is not None and unit in self._watched:
                for listener in list(self._unit_listeners):
                    listener(unit)
        return False  # never consume: other handlers may want it too

    def _owner_changed(self, new_owner: str) -> None:
        log.info("org.freedesktop.systemd1 is now %s", new_owner or "gone (re-executing?)")
        self._owner = new_owner or None
        if new_owner:
            task = asyncio.ensure_future(self._resubscribe())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _resubscribe(self) -> None:
        try:
            await self._subscribe_to_systemd()
        except (DBusError, Hal0Error) as error:
            log.error("cannot subscribe to systemd again: %s", error)  # noqa: TRY400
        for listener in list(self._unit_listeners):  # what changed while it was away
            for unit in sorted(self._watched):
                listener(unit)

    def _job_removed(self, job_path: str, result: str) -> None:
        waiter = self._waiters.pop(job_path, None)
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(result)
        elif self._calls_in_flight:
            self._early[job_path] = result

    # -- jobs ----------------------------------------------------------------------------

    async def queue_job(self, verb: str, unit: str, mode: str = "replace") -> "Job":
        """Queue StartUnit/StopUnit/RestartUnit; returns once systemd accepted the job."""
        self._calls_in_flight += 1
        try:
            try:
                (job_path,) = await self._call(verb, "ss", [unit, mode])
            except DBusError as error:
                raise _unit_error(verb, unit, error) from error
            waiter = asyncio.get_running_loop().create_future()
            result = self._early.pop(job_path, None)
            if result is not None:
                waiter.set_result(result)
            else:
                self._waiters[job_path] = waiter
        finally:
            self._calls_in_flight -= 1
            if not self._calls_in_flight:
                self._early.clear()
        return Job(self, verb, unit, str(job_path), waiter)

    def _forget_job(self, job_path: str) -> None:
        self._waiters.pop(job_path, None)

    async def _job(self, verb: str, unit: str, mode: str) -> str:
        job = await self.queue_job(verb, unit, mode)
        return await job.result(self._job_timeout)

    async def start_unit(self, unit: str, mode: str = "replace") -> str:
        """Start and wait for the job's end; returns its result ("done", "failed", …)."""
        return await self._job("StartUnit", unit, mode)

    async def stop_unit(self, unit: str, mode: str = "replace") -> str:
        return await self._job("StopUnit", unit, mode)

    async def restart_unit(self, unit: str, mode: str = "replace") -> str:
        return await self._job("RestartUnit", unit, mode)

    async def reset_failed_unit(self, unit: str) -> None:
        try:
            await self._call("ResetFailedUnit", "s", [unit])
        except DBusError as error:
            if error.type == NO_SUCH_UNIT:
                return
            raise _unit_error("ResetFailedUnit", unit, error) from error

    # -- reading -------------------------------------------------------------------------

    async def get_unit(self, unit: str) -> str | None:
        """The unit's object path if systemd has it loaded, else None."""
        try:
            (path,) = await self._call("GetUnit", "s", [unit])
        except DBusError as error:
            if error.type == NO_SUCH_UNIT:
                return None
            raise _unit_error("GetUnit", unit, error) from error
        return str(path)

    async def load_unit(self, unit: str) -> str:
        try:
            (path,) = await self._call("LoadUnit", "s", [unit])
        except DBusError as error:
            raise _unit_error("LoadUnit", unit, error) from error
        return str(path)

    async def list_units(self, patterns: list[str]) -> list[str]:
        """Names of loaded units matching ``patterns`` (any state)."""
        (units,) = await self._call("ListUnitsByPatterns", "asas", [[], patterns])
        return [str(row[0]) for row in units]

    async def properties(self, unit: str) -> UnitProperties | None:
        """The unit's current properties, or None if systemd does not have it loaded."""
        path = await self.get_unit(unit)
        if path is None:
            return None
        try:
            (unit_props,) = await self._call("GetAll", "s", [UNIT], to=properties_of(path))
            (service_props,) = await self._call("GetAll", "s", [SERVICE], to=properties_of(path))
        except DBusError as error:
            if error.type in (NO_SUCH_UNIT, "org.freedesktop.DBus.Error.UnknownObject"):
                return None
            raise _unit_error("GetAll", unit, error) from error
        job_id, job_path = _value(unit_props, "Job", (0, "/"))
        job_type = await self._job_type(job_path) if job_id else None
        return UnitProperties(
            unit=unit,
            load_state=_value(unit_props, "LoadState", ""),
            active_state=_value(unit_props, "ActiveState", ""),
            sub_state=_value(unit_props, "SubState", ""),
            result=_value(service_props, "Result", "success"),
            n_restarts=int(_value(service_props, "NRestarts", 0)),
            exec_main_code=int(_value(service_props, "ExecMainCode", 0)),
            exec_main_status=int(_value(service_props, "ExecMainStatus", 0)),
            exec_main_pid=int(_value(service_props, "ExecMainPID", 0)),
            status_text=_value(service_props, "StatusText", ""),
            job_type=job_type,
            state_change_monotonic=int(_value(unit_props, "StateChangeTimestampMonotonic", 0))
            / 1e6,
            invocation_id=bytes(_value(unit_props, "InvocationID", b"")).hex(),
        )

    async def _job_type(self, job_path: str) -> str | None:
        with contextlib.suppress(DBusError):
            (variant,) = await self._call("Get", "ss", [JOB, "JobType"], to=properties_of(job_path))
            return str(variant.value)
        return None  # the job finished meanwhile


class Job:
    """A queued systemd job; ``result()`` waits for its JobRemoved."""

    def __init__(
        self,
        client: SystemdClient,
        verb: str,
        unit: str,
        path: str,
        waiter: "asyncio.Future[str]",
    ) -> None:
        self.verb = verb
        self.unit = unit
        self.path = path
        self._client = client
        self._waiter = waiter

    def done(self) -> bool:
        """True once systemd reported the job's end."""
        return self._waiter.done()

    async def result(self, within: float = JOB_TIMEOUT) -> str:
        """systemd's result for the job: "done", "failed", "canceled", "timeout", …"""
        try:
            return await asyncio.wait_for(asyncio.shield(self._waiter), within)
        except TimeoutError:
            raise UnitError(
                f"systemd did not finish {self.verb} of {self.unit} within {within:g} s"
            ) from None

    def forget(self) -> None:
        """Stop listening for this job's end (nobody will ask for its result)."""
        self._client._forget_job(self.path)


def _unit_error(verb: str, unit: str, error: DBusError) -> Hal0Error:
    text = f"systemd refused {verb} of {unit}: {error.text}"
    if error.type in ACCESS_DENIED:
        return NotAuthorizedError(text)
    return UnitError(text)
