"""sd_notify over a real AF_UNIX datagram socket, and failures that are visible."""

import asyncio
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal0d.notify import Notifier, feed_watchdog, watchdog_interval


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def test_ready_carries_the_status(notify_socket: socket.socket) -> None:
    notifier = Notifier()
    assert notifier.ready("2 slots ready")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=2 slots ready"
    notifier.close()


def test_status_is_sent_only_when_it_changes(notify_socket: socket.socket) -> None:
    notifier = Notifier()
    notifier.status("a")
    notifier.status("a")
    notifier.status("b")
    assert notify_socket.recv(4096) == b"STATUS=a"
    assert notify_socket.recv(4096) == b"STATUS=b"
    notifier.close()


def test_reloading_has_a_monotonic_timestamp(notify_socket: socket.socket) -> None:
    notifier = Notifier()
    notifier.reloading()
    notifier.close()
    fields = dict(line.split("=", 1) for line in notify_socket.recv(4096).decode().splitlines())
    assert fields["RELOADING"] == "1"
    assert int(fields["MONOTONIC_USEC"]) > 0


def test_a_failure_is_logged_not_swallowed(
    notify_socket: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier()
    notify_socket.close()
    Path(os.environ["NOTIFY_SOCKET"]).unlink()
    with caplog.at_level(logging.WARNING):
        assert not notifier.stopping()
    notifier.close()
    assert "sd_notify 'STOPPING=1' failed" in caplog.text


def test_a_missing_socket_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nothing-here"))
    with caplog.at_level(logging.WARNING):
        assert not Notifier().ready()
    assert "notify socket" in caplog.text


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not Notifier().ready()


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [("", "", None), ("0", "", None), ("30000000", "", 15.0), ("30000000", "1", None)],
)
def test_watchdog_interval_is_half_of_watchdog_usec(
    monkeypatch: pytest.MonkeyPatch, usec: str, pid: str, expected: float | None
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    monkeypatch.setenv("WATCHDOG_PID", pid)
    assert watchdog_interval() == expected


async def test_the_watchdog_is_fed_every_half_of_watchdog_usec(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "7000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise asyncio.CancelledError

    notifier = Notifier()
    with pytest.raises(asyncio.CancelledError):
        await feed_watchdog(notifier, sleep)
    notifier.close()
    assert waits == [3.5, 3.5, 3.5]
    assert [notify_socket.recv(4096) for _ in waits] == [b"WATCHDOG=1"] * 3


async def test_no_watchdog_no_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)

    async def sleep(seconds: float) -> None:
        raise AssertionError("waited although the watchdog is off")

    await feed_watchdog(Notifier(), sleep)
