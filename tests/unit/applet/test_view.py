"""What the tray shows, from slot states alone."""

import pytest

from hal0d.applet.view import (
    ICON_BUSY,
    ICON_ERROR,
    ICON_IDLE,
    ICON_NOT_RUNNING,
    ICON_UP,
    Slot,
    icon_and_status,
    notification,
    tooltip,
)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["offline", "idle"], (ICON_IDLE, "Active")),
        ([], (ICON_IDLE, "Active")),
        (["offline", "ready"], (ICON_UP, "Active")),
        (["serving", "idle"], (ICON_UP, "Active")),
        (["ready", "pulling"], (ICON_BUSY, "Active")),
        (["warming"], (ICON_BUSY, "Active")),
        (["unloading", "ready"], (ICON_BUSY, "Active")),
        (["pulling", "error"], (ICON_ERROR, "NeedsAttention")),
    ],
)
def test_icon_follows_the_most_urgent_slot(states: list[str], expected: tuple[str, str]) -> None:
    slots = [Slot(f"s{i}", state) for i, state in enumerate(states)]
    assert icon_and_status(slots) == expected


def test_hal0d_not_running_stays_visible() -> None:
    assert icon_and_status(None) == (ICON_NOT_RUNNING, "Active")
    assert tooltip(None) == ("hal0d", "hal0d not running")


def test_tooltip_has_a_line_per_slot_sorted() -> None:
    chat = Slot("chat")
    pulling = {"State": "pulling", "Phase": "download", "BytesTotal": 1_000_000_000}
    chat.update(pulling | {"BytesDone": 398_000_000}, 9.5)
    chat.update({"BytesDone": 410_000_000}, 10.5)  # 12 MB in one second
    code = Slot("code", "ready")
    broken = Slot("b", "error", last_error="sha256 mismatch")
    assert tooltip([code, chat, broken]) == (
        "hal0d",
        "b: error (sha256 mismatch)\nchat: pulling 41 %, 12 MB/s\ncode: ready",
    )


def test_rate_is_forgotten_once_the_pull_ends() -> None:
    chat = Slot("chat")
    chat.update({"State": "pulling", "Phase": "download", "BytesDone": 0}, 1)
    chat.update({"BytesDone": 2_000_000}, 2)
    assert chat.rate == 2_000_000
    chat.update({"State": "offline", "Phase": "done"}, 3)
    assert chat.rate == 0
    assert tooltip([chat])[1] == "chat: offline"


def test_notifications_for_a_finished_pull_and_a_failure() -> None:
    before = Slot("chat", "pulling", "verify")
    assert notification(before, Slot("chat", "offline", "done")) == (
        "chat: model pulled",
        "The model is downloaded and verified.",
    )
    failed = Slot("chat", "error", "failed", last_error="sha256 mismatch")
    assert notification(before, failed) == ("chat: failed", "sha256 mismatch")
    # Nothing new: already in error, or a done phase seen again after a restart.
    assert notification(failed, failed) is None
    assert notification(Slot("chat", "offline", "done"), Slot("chat", "offline", "done")) is None
