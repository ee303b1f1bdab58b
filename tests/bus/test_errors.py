"""Error names a client can branch on (InterfaceRevision 2), read with dbus-fast as a client
would: NoModel, NothingToCancel, InsufficientMemory and InvalidArgument where the first
revision said Busy, Unit or InvalidName; LoadWithOptions' force; and LastErrorName beside
LastError, so an applet tells a checksum failure from a network one without parsing English."""

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from tests.bus.harness import (
    Daemon,
    ThrottledServer,
    busctl,
    start_daemon,
    wait_for_property,
    write_config,
)

NAME = "org.hal0.Manager1"
MANAGER = "/org/hal0/Manager1"
DATA = b"not the model it claims to be" * 1000
HUGE = 1 << 50  # no machine has this much memory available
NOWHERE = {"url": "https://127.0.0.1:1/none.gguf", "sha256": "0" * 64, "size": 1024}


@pytest.fixture
def server() -> Iterator[ThrottledServer]:
    serving = ThrottledServer(DATA, 64 << 20)
    yield serving
    serving.close()


class NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def missing() -> Iterator[str]:
    """The URL of a file a loopback server does not have (404: a Download error, not retried)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/model.gguf"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def hal0d(
    bus_address: str,
    polkit: tuple[Path, Path],
    tmp_path: Path,
    server: ThrottledServer,
    missing: str,
) -> Iterator[Daemon]:
    polkit[0].write_text("{}")
    http = {"size": len(DATA), "allow_http": True}
    slots = {
        "huge": {**NOWHERE, "size": HUGE},
        "idle": NOWHERE,
        "corrupt": {"url": server.url, "sha256": "ab" * 32, **http},
        "gone": {"url": missing, "sha256": hashlib.sha256(DATA).hexdigest(), **http},
    }
    write_config(tmp_path / "etc", tmp_path / "state", slots)
    daemon = start_daemon(bus_address, tmp_path / "etc", tmp_path)
    yield daemon
    daemon.stop()
    daemon.notify.close()


async def call(
    address: str, path: str, interface: str, member: str, sig: str = "", *body: Any
) -> Message:
    bus = await MessageBus(bus_address=address).connect()
    try:
        message = Message(
            destination=NAME, path=path, interface=interface, member=member, signature=sig,
            body=list(body),
        )  # fmt: skip
        reply = await bus.call(message)
    finally:
        bus.disconnect()
    assert reply is not None
    return reply


def slot(name: str) -> str:
    return f"{MANAGER}/slot/{name}"


def last_error_name(address: str, name: str) -> str:
    """The slot's LastErrorName once it is set, as busctl prints it."""
    return wait_for_property(
        address, slot(name), "org.hal0.Slot1", "LastErrorName", accept=lambda v: v != 's ""'
    )


async def test_restart_without_a_model_is_no_model(hal0d: Daemon, bus_address: str) -> None:
    reply = await call(bus_address, MANAGER, NAME, "Restart", "s", "idle")
    assert reply.error_name == "org.hal0.Error.NoModel", reply.body


async def test_cancel_with_nothing_running_is_nothing_to_cancel(
    hal0d: Daemon, bus_address: str
) -> None:
    reply = await call(bus_address, slot("idle"), "org.hal0.Slot1", "Cancel")
    assert reply.error_name == "org.hal0.Error.NothingToCancel", reply.body


async def test_a_model_larger_than_memory_is_insufficient_memory_and_force_loads_it(
    hal0d: Daemon, bus_address: str
) -> None:
    reply = await call(bus_address, MANAGER, NAME, "Load", "s", "huge")
    assert reply.error_name == "org.hal0.Error.InsufficientMemory", reply.body
    assert "LoadWithOptions with force=true" in reply.body[0]
    assert last_error_name(bus_address, "huge") == 's "org.hal0.Error.InsufficientMemory"'
    forced = await call(
        bus_address, MANAGER, NAME, "LoadWithOptions", "sa{sv}", "huge",
        {"force": Variant("b", True)},
    )  # fmt: skip
    assert forced.message_type is MessageType.METHOD_RETURN, forced.body  # accepted: it pulls


async def test_load_options_are_checked(hal0d: Daemon, bus_address: str) -> None:
    for options in ({"forse": Variant("b", True)}, {"force": Variant("s", "yes")}):
        reply = await call(
            bus_address, slot("huge"), "org.hal0.Slot1", "LoadWithOptions", "a{sv}", options
        )
        assert reply.error_name == "org.hal0.Error.InvalidArgument", reply.body


def test_last_error_name_tells_a_checksum_failure_from_a_network_one(
    hal0d: Daemon, bus_address: str
) -> None:
    for name in ("corrupt", "gone"):
        busctl(bus_address, "call", NAME, slot(name), "org.hal0.Slot1", "Pull")
    names = {name: last_error_name(bus_address, name) for name in ("corrupt", "gone")}
    assert names == {
        "corrupt": 's "org.hal0.Error.Integrity"',
        "gone": 's "org.hal0.Error.Download"',
    }
