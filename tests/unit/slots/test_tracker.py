"""SlotTracker: observations over time → view; traffic memory for idle timing."""

from dataclasses import replace
from pathlib import Path

from hal0d.config.model import ModelRef, SlotConfig
from hal0d.runner.metrics import Traffic
from hal0d.slots.probe import ProbeResult
from hal0d.slots.state import SlotState as S
from hal0d.slots.tracker import SlotTracker
from hal0d.store.progress import ProgressSnapshot, PullPhase
from hal0d.systemd.units import UnitProperties

CONFIG = SlotConfig(
    name="chat",
    file=Path("/etc/hal0/slots/chat.toml"),
    model=ModelRef(catalog_name="tiny", sha256="a" * 64, size=10),
    idle_after=10.0,
    unload_after=5.0,
)
ACTIVE = UnitProperties(
    unit="hal0-slot@chat.service",
    load_state="loaded",
    active_state="active",
    sub_state="running",
    result="success",
    n_restarts=0,
    exec_main_code=0,
    exec_main_status=0,
    exec_main_pid=42,
    status_text="ready: tiny on 127.0.0.1:8100",
    job_type=None,
    state_change_monotonic=50.0,
)
ACTIVATING = replace(ACTIVE, active_state="activating", sub_state="start", job_type="start")


def traffic(processing: int = 0, predicted: int = 0) -> Traffic:
    return Traffic(requests_processing=processing, tokens_predicted_total=predicted)


def tracker() -> SlotTracker:
    return SlotTracker(CONFIG, 8100)


def test_view_carries_config_and_unit_facts() -> None:
    t = tracker()
    t.observe_unit(replace(ACTIVE, n_restarts=2), now=100)
    assert t.update(100)
    view = t.view
    assert (view.state, view.endpoint, view.unit, view.n_restarts, view.model, view.sha256) == (
        S.READY,
        "http://127.0.0.1:8100",
        "hal0-slot@chat.service",
        2,
        "tiny",
        "a" * 64,
    )
    assert not t.update(100)  # unchanged view: no signal


def test_warming_probe_does_not_outlive_activation() -> None:
    t = tracker()
    t.observe_unit(ACTIVATING, now=100)
    t.observe_probe(ProbeResult(503, None), now=100)
    t.update(100)
    assert t.view.state is S.WARMING
    t.observe_unit(ACTIVE, now=101)
    t.update(101)
    assert t.view.state is S.READY


def test_short_request_between_probes_counts_as_activity() -> None:
    t = tracker()
    t.observe_unit(ACTIVE, now=100)
    t.observe_probe(ProbeResult(200, traffic(predicted=5)), now=100)
    t.update(109)
    assert t.view.state is S.READY
    t.observe_probe(ProbeResult(200, traffic(predicted=13)), now=109)  # counters moved
    t.update(115)
    assert t.view.state is S.READY
    t.update(119)
    assert t.view.state is S.IDLE
    assert not t.unload_due(123)
    assert t.unload_due(124)


def test_in_flight_is_serving_and_activity() -> None:
    t = tracker()
    t.observe_unit(ACTIVE, now=100)
    t.observe_probe(ProbeResult(200, traffic(processing=2)), now=200)
    t.update(200)
    assert (t.view.state, t.view.active_requests) == (S.SERVING, 2)
    t.observe_probe(ProbeResult(200, traffic()), now=201)
    t.update(205)
    assert t.view.state is S.READY  # idle counts from the last request, not activation


def test_never_unloads_when_pinned() -> None:
    t = SlotTracker(replace(CONFIG, unload_after=None), 8100)
    t.observe_unit(ACTIVE, now=100)
    t.update(10_000)
    assert t.view.state is S.IDLE
    assert not t.unload_due(10_000)


def test_probe_of_a_stopped_unit_is_ignored() -> None:
    t = tracker()
    t.observe_unit(replace(ACTIVE, active_state="inactive", sub_state="dead"), now=100)
    t.observe_probe(ProbeResult(200, traffic(processing=1)), now=100)
    t.update(100)
    assert t.view.state is S.OFFLINE


def test_pull_progress_shows_in_the_view() -> None:
    t = tracker()
    t.observe_pull(ProgressSnapshot(PullPhase.DOWNLOAD, 5, 10))
    t.update(100)
    view = t.view
    assert (view.state, view.phase, view.bytes_done, view.bytes_total) == (
        S.PULLING,
        PullPhase.DOWNLOAD,
        5,
        10,
    )
