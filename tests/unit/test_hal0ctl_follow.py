"""How load/unload/restart decide they are done: state sequences as hal0d signals them.

`Replay` stands in for SlotWatch's bus subscription — NOT a bus: some sequences (an old error
reset to offline before starting, a restart through offline) cannot be produced on demand by
a real daemon, and the rule that reads them is pure."""

import asyncio
import io
from typing import Any

import pytest

from hal0d.cli.exits import CliError
from hal0d.cli.jobs import GOALS, _follow


class Replay:
    def __init__(self, before: dict[str, Any], changes: list[dict[str, Any]]) -> None:
        self.name = "chat"
        self.props = dict(before)
        self._changes = list(changes)

    async def next(self, deadline: float | None = None) -> dict[str, Any]:
        if not self._changes:
            raise TimeoutError
        change = self._changes.pop(0)
        self.props.update(change)
        return change


def follow(verb: str, before: str, states: list[str], error: str = "") -> str:
    before_props = {"State": before, "LastError": "", "Endpoint": "http://127.0.0.1:8101"}
    changes: list[dict[str, Any]] = [{"State": s} for s in states]
    if error:
        changes[-1]["LastError"] = error
    out = io.StringIO()
    replay = Replay(before_props, changes)
    asyncio.run(_follow(replay, GOALS[verb], before_props, None, out))  # type: ignore[arg-type]
    return out.getvalue()


@pytest.mark.parametrize(
    ("verb", "before", "states"),
    [
        ("load", "offline", ["starting", "warming", "ready"]),
        ("load", "error", ["offline", "starting", "ready"]),  # reset-failed on the way
        ("load", "ready", []),  # already there
        ("restart", "ready", ["unloading", "offline", "starting", "ready"]),
        ("unload", "ready", ["unloading", "offline"]),
        ("load", "offline", ["pulling", "starting", "ready"]),
    ],
)
def test_reaches_the_goal(verb: str, before: str, states: list[str]) -> None:
    shown = follow(verb, before, states).splitlines()
    assert shown[-1].startswith("chat: ")
    assert [line for line in shown if not line.startswith("chat: serving")] == [
        f"chat: {s}" for s in states
    ]


@pytest.mark.parametrize(
    ("verb", "before", "states", "message"),
    [
        ("load", "offline", ["starting", "error"], "load of slot chat failed: crashed"),
        ("load", "error", ["starting", "error"], "load of slot chat failed: crashed"),
        ("load", "offline", ["starting", "offline"], "load of slot chat did not finish"),
        ("restart", "ready", ["starting", "offline"], "restart of slot chat did not finish"),
    ],
)
def test_fails_with_the_last_error(verb: str, before: str, states: list[str], message: str) -> None:
    with pytest.raises(CliError, match=message) as raised:
        follow(verb, before, states, error="crashed")
    assert "see `hal0ctl logs chat` and `hal0ctl status chat`" in str(raised.value)


def test_an_old_error_is_not_this_loads_failure() -> None:
    # Before the call the slot was in error; until it moves, that error is not an answer.
    with pytest.raises(CliError, match="still error after the timeout"):
        follow("load", "error", [])
