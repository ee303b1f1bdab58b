"""Who is calling: the sender and interactive flag of the method call being handled.

dbus-fast does not pass the message to service methods. A message handler runs for every
incoming message just before dbus-fast dispatches it, in the same synchronous step; it stores
the caller in a ContextVar, and the task dbus-fast creates for an ``async`` method copies the
context at that moment. This works on dbus-fast 1.84.2 and 5.x alike.
"""

from contextvars import ContextVar
from dataclasses import dataclass

from dbus_fast import Message, MessageFlag, MessageType


@dataclass(frozen=True)
class Caller:
    sender: str
    interactive: bool


_current: ContextVar[Caller | None] = ContextVar("hal0d_caller", default=None)


def capture(message: Message) -> None:
    """Message handler for `MessageBus.add_message_handler`: records, never handles."""
    if message.message_type is MessageType.METHOD_CALL:
        interactive = bool(message.flags & MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION)
        _current.set(Caller(message.sender or "", interactive))


def current_caller() -> Caller | None:
    return _current.get()
