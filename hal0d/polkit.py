"""polkit client: ask `org.freedesktop.PolicyKit1.Authority.CheckAuthorization` for a caller.

The subject is the caller's unique bus name (``system-bus-name``), so polkit judges the
process that sent the message, not hal0d. ``interactive`` mirrors the message's
ALLOW_INTERACTIVE_AUTHORIZATION flag: only then may polkit ask the user for a password.
"""

import asyncio
import logging

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from hal0d.errors import NotAuthorizedError

log = logging.getLogger(__name__)

POLKIT_NAME = "org.freedesktop.PolicyKit1"
POLKIT_PATH = "/org/freedesktop/PolicyKit1/Authority"
POLKIT_INTERFACE = "org.freedesktop.PolicyKit1.Authority"
ALLOW_USER_INTERACTION = 0x1
# A user typing a password takes time; the caller's own D-Bus timeout (25 s) is usually shorter.
CHECK_TIMEOUT = 120.0


class PolkitAuthority:
    def __init__(self, bus: MessageBus, timeout: float = CHECK_TIMEOUT) -> None:
        self._bus = bus
        self._timeout = timeout

    async def check(self, sender: str, action: str, *, interactive: bool) -> None:
        """Return if polkit authorizes ``sender`` for ``action``; else NotAuthorizedError."""
        message = Message(
            destination=POLKIT_NAME,
            path=POLKIT_PATH,
            interface=POLKIT_INTERFACE,
            member="CheckAuthorization",
            signature="(sa{sv})sa{ss}us",
            body=[
                ["system-bus-name", {"name": Variant("s", sender)}],
                action,
                {},
                ALLOW_USER_INTERACTION if interactive else 0,
                "",
            ],
        )
        try:
            reply = await asyncio.wait_for(self._bus.call(message), self._timeout)
        except TimeoutError:
            raise NotAuthorizedError(f"polkit did not decide on {action} in time") from None
        if reply is None or reply.message_type is MessageType.ERROR:
            error = reply.error_name if reply is not None else "no reply"
            log.warning("polkit could not check %s for %s: %s", action, sender, error)
            raise NotAuthorizedError(f"polkit could not check {action}: {error}")
        authorized, challenge, _details = reply.body[0]
        if authorized:
            return
        if challenge:
            raise NotAuthorizedError(
                f"{action} needs authentication; allow interactive authorization "
                "(busctl --allow-interactive-authorization=yes) or ask an administrator"
            )
        raise NotAuthorizedError(f"not authorized for {action}")
