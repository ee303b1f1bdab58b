"""The Manager core, without D-Bus: status priority, aggregate progress, which polkit action
each operation needs, and reload keeping the old config on error.

`RecordingBackend` stands in for the slot supervisor where a test is about the Manager's own
rules: it records calls and lets the test set each slot's view. (The supervisor has tests of
its own, in tests/unit/slots/.)
"""

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from hal0d.config import Config, load_config
from hal0d.errors import (
    BusyError,
    ConfigError,
    InvalidNameError,
    NoSuchSlotError,
    NotAuthorizedError,
)
from hal0d.manager import Aggregate, Lifecycle, Manager, aggregate, status_text
from hal0d.slots.state import SlotState
from hal0d.slots.view import SlotListener, SlotView
from hal0d.store.progress import PullPhase

SLOT_TOML = 'url = "https://127.0.0.1:1/m.gguf"\nsha256 = "%s"\nsize = 10\n'


def view(name: str, state: SlotState = SlotState.OFFLINE, **kw: object) -> SlotView:
    return replace(SlotView(name=name, state=state, unit=f"hal0-slot@{name}.service"), **kw)  # type: ignore[arg-type]


class RecordingBackend:
    def __init__(self, names: list[str]) -> None:
        self.calls: list[tuple[str, str]] = []
        self._views = {n: view(n) for n in names}
        self._listeners: list[SlotListener] = []
        self.pull_needed = False

    def models_in_use(self) -> set[str]:
        raise AssertionError("not used by these tests")

    def mark_damaged(self, damage: object) -> None:
        raise AssertionError("not used by these tests")

    def set(self, v: SlotView) -> None:
        self._views[v.name] = v
        for listener in self._listeners:
            listener(v)

    def views(self) -> Mapping[str, SlotView]:
        return dict(self._views)

    def subscribe(self, listener: SlotListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: None

    def needs_pull(self, name: str) -> bool:
        return self.pull_needed

    def apply_config(self, config: Config) -> None:
        self._views = {n: self._views.get(n, view(n)) for n in config.slots}

    async def pull(self, name: str) -> None:
        self.calls.append(("pull", name))

    async def load(self, name: str, *, force: bool = False) -> None:
        self.calls.append(("load", name))

    async def unload(self, name: str) -> None:
        self.calls.append(("unload", name))

    async def restart(self, name: str) -> None:
        self.calls.append(("restart", name))

    async def cancel(self, name: str) -> None:
        self.calls.append(("cancel", name))


class Asked:
    """An Authorizer that records the actions asked for and denies those in ``deny``."""

    def __init__(self, deny: set[str] | None = None) -> None:
        self.actions: list[str] = []
        self._deny = deny or set()

    async def require(self, action: str) -> None:
        self.actions.append(action)
        if action in self._deny:
            raise NotAuthorizedError(f"not authorized for {action}")


def make_config(tmp_path: Path, names: list[str]) -> Config:
    (tmp_path / "slots").mkdir(exist_ok=True)
    (tmp_path / "hal0.toml").write_text('llama_server = "/bin/true"\n')
    for i, name in enumerate(names):
        (tmp_path / "slots" / f"{name}.toml").write_text(SLOT_TOML % (f"{i:x}" * 64)[:64])
    config, problems = load_config(tmp_path)
    assert config is not None, problems
    return config


STATUS_TABLE = [
    (Lifecycle.STOPPING, {"a": SlotState.ERROR}, "stopping"),
    (Lifecycle.STARTING, {"a": SlotState.ERROR}, "starting: recovering slot state"),
    (Lifecycle.RELOADING, {"a": SlotState.ERROR}, "reloading configuration"),
    (
        Lifecycle.RUNNING,
        {"a": SlotState.ERROR, "b": SlotState.READY},
        "degraded: slot in error: a (1 slot ready, 1 in error)",
    ),
    (Lifecycle.RUNNING, {"a": SlotState.READY, "b": SlotState.SERVING}, "2 slots ready"),
    (Lifecycle.RUNNING, {}, "no slots configured"),
    (Lifecycle.RUNNING, {"a": SlotState.OFFLINE}, "1 offline"),
]


@pytest.mark.parametrize(("lifecycle", "states", "expected"), STATUS_TABLE)
def test_status_priority(lifecycle: Lifecycle, states: dict[str, SlotState], expected: str) -> None:
    views = {n: view(n, s) for n, s in states.items()}
    assert status_text(lifecycle, views, Aggregate(), None) == expected


def test_status_shows_pull_percentage_and_a_llama_server_problem() -> None:
    views = {
        "a": view("a", SlotState.READY),
        "b": view("b", SlotState.READY),
        "c": view("c", SlotState.PULLING, phase=PullPhase.DOWNLOAD, bytes_done=41, bytes_total=100),
    }
    progress = aggregate(views, Aggregate())
    assert status_text(Lifecycle.RUNNING, views, progress, None) == "2 slots ready, 1 pulling 41 %"
    problem = "llama-server '/x' does not exist"
    assert status_text(Lifecycle.RUNNING, views, progress, problem).startswith(
        f"degraded: {problem} (2 slots ready"
    )


def test_aggregate_sums_running_pulls_and_keeps_the_last_final_one() -> None:
    views = {
        "a": view("a", phase=PullPhase.DOWNLOAD, bytes_done=10, bytes_total=100),
        "b": view("b", phase=PullPhase.VERIFY, bytes_done=50, bytes_total=50),
        "c": view("c", phase=PullPhase.DONE, bytes_done=7, bytes_total=7),
    }
    assert aggregate(views, Aggregate()) == Aggregate("download", 60, 150)
    last = Aggregate("done", 7, 7)
    assert aggregate({"c": views["c"]}, last) == last
    unknown = {"a": view("a", phase=PullPhase.DOWNLOAD, bytes_done=10, bytes_total=0)}
    assert aggregate(unknown, Aggregate()).bytes_total == 0


@pytest.mark.parametrize(
    ("operation", "needs_pull", "pulling", "expected"),
    [
        ("pull", False, False, ["org.hal0.model.manage"]),
        ("load", False, False, ["org.hal0.slot.manage"]),
        ("load", True, False, ["org.hal0.slot.manage", "org.hal0.model.manage"]),
        ("unload", False, False, ["org.hal0.slot.manage"]),
        ("restart", False, False, ["org.hal0.slot.manage"]),
        ("cancel", False, True, ["org.hal0.model.manage"]),
        ("cancel", False, False, ["org.hal0.slot.manage"]),
    ],
)
async def test_each_operation_asks_for_its_action(
    tmp_path: Path, operation: str, needs_pull: bool, pulling: bool, expected: list[str]
) -> None:
    backend = RecordingBackend(["a"])
    backend.pull_needed = needs_pull
    if pulling:
        backend.set(view("a", SlotState.PULLING, phase=PullPhase.DOWNLOAD))
    manager = Manager(make_config(tmp_path, ["a"]), backend, None)
    manager.set_lifecycle(Lifecycle.RUNNING)
    asked = Asked()
    await getattr(manager, operation)("a", asked)
    assert asked.actions == expected
    assert backend.calls == [(operation, "a")]


async def test_a_denied_caller_changes_nothing(tmp_path: Path) -> None:
    backend = RecordingBackend(["a"])
    backend.pull_needed = True
    manager = Manager(make_config(tmp_path, ["a"]), backend, None)
    manager.set_lifecycle(Lifecycle.RUNNING)
    with pytest.raises(NotAuthorizedError):
        await manager.load("a", Asked(deny={"org.hal0.model.manage"}))
    assert backend.calls == []


async def test_names_are_checked_before_polkit_is_asked(tmp_path: Path) -> None:
    manager = Manager(make_config(tmp_path, ["a"]), RecordingBackend(["a"]), None)
    asked = Asked()
    with pytest.raises(InvalidNameError):
        await manager.pull("../x", asked)
    with pytest.raises(NoSuchSlotError):
        await manager.pull("b", asked)
    assert asked.actions == []


async def test_reload_applies_a_good_config_and_keeps_the_old_one_on_error(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, ["a"])
    backend = RecordingBackend(["a"])
    manager = Manager(config, backend, None)
    manager.set_lifecycle(Lifecycle.RUNNING)
    (tmp_path / "slots" / "b.toml").write_text(SLOT_TOML % ("b" * 64))
    asked = Asked()
    await manager.reload(asked)
    assert asked.actions == ["org.hal0.config.reload"]
    assert set(manager.config.slots) == {"a", "b"}
    assert set(backend.views()) == {"a", "b"}
    (tmp_path / "slots" / "a.toml").write_text("url = [\n")
    with pytest.raises(ConfigError, match="keeping the previous one"):
        await manager.reload()
    assert set(manager.config.slots) == {"a", "b"}
    assert manager.lifecycle is Lifecycle.RUNNING


@pytest.mark.parametrize("operation", ["pull", "load", "unload", "restart", "cancel"])
async def test_calls_before_recovery_answer_busy(tmp_path: Path, operation: str) -> None:
    """Defect: the bus name is owned before the backend has adopted the running units;
    a mutating call then acted on incomplete knowledge."""
    backend = RecordingBackend(["a"])
    manager = Manager(make_config(tmp_path, ["a"]), backend, None)
    assert manager.lifecycle is Lifecycle.STARTING
    asked = Asked()
    with pytest.raises(BusyError, match="hal0d is starting"):
        await getattr(manager, operation)("a", asked)
    with pytest.raises(BusyError, match="hal0d is starting"):
        await manager.prune(asked)
    with pytest.raises(BusyError, match="hal0d is starting"):
        await manager.reload(asked)
    for store_call in (
        manager.models(),
        manager.verify("", asked),
        manager.delete_model("a" * 64, asked),
    ):
        with pytest.raises(BusyError, match="hal0d is starting"):
            await store_call
    with pytest.raises(BusyError, match="hal0d is starting"):
        manager.resolve_model("qwen")  # the held catalogs are not read yet
    assert (backend.calls, asked.actions) == ([], [])
    manager.set_lifecycle(Lifecycle.RUNNING)
    await getattr(manager, operation)("a", asked)
    assert backend.calls == [(operation, "a")]
