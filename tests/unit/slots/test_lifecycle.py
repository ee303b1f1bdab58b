"""Every transition of the slot lifecycle, as tables of observations → state."""

import pytest

from hal0d.slots.lifecycle import (
    FAILED_SETTLE,
    Derived,
    Observations,
    ProbeObservation,
    UnitObservation,
    crash_sentence,
    derive,
)
from hal0d.slots.state import SlotState as S
from hal0d.store.progress import ProgressSnapshot, PullPhase

NOW = 1000.0
HINT = "see journalctl -u hal0-slot@chat.service"

INACTIVE = UnitObservation("inactive", "dead")
ACTIVE = UnitObservation("active", "running", state_change=NOW - 50)
UP = ProbeObservation(health=200)


def obs(**fields: object) -> Observations:
    return Observations(slot="chat", now=fields.pop("now", NOW), **fields)  # type: ignore[arg-type]


def unit(active: str, sub: str = "", **fields: object) -> UnitObservation:
    return UnitObservation(active, sub, **fields)  # type: ignore[arg-type]


# (observations, expected state) — one row per way of getting into each state.
STATE_TABLE: list[tuple[str, Observations, S]] = [
    ("no unit loaded", obs(unit=None), S.OFFLINE),
    ("unit not found", obs(unit=unit("inactive", "dead", load_state="not-found")), S.OFFLINE),
    ("unit inactive", obs(unit=INACTIVE), S.OFFLINE),
    (
        "inactive after a clean stop",
        obs(unit=unit("inactive", "dead", result="success")),
        S.OFFLINE,
    ),
    (
        "pull checking",
        obs(unit=INACTIVE, pull=ProgressSnapshot(PullPhase.CHECKING_LOCAL)),
        S.PULLING,
    ),
    (
        "pull downloading",
        obs(unit=INACTIVE, pull=ProgressSnapshot(PullPhase.DOWNLOAD, 5, 10)),
        S.PULLING,
    ),
    ("pull verifying", obs(unit=INACTIVE, pull=ProgressSnapshot(PullPhase.VERIFY)), S.PULLING),
    (
        "pull quarantining",
        obs(unit=INACTIVE, pull=ProgressSnapshot(PullPhase.QUARANTINE)),
        S.PULLING,
    ),
    (
        "pull done, start queued",
        obs(unit=unit("inactive", "dead", job="start"), pull=ProgressSnapshot(PullPhase.DONE)),
        S.STARTING,
    ),
    ("pull cancelled", obs(unit=INACTIVE, pull=ProgressSnapshot(PullPhase.CANCELLED)), S.OFFLINE),
    (
        "pull failed",
        obs(unit=INACTIVE, pull=ProgressSnapshot(PullPhase.FAILED, error="x")),
        S.ERROR,
    ),
    (
        "pull failed while an older run serves",
        obs(unit=ACTIVE, pull=ProgressSnapshot(PullPhase.FAILED, error="x"), probe=UP),
        S.READY,
    ),
    ("start job queued", obs(unit=unit("inactive", "dead", job="start")), S.STARTING),
    ("activating, no answer yet", obs(unit=unit("activating", "start", job="start")), S.STARTING),
    (
        "activating, connection refused",
        obs(unit=unit("activating", "start"), probe=ProbeObservation(None)),
        S.STARTING,
    ),
    (
        "activating, /health 503",
        obs(unit=unit("activating", "start"), probe=ProbeObservation(503)),
        S.WARMING,
    ),
    (
        "activating, /health 200 before READY=1",
        obs(unit=unit("activating", "start"), probe=UP),
        S.WARMING,
    ),
    ("active, never probed", obs(unit=ACTIVE), S.READY),
    ("active, /health 200", obs(unit=ACTIVE, probe=UP, last_activity=NOW - 1), S.READY),
    ("active, /health 503 again", obs(unit=ACTIVE, probe=ProbeObservation(503)), S.WARMING),
    (
        "active, probe got no answer",
        obs(unit=ACTIVE, probe=ProbeObservation(None), last_activity=NOW),
        S.READY,
    ),
    ("one request in flight", obs(unit=ACTIVE, probe=ProbeObservation(200, 1)), S.SERVING),
    (
        "idle_after passed",
        obs(unit=ACTIVE, probe=UP, last_activity=NOW - 600, idle_after=600),
        S.IDLE,
    ),
    (
        "just before idle_after",
        obs(unit=ACTIVE, probe=UP, last_activity=NOW - 599, idle_after=600),
        S.READY,
    ),
    (
        "serving beats idle",
        obs(unit=ACTIVE, probe=ProbeObservation(200, 2), last_activity=NOW - 9999),
        S.SERVING,
    ),
    (
        "stop job: unloading",
        obs(unit=unit("deactivating", "stop-sigterm", job="stop")),
        S.UNLOADING,
    ),
    (
        "stop job still queued on active unit",
        obs(unit=unit("active", "running", job="stop"), probe=UP),
        S.READY,
    ),
    (
        "deactivating after a crash, no stop job",
        obs(
            unit=unit(
                "deactivating",
                "final-sigterm",
                result="exit-code",
                exec_main_code=1,
                exec_main_status=1,
            )
        ),
        S.STARTING,
    ),
    (
        "restart job: stopping the old run",
        obs(unit=unit("deactivating", "stop-sigterm", job="restart")),
        S.STARTING,
    ),
    (
        "watchdog abort in progress",
        obs(unit=unit("deactivating", "stop-watchdog", result="watchdog")),
        S.STARTING,
    ),
    (
        "transient failed before auto-restart",
        obs(
            unit=unit(
                "failed",
                "failed",
                result="exit-code",
                exec_main_code=1,
                exec_main_status=1,
                state_change=NOW,
            )
        ),
        S.STARTING,
    ),
    (
        "auto-restart timer",
        obs(unit=unit("activating", "auto-restart", result="signal", n_restarts=1)),
        S.STARTING,
    ),
    (
        "restart job queued after auto-restart",
        obs(unit=unit("inactive", "dead", job="restart", n_restarts=1)),
        S.STARTING,
    ),
    (
        "failed with restart job (hal0d Load)",
        obs(unit=unit("failed", "failed", job="start", state_change=NOW - 99)),
        S.STARTING,
    ),
    (
        "gave up: failed, settled, no job",
        obs(
            unit=unit(
                "failed",
                "failed",
                result="exit-code",
                exec_main_code=1,
                exec_main_status=1,
                n_restarts=2,
                state_change=NOW - FAILED_SETTLE,
            )
        ),
        S.ERROR,
    ),
    (
        "gave up on the first try (exit 78)",
        obs(
            unit=unit(
                "failed",
                "failed",
                result="exit-code",
                exec_main_code=1,
                exec_main_status=78,
                state_change=NOW - 5,
            )
        ),
        S.ERROR,
    ),
    (
        "gave up on start-limit-hit",
        obs(unit=unit("failed", "failed", result="start-limit-hit", state_change=NOW - 5)),
        S.ERROR,
    ),
    (
        "failed, a stop job pending",
        obs(unit=unit("failed", "failed", result="signal", job="stop", state_change=NOW)),
        S.ERROR,
    ),
    ("refused load stays offline", obs(unit=INACTIVE, refused="not enough memory"), S.OFFLINE),
    ("load accepted, start job not seen yet", obs(unit=INACTIVE, load_requested=True), S.STARTING),
    (
        "load accepted after the pull, unit never loaded",
        obs(unit=None, load_requested=True, pull=ProgressSnapshot(PullPhase.DONE)),
        S.STARTING,
    ),
    (
        "load accepted on a failed unit (reset pending)",
        obs(unit=unit("failed", "failed", state_change=NOW - 60), load_requested=True),
        S.STARTING,
    ),
]


@pytest.mark.parametrize(
    ("observations", "expected"),
    [row[1:] for row in STATE_TABLE],
    ids=[row[0] for row in STATE_TABLE],
)
def test_state_table(observations: Observations, expected: S) -> None:
    assert derive(observations).state is expected


def test_every_state_is_reachable() -> None:
    assert {row[2] for row in STATE_TABLE} == set(S)


def test_transient_failed_settles_into_error_by_the_clock_alone() -> None:
    failed = unit(
        "failed",
        "failed",
        result="exit-code",
        exec_main_code=1,
        exec_main_status=1,
        n_restarts=3,
        state_change=NOW,
    )
    first = derive(obs(unit=failed))
    assert first.state is S.STARTING
    assert first.recheck_at == NOW + FAILED_SETTLE
    later = derive(obs(unit=failed, now=first.recheck_at))
    assert later == Derived(
        S.ERROR,
        f"crashed 3 times (exit code 1); systemd stopped restarting it; {HINT}",
        last_error_name="org.hal0.Error.Unit",
    )


def test_crash_loop_seen_by_a_subscriber_is_a_legal_path() -> None:
    """The property sequence systemd 252 emits for crash → restart → crash → gave up."""
    crash = {"result": "exit-code", "exec_main_code": 1, "exec_main_status": 1}
    sequence = [
        unit("active", "running", state_change=NOW - 10),
        unit("failed", "failed", state_change=NOW, **crash),
        unit("activating", "auto-restart", n_restarts=1, state_change=NOW, **crash),
        unit("inactive", "dead", job="restart", n_restarts=1, state_change=NOW, **crash),
        unit("activating", "start", job="restart", n_restarts=1, state_change=NOW),
        unit("failed", "failed", n_restarts=2, state_change=NOW, **crash),
    ]
    states = [derive(obs(unit=u, probe=None)).state for u in sequence]
    assert states == [S.READY, S.STARTING, S.STARTING, S.STARTING, S.STARTING, S.STARTING]
    final = derive(obs(unit=sequence[-1], now=NOW + FAILED_SETTLE))
    assert final.state is S.ERROR


def test_idle_recheck_time() -> None:
    derived = derive(obs(unit=ACTIVE, probe=UP, last_activity=NOW - 10, idle_after=60))
    assert derived == Derived(S.READY, recheck_at=NOW + 50)


def test_serving_reports_active_requests() -> None:
    assert derive(obs(unit=ACTIVE, probe=ProbeObservation(200, 3))).active_requests == 3


@pytest.mark.parametrize(
    ("observed", "sentence"),
    [
        (
            unit(
                "failed",
                "failed",
                result="exit-code",
                exec_main_code=1,
                exec_main_status=1,
                n_restarts=3,
            ),
            f"crashed 3 times (exit code 1); systemd stopped restarting it; {HINT}",
        ),
        (
            unit(
                "failed",
                "failed",
                result="exit-code",
                exec_main_code=1,
                exec_main_status=137,
                n_restarts=3,
            ),
            "crashed 3 times (exit code 137: llama-server killed by signal KILL); "
            f"systemd stopped restarting it; {HINT}",
        ),
        (
            unit("failed", "failed", result="signal", exec_main_code=2, exec_main_status=9),
            f"crashed (signal KILL); systemd stopped restarting it; {HINT}",
        ),
        (
            unit("failed", "failed", result="core-dump", exec_main_code=3, exec_main_status=11),
            f"crashed (signal SEGV, core dumped); systemd stopped restarting it; {HINT}",
        ),
        (
            unit("failed", "failed", result="exit-code", exec_main_code=1, exec_main_status=78),
            f"the slot runner rejected its env file (exit code 78); {HINT}",
        ),
        (
            unit("failed", "failed", result="watchdog", n_restarts=2),
            "stopped answering its health check and was aborted by the watchdog; "
            f"systemd stopped restarting it; {HINT}",
        ),
        (
            unit("failed", "failed", result="timeout"),
            f"did not become ready within its start timeout; systemd stopped restarting it; {HINT}",
        ),
        (
            unit("failed", "failed", result="oom-kill"),
            "ran out of memory and was killed by the kernel; "
            f"systemd stopped restarting it; {HINT}",
        ),
        (
            unit("failed", "failed", result="resources"),
            "systemd could not set up the slot (missing env file /run/hal0/slots/chat.env, "
            f"or a sandbox path); {HINT}",
        ),
    ],
)
def test_gave_up_sentences(observed: UnitObservation, sentence: str) -> None:
    derived = derive(obs(unit=observed, now=observed.state_change + 60))
    assert derived.state is S.ERROR
    assert derived.last_error == sentence


def test_recovering_sentence_while_restarting() -> None:
    restarting = unit(
        "activating",
        "auto-restart",
        result="signal",
        exec_main_code=2,
        exec_main_status=9,
        n_restarts=1,
    )
    assert derive(obs(unit=restarting)).last_error == (
        f"crashed (signal KILL); systemd is restarting it; {HINT}"
    )


def test_pull_failure_sentence_is_the_pulls() -> None:
    failed = ProgressSnapshot(
        PullPhase.FAILED,
        error="model file failed verification: expected ab..., got cd...",
        error_name="org.hal0.Error.Integrity",
    )
    assert derive(obs(unit=INACTIVE, pull=failed)) == Derived(
        S.ERROR,
        "model file failed verification: expected ab..., got cd...",
        last_error_name="org.hal0.Error.Integrity",
    )


def test_refusal_is_the_last_error_of_an_offline_slot() -> None:
    refusal = "not enough memory: model needs 14.2 GiB, 6.1 GiB available"
    name = "org.hal0.Error.InsufficientMemory"
    assert derive(obs(unit=INACTIVE, refused=refusal, refused_name=name)) == Derived(
        S.OFFLINE, refusal, last_error_name=name
    )


def test_crash_sentence_names_the_unit() -> None:
    assert "hal0-slot@chat.service" in crash_sentence("chat", unit("failed"), recovering=False)


DAMAGED = "the stored model ab... is damaged: its bytes hash to cd...; hal0d moved it to quarantine"


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"unit": INACTIVE}, S.ERROR),  # it cannot start from that file
        ({"unit": None}, S.ERROR),
        ({"unit": ACTIVE, "probe": UP}, S.READY),  # it serves what it loaded
        ({"unit": ACTIVE, "probe": ProbeObservation(200, 2)}, S.SERVING),
    ],
)
def test_a_damaged_model_is_the_last_error_whatever_the_unit_does(
    fields: dict[str, object], state: S
) -> None:
    derived = derive(obs(damaged=DAMAGED, **fields))
    assert (derived.state, derived.last_error) == (state, DAMAGED)
    assert derived.last_error_name == "org.hal0.Error.Integrity"


def test_a_pull_restoring_a_damaged_model_shows_pulling_and_a_crash_keeps_its_sentence() -> None:
    running = ProgressSnapshot(PullPhase.DOWNLOAD)
    assert derive(obs(unit=INACTIVE, pull=running, damaged=DAMAGED)) == Derived(S.PULLING)
    crashed = derive(obs(unit=unit("failed"), now=NOW + 60, damaged=DAMAGED))
    assert crashed.state is S.ERROR
    assert crashed.last_error.startswith("crashed")
