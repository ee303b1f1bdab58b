"""The error boundary: hal0d errors keep their name and message, anything else becomes
org.hal0.Error.Internal with a generic text, and non-ASCII never reaches the wire."""

import logging

import pytest
from dbus_fast import DBusError

from hal0d.bus.boundary import INTERNAL_MESSAGE, boundary
from hal0d.bus.wire import wire_text
from hal0d.errors import InvalidNameError, NotAuthorizedError


async def _raise(error: Exception) -> None:
    raise error


@boundary
async def call(error: Exception) -> None:
    await _raise(error)


async def test_hal0_errors_keep_name_and_message() -> None:
    with pytest.raises(DBusError) as caught:
        await call(NotAuthorizedError("not authorized for org.hal0.model.manage"))
    assert caught.value.type == "org.hal0.Error.NotAuthorized"
    assert caught.value.text == "not authorized for org.hal0.model.manage"


async def test_anything_else_is_internal_with_a_generic_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(DBusError) as caught:
        await call(KeyError("/work/secret/path.py"))
    assert caught.value.type == "org.hal0.Error.Internal"
    assert caught.value.text == INTERNAL_MESSAGE
    assert "Traceback" in caplog.text  # the journal gets it, the caller does not


async def test_messages_are_ascii_and_bounded() -> None:
    with pytest.raises(DBusError) as caught:
        await call(InvalidNameError("'\u00e9" + "x" * 5000 + "' is not a valid slot name"))
    assert caught.value.text.isascii()
    assert caught.value.text.startswith("'\\xe9xx")
    assert len(caught.value.text) <= 2000


def test_wire_text_escapes_only_non_ascii() -> None:
    assert wire_text("2 slots ready") == "2 slots ready"
    assert wire_text("caf\u00e9 \u2603") == "caf\\xe9 \\u2603"
