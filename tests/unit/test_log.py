"""hal0d's logging: native journal entries with fields when stderr is the journal (each
record once), `<N>` prefixes if the journal socket is missing, plain lines on a terminal."""

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal0d.log import (
    MESSAGE_PULL_VERIFIED,
    MESSAGE_QUARANTINED,
    MESSAGE_SLOT_FAILED,
    MESSAGE_SLOT_READY,
    JournalWriter,
    fields,
    level_from,
    setup_logging,
    stderr_is_journal,
)


def log_through(
    stream_path: Path,
    journal: bool,
    monkeypatch: pytest.MonkeyPatch,
    journal_socket: Path | None = None,
) -> str:
    with stream_path.open("w") as stream:
        if journal:
            status = os.fstat(stream.fileno())
            monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino}")
        else:
            monkeypatch.delenv("JOURNAL_STREAM", raising=False)
        monkeypatch.delenv("SYSTEMD_LOG_LEVEL", raising=False)
        setup_logging("info", stream, journal_socket or stream_path.with_name("no-socket"))
        try:
            log = logging.getLogger("hal0d.test")
            log.error("slot %s failed", "chat", extra=fields(SLOT="chat"))
            log.info("ready")
            log.debug("not shown at info")
            logging.getLogger("httpx").info("HTTP Request: GET /health")
        finally:
            for handler in logging.getLogger().handlers:
                handler.close()
            logging.getLogger().handlers.clear()
    return stream_path.read_text()


def test_journal_stream_gets_priority_prefixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = log_through(tmp_path / "journal", True, monkeypatch)
    assert text.splitlines() == ["<3>hal0d.test: slot chat failed", "<6>hal0d.test: ready"]


def test_terminal_gets_plain_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = log_through(tmp_path / "tty", False, monkeypatch)
    assert text.splitlines() == ["ERROR hal0d.test: slot chat failed", "INFO hal0d.test: ready"]


def test_other_stream_is_not_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:1")
    with (tmp_path / "x").open("w") as stream:
        assert not stderr_is_journal(stream)


@pytest.mark.parametrize(
    ("env", "config", "level"),
    [
        ("", "info", logging.INFO),
        ("", "debug", logging.DEBUG),
        ("debug", "info", logging.DEBUG),
        ("err", "debug", logging.ERROR),
        ("nonsense", "warning", logging.INFO),
    ],
)
def test_systemd_log_level_overrides_config(
    env: str, config: str, level: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYSTEMD_LOG_LEVEL", env)
    assert level_from(config) == level


def parse_entry(data: bytes) -> dict[str, str]:
    """The native protocol, read back: NAME=value lines, or NAME, a length and raw bytes."""
    entry = {}
    while data:
        line, _, rest = data.partition(b"\n")
        if b"=" in line:
            name, _, value = line.partition(b"=")
            entry[name.decode()] = value.decode()
            data = rest
        else:
            size = int.from_bytes(rest[:8], "little")
            entry[line.decode()] = rest[8 : 8 + size].decode()
            data = rest[8 + size + 1 :]
    return entry


@pytest.fixture
def journal_socket(tmp_path: Path) -> Iterator[tuple[Path, socket.socket]]:
    """A datagram socket standing where journald's would, to read what hal0d sends."""
    path = tmp_path / "journal.socket"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(5)
    yield path, receiver
    receiver.close()


def received(receiver: socket.socket) -> list[dict[str, str]]:
    entries = []
    receiver.setblocking(False)
    try:
        while True:
            entries.append(parse_entry(receiver.recv(1 << 20)))
    except BlockingIOError:
        return entries


def test_journal_gets_each_record_once_with_its_fields_and_stderr_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, journal_socket: tuple[Path, socket.socket]
) -> None:
    path, receiver = journal_socket
    stderr = log_through(tmp_path / "journal", True, monkeypatch, path)
    assert stderr == ""
    entries = received(receiver)
    assert [(e["MESSAGE"], e["PRIORITY"]) for e in entries] == [
        ("hal0d.test: slot chat failed", "3"),
        ("hal0d.test: ready", "6"),
    ]
    assert entries[0]["SLOT"] == "chat"
    assert "SLOT" not in entries[1]
    assert entries[0]["SYSLOG_IDENTIFIER"] == "hal0d"
    assert entries[0]["CODE_FUNC"] == "log_through"


def send(path: Path, entry: dict[str, str]) -> None:
    writer = JournalWriter(path)
    try:
        writer.send(entry)
    finally:
        writer.close()


def test_multi_line_messages_arrive_intact(
    journal_socket: tuple[Path, socket.socket],
) -> None:
    path, receiver = journal_socket
    send(path, {"MESSAGE": "one\ntwo", "SLOT": "chat"})
    assert received(receiver) == [{"MESSAGE": "one\ntwo", "SLOT": "chat"}]


def test_an_entry_too_large_for_a_datagram_travels_in_a_memfd(
    journal_socket: tuple[Path, socket.socket],
) -> None:
    path, receiver = journal_socket
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    big = "x" * (4 << 20)
    send(path, {"MESSAGE": big})
    receiver.settimeout(5)
    _data, ancillary, _flags, _addr = receiver.recvmsg(1 << 10, socket.CMSG_SPACE(4))
    (level, kind, raw) = ancillary[0]
    assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
    fd = int.from_bytes(raw[:4], "little")
    with os.fdopen(fd, "rb") as memfd:
        memfd.seek(0)
        assert parse_entry(memfd.read()) == {"MESSAGE": big}


@pytest.mark.parametrize("name", ["slot", "1SLOT", "_SLOT", "SLOT-NAME", "S" * 65, "", "SLÖT"])
def test_field_names_journald_would_drop_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="would be dropped by journald"):
        fields(**{name: "x"})


def test_field_names_journald_keeps_are_accepted() -> None:
    assert fields(SLOT="chat", MODEL_SHA256="ab", S2="x", **{"S" * 64: 1}) == {
        "journal_fields": {"SLOT": "chat", "MODEL_SHA256": "ab", "S2": "x", "S" * 64: "1"}
    }


def test_message_ids_are_distinct_128_bit_ids() -> None:
    ids = [MESSAGE_SLOT_READY, MESSAGE_SLOT_FAILED, MESSAGE_PULL_VERIFIED, MESSAGE_QUARANTINED]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
