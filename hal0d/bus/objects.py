"""The exported interfaces: org.hal0.Manager1 and org.hal0.Slot1.

Thin on purpose: each method checks nothing itself, asks `hal0d.manager.Manager` to act on
behalf of the caller, and is wrapped by the error boundary. dbus-fast reads the D-Bus
signatures from the string annotations (hence the lint/mypy exceptions for this module).
Property values are computed when the manager reports a change, and every getter serves the
cached value: getters are not behind the error boundary (dbus-fast calls them itself), so
none may compute anything that can raise. `PropertiesChanged` goes through a
`PropertyThrottle` per object.
"""

from typing import Any

from dbus_fast import Variant
from dbus_fast import introspection as intr
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property, method

from hal0d import __version__
from hal0d.bus.boundary import boundary
from hal0d.bus.caller import Caller, current_caller
from hal0d.bus.introspection import ShippedInterface
from hal0d.bus.paths import slot_path
from hal0d.bus.throttle import PropertyThrottle
from hal0d.bus.wire import wire_text
from hal0d.contract import MANAGER_INTERFACE, SLOT_INTERFACE
from hal0d.diagnose import diagnose
from hal0d.errors import InvalidArgumentError, NotAuthorizedError
from hal0d.manager import Manager
from hal0d.polkit import PolkitAuthority
from hal0d.slots.view import SlotView

INTERFACE_REVISION = 3
READ = PropertyAccess.READ
# Each progress signal carries all of its group, so a client never has to combine signals.
PROGRESS = ("Phase", "BytesDone", "BytesTotal")
VERIFY_PROGRESS = ("VerifyPhase", "VerifyBytesDone", "VerifyBytesTotal", "VerifyDamaged")


class CallerAuthorizer:
    """The `Authorizer` of one D-Bus call: polkit, asked about the message's sender."""

    def __init__(self, polkit: PolkitAuthority, caller: Caller | None) -> None:
        self._polkit = polkit
        self._caller = caller

    async def require(self, action: str) -> None:
        if self._caller is None or not self._caller.sender:
            raise NotAuthorizedError(f"cannot tell who is calling; {action} denied")
        await self._polkit.check(self._caller.sender, action, interactive=self._caller.interactive)


def manager_properties(manager: Manager) -> dict[str, Any]:
    progress = manager.progress
    verify = manager.verify_progress
    return {
        "Status": wire_text(manager.status),
        "Phase": progress.phase,
        "BytesDone": progress.bytes_done,
        "BytesTotal": progress.bytes_total,
        "VerifyPhase": str(verify.phase),
        "VerifyBytesDone": verify.bytes_done,
        "VerifyBytesTotal": verify.bytes_total,
        "VerifyDamaged": list(verify.damaged),
    }


def slot_properties(view: SlotView) -> dict[str, Any]:
    return {
        "Name": wire_text(view.name),
        "State": str(view.state),
        "Phase": str(view.phase) if view.phase is not None else "",
        "BytesDone": view.bytes_done,
        "BytesTotal": view.bytes_total,
        "Model": wire_text(view.model),
        "Sha256": wire_text(view.sha256),
        "Endpoint": wire_text(view.endpoint),
        "Unit": wire_text(view.unit),
        "NRestarts": view.n_restarts,
        "LastError": wire_text(view.last_error),
        "LastErrorName": view.last_error_name,
        "ActiveRequests": view.active_requests,
        "Aliases": [wire_text(alias) for alias in view.aliases],
    }


def load_force(options: dict[str, Any]) -> bool:
    """The ``force`` of LoadWithOptions' a{sv}; InvalidArgumentError for anything else."""
    unknown = sorted(set(options) - {"force"})
    if unknown:
        shown = ", ".join(repr(wire_text(str(name))[:64]) for name in unknown[:5])
        raise InvalidArgumentError(f"unknown Load option(s) {shown}; the only one is force (b)")
    force = options.get("force")
    if force is None:
        return False
    if not isinstance(force, Variant) or force.signature != "b":
        raise InvalidArgumentError("the Load option force is a boolean (b)")
    return bool(force.value)


class ManagerObject(ServiceInterface):
    def __init__(self, manager: Manager, polkit: PolkitAuthority) -> None:
        super().__init__(MANAGER_INTERFACE)
        self._manager = manager
        self._polkit = polkit
        groups = (PROGRESS, VERIFY_PROGRESS)
        self.throttle = PropertyThrottle(self.emit_properties_changed, together=groups)
        self.throttle.seed(manager_properties(manager))

    def refresh(self) -> None:
        self.throttle.change(manager_properties(self._manager))

    def introspect(self) -> intr.Interface:
        return ShippedInterface(MANAGER_INTERFACE)

    def _auth(self) -> CallerAuthorizer:
        return CallerAuthorizer(self._polkit, current_caller())

    @dbus_property(access=READ, name="Version")
    def version(self) -> "s":
        return __version__

    @dbus_property(access=READ, name="InterfaceRevision")
    def interface_revision(self) -> "u":
        return INTERFACE_REVISION

    @dbus_property(access=READ, name="Status")
    def status(self) -> "s":
        return self.throttle.current("Status")

    @dbus_property(access=READ, name="Phase")
    def phase(self) -> "s":
        return self.throttle.current("Phase")

    @dbus_property(access=READ, name="BytesDone")
    def bytes_done(self) -> "t":
        return self.throttle.current("BytesDone")

    @dbus_property(access=READ, name="BytesTotal")
    def bytes_total(self) -> "t":
        return self.throttle.current("BytesTotal")

    @dbus_property(access=READ, name="VerifyPhase")
    def verify_phase(self) -> "s":
        return self.throttle.current("VerifyPhase")

    @dbus_property(access=READ, name="VerifyBytesDone")
    def verify_bytes_done(self) -> "t":
        return self.throttle.current("VerifyBytesDone")

    @dbus_property(access=READ, name="VerifyBytesTotal")
    def verify_bytes_total(self) -> "t":
        return self.throttle.current("VerifyBytesTotal")

    @dbus_property(access=READ, name="VerifyDamaged")
    def verify_damaged(self) -> "as":
        return self.throttle.current("VerifyDamaged")

    @method(name="ListSlots")
    @boundary
    async def list_slots(self) -> "a(sso)":
        views = self._manager.views()
        return [[wire_text(n), str(views[n].state), slot_path(n)] for n in sorted(views)]

    @method(name="Diagnose")
    @boundary
    async def diagnose(self) -> "a(ssss)":
        findings = await diagnose(self._manager.config, dict(self._manager.views()))
        return [
            [wire_text(f.slot), f.check, str(f.verdict), wire_text(f.message)] for f in findings
        ]

    @method(name="Pull")
    @boundary
    async def pull(self, name: "s") -> None:
        await self._manager.pull(name, self._auth())

    @method(name="Load")
    @boundary
    async def load(self, name: "s") -> None:
        await self._manager.load(name, self._auth())

    @method(name="LoadWithOptions")
    @boundary
    async def load_with_options(self, name: "s", options: "a{sv}") -> None:
        await self._manager.load(name, self._auth(), force=load_force(options))

    @method(name="Wake")
    @boundary
    async def wake(self, name: "s") -> None:
        await self._manager.wake(name, self._auth())

    @method(name="Unload")
    @boundary
    async def unload(self, name: "s") -> None:
        await self._manager.unload(name, self._auth())

    @method(name="Restart")
    @boundary
    async def restart(self, name: "s") -> None:
        await self._manager.restart(name, self._auth())

    @method(name="Cancel")
    @boundary
    async def cancel(self, name: "s") -> None:
        await self._manager.cancel(name, self._auth())

    @method(name="Prune")
    @boundary
    async def prune(self) -> "t":
        report = await self._manager.prune(self._auth())
        return report.freed_bytes

    @method(name="PruneReport")
    @boundary
    async def prune_report(self) -> "a(sts)":
        report = await self._manager.prune(self._auth())
        return [[entry.item, entry.size, wire_text(entry.why)] for entry in report.entries]

    @method(name="ListModels")
    @boundary
    async def list_models(self) -> "a(stast)":
        return [
            [model.sha256, model.size, slots, model.last_verified]
            for model, slots in await self._manager.models()
        ]

    @method(name="Verify")
    @boundary
    async def verify(self, sha256: "s") -> None:
        await self._manager.verify(sha256, self._auth())

    @method(name="Reload")
    @boundary
    async def reload(self) -> None:
        await self._manager.reload(self._auth())

    @method(name="ResolveModel")
    @boundary
    async def resolve_model(self, model: "s") -> "sst":
        entry = self._manager.resolve_model(model)
        return [wire_text(entry.url), entry.sha256 or "", entry.size or 0]

    @method(name="DeleteModel")
    @boundary
    async def delete_model(self, sha256: "s") -> None:
        await self._manager.delete_model(sha256, self._auth())


class SlotObject(ServiceInterface):
    def __init__(self, manager: Manager, polkit: PolkitAuthority, view: SlotView) -> None:
        super().__init__(SLOT_INTERFACE)
        self._manager = manager
        self._polkit = polkit
        self._view = view
        self.object_path = slot_path(view.name)
        self.throttle = PropertyThrottle(self.emit_properties_changed, together=(PROGRESS,))
        self.throttle.seed(slot_properties(view))

    def update(self, view: SlotView) -> None:
        self._view = view
        self.throttle.change(slot_properties(view))

    def all_properties(self) -> dict[str, Any]:
        return slot_properties(self._view)

    def introspect(self) -> intr.Interface:
        return ShippedInterface(SLOT_INTERFACE)

    def _auth(self) -> CallerAuthorizer:
        return CallerAuthorizer(self._polkit, current_caller())

    @dbus_property(access=READ, name="Name")
    def slot_name(self) -> "s":
        return self.throttle.current("Name")

    @dbus_property(access=READ, name="State")
    def state(self) -> "s":
        return self.throttle.current("State")

    @dbus_property(access=READ, name="Phase")
    def phase(self) -> "s":
        return self.throttle.current("Phase")

    @dbus_property(access=READ, name="BytesDone")
    def bytes_done(self) -> "t":
        return self.throttle.current("BytesDone")

    @dbus_property(access=READ, name="BytesTotal")
    def bytes_total(self) -> "t":
        return self.throttle.current("BytesTotal")

    @dbus_property(access=READ, name="Model")
    def model(self) -> "s":
        return self.throttle.current("Model")

    @dbus_property(access=READ, name="Sha256")
    def sha256(self) -> "s":
        return self.throttle.current("Sha256")

    @dbus_property(access=READ, name="Endpoint")
    def endpoint(self) -> "s":
        return self.throttle.current("Endpoint")

    @dbus_property(access=READ, name="Unit")
    def unit(self) -> "s":
        return self.throttle.current("Unit")

    @dbus_property(access=READ, name="NRestarts")
    def n_restarts(self) -> "u":
        return self.throttle.current("NRestarts")

    @dbus_property(access=READ, name="LastError")
    def last_error(self) -> "s":
        return self.throttle.current("LastError")

    @dbus_property(access=READ, name="LastErrorName")
    def last_error_name(self) -> "s":
        return self.throttle.current("LastErrorName")

    @dbus_property(access=READ, name="ActiveRequests")
    def active_requests(self) -> "u":
        return self.throttle.current("ActiveRequests")

    @dbus_property(access=READ, name="Aliases")
    def aliases(self) -> "as":
        return self.throttle.current("Aliases")

    @method(name="Pull")
    @boundary
    async def pull(self) -> None:
        await self._manager.pull(self._view.name, self._auth())

    @method(name="Load")
    @boundary
    async def load(self) -> None:
        await self._manager.load(self._view.name, self._auth())

    @method(name="LoadWithOptions")
    @boundary
    async def load_with_options(self, options: "a{sv}") -> None:
        await self._manager.load(self._view.name, self._auth(), force=load_force(options))

    @method(name="Unload")
    @boundary
    async def unload(self) -> None:
        await self._manager.unload(self._view.name, self._auth())

    @method(name="Restart")
    @boundary
    async def restart(self) -> None:
        await self._manager.restart(self._view.name, self._auth())

    @method(name="Cancel")
    @boundary
    async def cancel(self) -> None:
        await self._manager.cancel(self._view.name, self._auth())
