"""A fake polkit authority for the bus tier — NOT the real polkitd.

The real polkitd needs a real system bus with the real process credentials of callers and
its own D-Bus activation; it runs in the system tier (tests/system), where a user outside
group hal0 is denied by the shipped rules. On the private test bus this stand-in answers
`CheckAuthorization` from a rules file the test writes ({"deny": [unique names]} or
{"deny_all": true}) and
appends every question to a log file, so tests can check what hal0d asked (action, subject,
interactive flag).

Usage: python fake_polkit.py RULES_FILE LOG_FILE   (bus from $DBUS_SYSTEM_BUS_ADDRESS)
"""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from dbus_fast import BusType, NameFlag
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method


class Authority(ServiceInterface):
    def __init__(self, rules: Path, log: Path) -> None:
        super().__init__("org.freedesktop.PolicyKit1.Authority")
        self._rules = rules
        self._log = log

    @method(name="CheckAuthorization")
    def check_authorization(
        self,
        subject: "(sa{sv})",
        action_id: "s",
        details: "a{ss}",
        flags: "u",
        cancellation_id: "s",
    ) -> "(bba{ss})":
        kind, fields = subject
        name = fields["name"].value if "name" in fields else ""
        rules: dict[str, Any] = json.loads(self._rules.read_text()) if self._rules.exists() else {}
        allowed = not rules.get("deny_all") and name not in rules.get("deny", [])
        record = {"kind": kind, "name": name, "action": action_id, "flags": flags}
        with self._log.open("a") as log:
            log.write(json.dumps(record) + "\n")
        return [allowed, False, {}]


async def main() -> None:
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    bus.export(
        "/org/freedesktop/PolicyKit1/Authority", Authority(Path(sys.argv[1]), Path(sys.argv[2]))
    )
    await bus.request_name("org.freedesktop.PolicyKit1", NameFlag.DO_NOT_QUEUE)
    print("ready", flush=True)
    await bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(main())
