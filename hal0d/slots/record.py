"""One record per slot: everything hal0d knows about it. Removing a slot drops all of it.

The record holds the slot's configuration and port, the tracker that turns observations into
the public view, the remembered model identity, the running pull and a Load waiting for it,
the API key of the last start, and whether a refresh from systemd is under way.
"""

from dataclasses import replace
from pathlib import Path
from typing import Any

from hal0d.config.model import Config, ModelRef, SlotConfig
from hal0d.slots.identity import Identity, Launched, reference
from hal0d.slots.tracker import SlotTracker


class SlotRecord:
    def __init__(self, config: SlotConfig, port: int, identity: Identity | None = None) -> None:
        self.port = port  # where the next start listens
        self.tracker = SlotTracker(config, port)
        self.identity = identity or Identity()
        self.pull: Any = None  # the running PullHandle, if any
        self.pull_sha256 = ""  # the digest that pull asked for, if known
        self.pending_load: bool | None = None  # the force flag of a Load waiting for the pull
        self.api_key: str | None = None  # as passed to the unit at its last start
        self.refreshing = False
        self.refresh_again = False
        self.removed = False  # the slot file is gone; the unit is being stopped
        self.sync()

    @property
    def name(self) -> str:
        return self.tracker.name

    @property
    def config(self) -> SlotConfig:
        return self.tracker.config

    @property
    def serving(self) -> Launched | None:
        """What the running unit serves, while it is up and hal0d knows it."""
        launched = self.identity.launched
        return launched if launched is not None and self.tracker.unit_is_up else None

    @property
    def wanted_sha256(self) -> str:
        """The digest of the configured model, "" while unknown."""
        return self.identity.resolved_for(self.config)

    def reconfigure(self, config: SlotConfig, port: int) -> None:
        self.port = port
        self.tracker.reconfigure(config, port)
        self.sync()

    def resolved(self, sha256: str) -> None:
        """The configured reference resolved to ``sha256``."""
        self.identity = replace(self.identity, reference=reference(self.config), resolved=sha256)
        self.sync()

    def launching(self, path: Path, sha256: str) -> None:
        launched = Launched(str(path), sha256, self.port, reference(self.config))
        self.identity = replace(self.identity, launched=launched)
        self.sync()

    def sync(self) -> None:
        """Endpoint and Sha256 name what the unit serves while it runs, else what the config
        asks for; a configured change the running unit has not taken yet is reported."""
        serving = self.serving
        self.tracker.port = serving.port if serving is not None else self.port
        wanted = self.wanted_sha256
        self.tracker.sha256 = serving.sha256 if serving is not None else wanted
        self.tracker.pending = "" if serving is None else self._pending(serving, wanted)

    def _pending(self, serving: Launched, wanted: str) -> str:
        changes = []
        if serving.port != self.port:
            changes.append(f"port {serving.port} -> {self.port}")
        ref = reference(self.config)
        if (serving.reference and serving.reference != ref) or (
            wanted and serving.sha256 and serving.sha256 != wanted
        ):
            changes.append(f"model -> {self.config.model.label}")
        if not changes:
            return ""
        return (
            f"configuration changed ({', '.join(changes)}); the running unit keeps its "
            "model and port until the slot restarts; Restart it to apply"
        )


def unconfigured(name: str, config: Config) -> SlotRecord:
    """A record for a running unit whose slot file is gone: it is stopped, then dropped."""
    file = config.config_dir / "slots" / f"{name}.toml"
    record = SlotRecord(SlotConfig(name=name, file=file, model=ModelRef()), 0)
    record.removed = True
    return record
