"""A slot's state as a pure function of what hal0d observes.

Inputs: the unit's properties from systemd, the slot's pull progress, the last health/traffic
probe, the time of the last traffic, what a verify found, and the clock. Output: the state, a
LastError sentence and the time at which the answer would change by the clock alone (so the
caller re-derives then).

systemd facts this encodes (v252):
- A crash passes through failed/failed before auto-restart (activating/auto-restart), with no
  job pending at that instant. So `failed` only means "gave up" once it has lasted
  FAILED_SETTLE seconds with no job pending; until then the slot is `starting`.
- When the start limit ends a crash loop, Result keeps the last failure (exit-code, signal, …),
  not start-limit-hit: "gave up" is failed/failed, settled, no job pending.
- deactivating without a stop job is crash handling (watchdog abort, final SIGTERM of the
  leftovers), not an unload.
"""

import signal
from dataclasses import dataclass, replace

from hal0d.contract import SLOT_UNIT_TEMPLATE
from hal0d.errors import Hal0Error, IntegrityError, UnitError
from hal0d.slots.state import SlotState
from hal0d.store.progress import ProgressSnapshot, PullPhase

FAILED_SETTLE = 1.0
# The runner's exit status for an unusable env file (EX_CONFIG); the unit does not retry it.
RUNNER_EXIT_CONFIG = 78
# si_code values of ExecMainCode
CLD_EXITED, CLD_KILLED, CLD_DUMPED = 1, 2, 3
STOP_JOBS = frozenset({"stop"})
START_JOBS = frozenset({"start", "restart", "try-restart", "reload-or-start", "verify-active"})


@dataclass(frozen=True)
class UnitObservation:
    active_state: str  # ActiveState: inactive, activating, active, deactivating, failed, …
    sub_state: str = ""  # SubState: dead, start, running, auto-restart, stop-sigterm, …
    result: str = "success"  # Result of the last run
    n_restarts: int = 0
    exec_main_code: int = 0  # CLD_EXITED / CLD_KILLED / CLD_DUMPED, 0 = none yet
    exec_main_status: int = 0  # exit status or signal number
    job: str | None = None  # type of the job pending on the unit, if any
    state_change: float = 0.0  # CLOCK_MONOTONIC seconds of the last state change
    load_state: str = "loaded"


@dataclass(frozen=True)
class ProbeObservation:
    health: int | None  # HTTP status of /health; None: no answer
    in_flight: int = 0  # requests_processing + requests_deferred from /metrics


@dataclass(frozen=True)
class Observations:
    slot: str
    now: float  # CLOCK_MONOTONIC seconds
    unit: UnitObservation | None = None  # None: systemd knows no such unit
    pull: ProgressSnapshot | None = None  # the pull for the current load, if any
    probe: ProbeObservation | None = None  # the last probe, taken while the unit was up
    last_activity: float | None = None  # monotonic time traffic was last seen
    idle_after: float = 600.0
    refused: str = ""  # why hal0d itself refused the last Load, if it did
    refused_name: str = ""  # the org.hal0.Error.* name of that refusal
    load_requested: bool = False  # Load accepted; systemd has not shown its start job yet
    start_failed: str = ""  # the last start job ended without starting the unit: why
    damaged: str = ""  # a verify found the slot's model damaged (now in quarantine): why


@dataclass(frozen=True)
class Derived:
    state: SlotState
    last_error: str = ""
    active_requests: int = 0
    recheck_at: float | None = None  # the answer may change by the clock alone at this time
    last_error_name: str = ""  # the org.hal0.Error.* name of last_error, "" with none


def derive(obs: Observations) -> Derived:
    derived = _derive(obs)
    if not obs.damaged or derived.state is SlotState.PULLING:
        return derived
    if derived.state is SlotState.OFFLINE:  # it cannot start from that file
        return Derived(SlotState.ERROR, obs.damaged, last_error_name=IntegrityError.dbus_name)
    if derived.last_error:
        return derived
    return replace(derived, last_error=obs.damaged, last_error_name=IntegrityError.dbus_name)


def _derive(obs: Observations) -> Derived:
    pull = obs.pull
    if pull is not None and not pull.phase.is_final:
        return Derived(SlotState.PULLING)
    unit = obs.unit
    up = unit is not None and unit.active_state in ("active", "activating", "deactivating")
    if pull is not None and pull.phase is PullPhase.FAILED and not up:
        return Derived(
            SlotState.ERROR,
            pull.error or "pulling the model failed",
            last_error_name=pull.error_name or Hal0Error.dbus_name,
        )
    idle_unit = unit is None or (unit.active_state in ("inactive", "failed") and unit.job is None)
    if obs.load_requested and idle_unit:
        return Derived(SlotState.STARTING)
    if obs.start_failed and idle_unit and (unit is None or unit.active_state != "failed"):
        return _systemd(SlotState.ERROR, obs.start_failed)
    if unit is None or unit.load_state not in ("loaded", ""):
        return _refused(obs)
    return _from_unit(obs, unit)


def _from_unit(obs: Observations, unit: UnitObservation) -> Derived:
    state = unit.active_state
    if state == "failed":
        return _failed(obs, unit)
    if state == "activating":
        return _activating(obs, unit)
    if state in ("active", "reloading"):
        return _active(obs)
    if state == "deactivating":
        return _deactivating(obs, unit)
    if unit.job in START_JOBS:  # inactive, start queued
        return _systemd(SlotState.STARTING, _recovering(obs.slot, unit))
    return _refused(obs)


def _deactivating(obs: Observations, unit: UnitObservation) -> Derived:
    if unit.job in STOP_JOBS:
        return Derived(SlotState.UNLOADING)
    # A restart job, or crash handling (watchdog abort, killing the leftovers).
    return _systemd(SlotState.STARTING, _recovering(obs.slot, unit))


def _failed(obs: Observations, unit: UnitObservation) -> Derived:
    if unit.job in START_JOBS:
        return _systemd(SlotState.STARTING, crash_sentence(obs.slot, unit, recovering=True))
    settled_at = unit.state_change + FAILED_SETTLE
    if unit.job is None and obs.now < settled_at:
        # Most likely the instant before systemd queues the auto-restart.
        sentence = crash_sentence(obs.slot, unit, recovering=True)
        return _systemd(SlotState.STARTING, sentence, recheck_at=settled_at)
    return _systemd(SlotState.ERROR, crash_sentence(obs.slot, unit, recovering=False))


def _activating(obs: Observations, unit: UnitObservation) -> Derived:
    last_error = _recovering(obs.slot, unit)
    if unit.sub_state == "auto-restart":
        return _systemd(SlotState.STARTING, last_error)
    probe = obs.probe
    if probe is not None and probe.health is not None:
        # Answering HTTP but systemd has no READY=1 yet: the model is loading.
        return _systemd(SlotState.WARMING, last_error)
    return _systemd(SlotState.STARTING, last_error)


def _active(obs: Observations) -> Derived:
    probe = obs.probe
    if probe is not None and probe.health == 503:
        return Derived(SlotState.WARMING)
    if probe is not None and probe.in_flight > 0:
        return Derived(SlotState.SERVING, active_requests=probe.in_flight)
    if obs.last_activity is None:
        return Derived(SlotState.READY)
    idle_at = obs.last_activity + obs.idle_after
    if obs.now >= idle_at:
        return Derived(SlotState.IDLE)
    return Derived(SlotState.READY, recheck_at=idle_at)


def _refused(obs: Observations) -> Derived:
    return Derived(SlotState.OFFLINE, obs.refused, last_error_name=obs.refused_name)


def _systemd(state: SlotState, sentence: str, recheck_at: float | None = None) -> Derived:
    """A state whose LastError, if any, is what systemd did with the unit."""
    name = UnitError.dbus_name if sentence else ""
    return Derived(state, sentence, recheck_at=recheck_at, last_error_name=name)


def _recovering(slot: str, unit: UnitObservation) -> str:
    if unit.result == "success":
        return ""
    return crash_sentence(slot, unit, recovering=True)


def journal_hint(slot: str) -> str:
    return f"see journalctl -u {SLOT_UNIT_TEMPLATE.format(slot)}"


def exit_description(unit: UnitObservation) -> str:
    """'exit code 1', 'signal KILL', 'exit code 137: llama-server killed by signal KILL'."""
    code, status = unit.exec_main_code, unit.exec_main_status
    if code in (CLD_KILLED, CLD_DUMPED):
        text = f"signal {_signal_name(status)}"
        return text + (", core dumped" if code == CLD_DUMPED else "")
    if code == CLD_EXITED and 128 < status <= 128 + 64:
        return f"exit code {status}: llama-server killed by signal {_signal_name(status - 128)}"
    if code == CLD_EXITED:
        return f"exit code {status}"
    return ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name.removeprefix("SIG")
    except ValueError:
        return str(number)


def start_job_sentence(slot: str, result: str) -> str:
    """LastError for a start job that ended without starting the unit."""
    unit = SLOT_UNIT_TEMPLATE.format(slot)
    return f"systemd's start job for {unit} ended with result {result!r}; {journal_hint(slot)}"


def crash_sentence(slot: str, unit: UnitObservation, *, recovering: bool) -> str:
    """LastError for a unit that failed: what happened, what systemd did, where to look."""
    hint = journal_hint(slot)
    how = exit_description(unit)
    result = unit.result
    if result == "exit-code" and unit.exec_main_status == RUNNER_EXIT_CONFIG:
        return f"the slot runner rejected its env file (exit code 78); {hint}"
    if result == "resources":
        return (
            f"systemd could not set up the slot (missing env file /run/hal0/slots/{slot}.env, "
            f"or a sandbox path); {hint}"
        )
    if result == "timeout":
        what = "did not become ready within its start timeout"
    elif result == "watchdog":
        what = "stopped answering its health check and was aborted by the watchdog"
    elif result == "oom-kill":
        what = "ran out of memory and was killed by the kernel"
    elif result == "start-limit-hit":
        what = "was started too often"
    elif unit.n_restarts > 1 and not recovering:
        # systemd counts a restart when it queues it, also the one the start limit then
        # refuses: after giving up, NRestarts is the number of crashes.
        what = f"crashed {unit.n_restarts} times" + (f" ({how})" if how else "")
    else:
        what = "crashed" + (f" ({how})" if how else "")
    if recovering:
        return f"{what}; systemd is restarting it; {hint}"
    return f"{what}; systemd stopped restarting it; {hint}"
