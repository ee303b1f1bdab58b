"""What hal0d tells the journal about a slot: one record per state change or pull end, with
its fields and, for the events an admin searches for, the fixed MESSAGE_ID; and the log
level follows log_level in the configuration."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from hal0d.config import Config, GlobalConfig
from hal0d.log import (
    MESSAGE_PULL_VERIFIED,
    MESSAGE_QUARANTINED,
    MESSAGE_SLOT_FAILED,
    MESSAGE_SLOT_READY,
    record_fields,
)
from hal0d.slot_journal import SlotJournal
from hal0d.slots.state import SlotState
from hal0d.slots.view import SlotView
from hal0d.store.progress import PullPhase

SHA = "ab" * 32
BASE = SlotView(
    name="chat",
    state=SlotState.OFFLINE,
    unit="hal0-slot@chat.service",
    model="tiny",
    sha256=SHA,
    endpoint="http://127.0.0.1:8101",
)


@dataclass
class FakeManager:
    """Stands in for hal0d.manager.Manager: only the two readings SlotJournal uses."""

    config: Config = field(default_factory=lambda: Config(config_dir=Path("/etc/hal0")))
    current: dict[str, SlotView] = field(default_factory=lambda: {"chat": BASE})

    def views(self) -> Mapping[str, SlotView]:
        return self.current


def step(manager: FakeManager, journal: SlotJournal, **changes: object) -> SlotView:
    view = replace(manager.current["chat"], **changes)  # type: ignore[arg-type]
    manager.current = {"chat": view}
    journal()
    return view


@pytest.mark.parametrize(
    ("changes", "level", "message", "message_id"),
    [
        ({"state": SlotState.STARTING}, logging.INFO, "slot chat: offline -> starting", None),
        (
            {"state": SlotState.ERROR, "last_error": "crashed 3 times"},
            logging.ERROR,
            "slot chat failed: crashed 3 times",
            MESSAGE_SLOT_FAILED,
        ),
        (
            {"phase": PullPhase.DONE, "bytes_done": 10},
            logging.INFO,
            f"slot chat: pull of tiny verified, sha256 {SHA} (10 bytes)",
            MESSAGE_PULL_VERIFIED,
        ),
        (
            {"phase": PullPhase.QUARANTINE},
            logging.WARNING,
            "slot chat: the download of tiny did not verify; moving it to quarantine",
            MESSAGE_QUARANTINED,
        ),
    ],
)
def test_one_record_per_event_with_fields(
    caplog: pytest.LogCaptureFixture,
    changes: dict[str, object],
    level: int,
    message: str,
    message_id: str | None,
) -> None:
    manager = FakeManager()
    journal = SlotJournal(manager)
    with caplog.at_level(logging.DEBUG, logger="hal0d.slots"):
        step(manager, journal, **changes)
        journal()  # nothing changed: nothing logged again
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(level, message)]
    found = record_fields(caplog.records[0])
    assert found["SLOT"] == "chat"
    assert found["MODEL_SHA256"] == SHA
    assert found.get("MESSAGE_ID") == message_id


def test_ready_after_starting_is_the_ready_event_and_traffic_is_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = FakeManager()
    journal = SlotJournal(manager)
    with caplog.at_level(logging.DEBUG, logger="hal0d.slots"):
        step(manager, journal, state=SlotState.STARTING)
        step(manager, journal, state=SlotState.READY)
        step(manager, journal, state=SlotState.SERVING)
    ready = caplog.records[1]
    assert ready.getMessage() == "slot chat ready on http://127.0.0.1:8101 (tiny)"
    assert record_fields(ready)["MESSAGE_ID"] == MESSAGE_SLOT_READY
    assert caplog.records[2].levelno == logging.DEBUG


def test_log_level_follows_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYSTEMD_LOG_LEVEL", raising=False)
    root = logging.getLogger()
    before = root.level
    try:
        manager = FakeManager(Config(Path("/etc/hal0"), GlobalConfig(log_level="warning")))
        journal = SlotJournal(manager)
        assert root.level == logging.WARNING
        manager.config = Config(Path("/etc/hal0"), GlobalConfig(log_level="debug"))
        journal()  # what the Manager does after a reload
        assert root.level == logging.DEBUG
    finally:
        root.setLevel(before)
