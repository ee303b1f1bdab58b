"""One slot's observations over time, turned into its SlotView (no I/O here).

The supervisor feeds it unit properties, probe results and pull progress as they arrive;
`lifecycle.derive` does the deciding. What the tracker adds is memory: when traffic was last
seen (in-flight requests, or any change of llama-server's monotonic counters between probes,
so a short request between two probes still counts), and whether the unit was up before.
"""

from dataclasses import replace

from hal0d.config.model import SlotConfig
from hal0d.runner.metrics import Traffic
from hal0d.slots.lifecycle import Derived, Observations, ProbeObservation, UnitObservation, derive
from hal0d.slots.probe import ProbeResult
from hal0d.slots.state import SlotState
from hal0d.slots.view import SlotView
from hal0d.store.progress import ProgressSnapshot
from hal0d.systemd.units import UnitProperties, slot_unit

UP_STATES = frozenset({"active", "activating", "reloading", "deactivating"})


def unit_observation(props: UnitProperties) -> UnitObservation:
    return UnitObservation(
        active_state=props.active_state,
        sub_state=props.sub_state,
        result=props.result,
        n_restarts=props.n_restarts,
        exec_main_code=props.exec_main_code,
        exec_main_status=props.exec_main_status,
        job=props.job_type,
        state_change=props.state_change_monotonic,
        load_state=props.load_state,
    )


class SlotTracker:
    def __init__(self, config: SlotConfig, port: int, sha256: str = "") -> None:
        # port and sha256 are what the view shows; the slot record keeps them current.
        self.config = config
        self.port = port
        self.sha256 = sha256 or (config.model.sha256 or "")
        self.unit: UnitProperties | None = None
        self.probe: ProbeObservation | None = None
        self.pull: ProgressSnapshot | None = None
        self.refused = ""
        self.refused_name = ""  # the org.hal0.Error.* name of that refusal
        self.pending = ""  # a configured change the running unit has not taken yet
        self.start_failed = ""  # the last start job ended without starting the unit
        self.damage: tuple[str, str] | None = None  # (digest, why) a verify found damaged
        self.load_requested = False  # until systemd shows the start job (or the unit up)
        self.last_activity: float | None = None
        self._activity_counters: tuple[int, int, int] | None = None
        self.derived = Derived(SlotState.OFFLINE)
        self.view = self._view(self.derived)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def unit_is_up(self) -> bool:
        return self.unit is not None and self.unit.active_state in UP_STATES

    @property
    def unit_is_running(self) -> bool:
        """Up and staying up: a StartUnit now would change nothing."""
        unit = self.unit
        if unit is None or unit.active_state not in ("active", "activating", "reloading"):
            return False
        return unit.sub_state != "auto-restart" and unit.job_type in (None, "start")

    @property
    def unit_is_active(self) -> bool:
        return self.unit is not None and self.unit.active_state == "active"

    def reconfigure(self, config: SlotConfig, port: int) -> None:
        self.config = config
        self.port = port

    def observe_unit(self, props: UnitProperties | None, now: float) -> None:
        was_active = self.unit_is_active
        old_state = None if self.unit is None else self.unit.active_state
        self.unit = props
        new_state = None if props is None else props.active_state
        if new_state != old_state:
            # A probe of the previous run or phase says nothing about this one.
            self.probe = None
        if not self.unit_is_up:
            self.probe = None
            self._activity_counters = None
        if props is not None and (props.job_type is not None or self.unit_is_up):
            self.load_requested = False
        if self.unit_is_up:
            self.start_failed = ""
        if self.unit_is_active and not was_active:
            # Newly active (or adopted): idle time counts from now, never from before.
            self.last_activity = now
        if not self.unit_is_active and was_active:
            self.last_activity = None

    def observe_probe(self, result: ProbeResult, now: float) -> None:
        if not self.unit_is_up:
            return
        traffic = result.traffic
        in_flight = 0 if traffic is None else traffic.in_flight
        self.probe = ProbeObservation(result.health, in_flight)
        if traffic is not None:
            self._note_traffic(traffic, now)

    def _note_traffic(self, traffic: Traffic, now: float) -> None:
        counters = traffic.activity
        changed = self._activity_counters is not None and counters != self._activity_counters
        self._activity_counters = counters
        if traffic.in_flight or changed:
            self.last_activity = now

    def observe_pull(self, snapshot: ProgressSnapshot | None) -> None:
        self.pull = snapshot

    def observations(self, now: float) -> Observations:
        return Observations(
            slot=self.name,
            now=now,
            unit=None if self.unit is None else unit_observation(self.unit),
            pull=self.pull,
            probe=self.probe,
            last_activity=self.last_activity,
            idle_after=self.config.idle_after,
            refused=self.refused,
            refused_name=self.refused_name,
            load_requested=self.load_requested,
            start_failed=self.start_failed,
            damaged=self.damage[1] if self.damage and self.damage[0] == self.sha256 else "",
        )

    def update(self, now: float) -> bool:
        """Derive the state again; True if the public view changed."""
        self.derived = derive(self.observations(now))
        view = self._view(self.derived)
        changed = view != self.view
        self.view = view
        return changed

    def unload_due(self, now: float) -> bool:
        """Idle for unload_after: time to stop the unit (scale to zero)."""
        unload_after = self.config.unload_after
        if unload_after is None or self.derived.state is not SlotState.IDLE:
            return False
        if self.last_activity is None or (self.unit and self.unit.job_type):
            return False
        return now >= self.last_activity + self.config.idle_after + unload_after

    def unload_at(self) -> float | None:
        if self.config.unload_after is None or self.last_activity is None:
            return None
        return self.last_activity + self.config.idle_after + self.config.unload_after

    def _view(self, derived: Derived) -> SlotView:
        pull = self.pull
        view = SlotView(
            name=self.name,
            state=derived.state,
            unit=slot_unit(self.name),
            model=self.config.model.label,
            sha256=self.sha256,
            endpoint=f"http://127.0.0.1:{self.port}",
            n_restarts=0 if self.unit is None else self.unit.n_restarts,
            last_error=derived.last_error or self.pending,
            last_error_name=derived.last_error_name,
            active_requests=derived.active_requests,
            aliases=self.config.aliases,
        )
        if pull is not None:
            view = replace(
                view,
                phase=pull.phase,
                bytes_done=pull.bytes_done,
                bytes_total=pull.bytes_total,
            )
        return view
