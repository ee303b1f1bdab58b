"""Which model a slot runs, as observed and remembered — never guessed from the config.

Kept per slot in ``<state_dir>/slots/NAME.json`` (atomic JSON), so it survives hal0d restarts
and reboots:

- ``reference`` / ``resolved``: the slot's configured model reference (a catalog entry or a
  URL) and the SHA-256 it last resolved to — from the catalog, the slot file, or the file a
  ``verify = "no"`` pull produced. A reference with no digest is unknown to Prune.
- ``launched``: the model file, digest, reference and port the unit was last started with,
  tied to the unit's ``InvocationID`` once hal0d has seen the unit run.

Blocking (file I/O): call the load/save functions from a worker thread.
"""

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hal0d.config.model import SlotConfig
from hal0d.modelref import SHA256_PATTERN
from hal0d.names import validate_slot_name
from hal0d.runner import envspec
from hal0d.store.layout import read_json, write_json_atomic

SLOTS_DIR = "slots"


def reference(slot: SlotConfig) -> str:
    """The slot's model reference as a string: ``catalog:ENTRY`` or the URL."""
    model = slot.model
    return model.url if model.url is not None else f"catalog:{model.catalog_name}"


@dataclass(frozen=True)
class Launched:
    """What a unit was started with (its env file's model and port)."""

    path: str
    sha256: str  # "" if not known
    port: int
    reference: str = ""  # "" if not known (adopted from an env file only)
    invocation: str = ""  # the unit's InvocationID, once seen


@dataclass(frozen=True)
class Identity:
    reference: str = ""
    resolved: str = ""  # SHA-256 of ``reference``; "" while unknown
    launched: Launched | None = None

    def resolved_for(self, slot: SlotConfig) -> str:
        """The digest of the slot's current reference: from its file, else as resolved."""
        if slot.model.sha256:
            return slot.model.sha256
        return self.resolved if self.reference == reference(slot) else ""


def identity_path(state_dir: Path, name: str) -> Path:
    return state_dir / SLOTS_DIR / f"{validate_slot_name(name)}.json"


def load_identity(state_dir: Path, name: str) -> Identity:
    """The remembered identity; an unreadable file remembers nothing (and is logged by none)."""
    data = read_json(identity_path(state_dir, name)) or {}
    launched = _launched(data.get("launched"))
    ref, resolved = data.get("reference"), data.get("resolved")
    if not (isinstance(ref, str) and isinstance(resolved, str) and _digest_or_empty(resolved)):
        ref, resolved = "", ""
    return Identity(ref, resolved, launched)


def save_identity(state_dir: Path, name: str, identity: Identity) -> None:
    path = identity_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, asdict(identity))


def forget_identity(state_dir: Path, name: str) -> None:
    with contextlib.suppress(OSError):
        identity_path(state_dir, name).unlink(missing_ok=True)


def forget_others(state_dir: Path, names: set[str]) -> None:
    """Remove the identity files of slots that are neither configured nor running."""
    directory = state_dir / SLOTS_DIR
    for file in directory.glob("*.json") if directory.is_dir() else ():
        if file.name.removesuffix(".json") not in names:
            with contextlib.suppress(OSError):
                file.unlink()


def launched_from_env(values: dict[str, str], remembered: Launched | None) -> Launched | None:
    """What a running unit was started with, read from its env file before anything rewrites
    it; what hal0d remembers of that same start fills in the digest and reference."""
    path, port = values.get(envspec.MODEL), values.get(envspec.PORT, "")
    if not path or not port.isdigit():
        return None
    if remembered is not None and remembered.path == path and remembered.port == int(port):
        return remembered
    stem = Path(path).stem
    return Launched(path, stem if SHA256_PATTERN.fullmatch(stem) else "", int(port))


def _launched(data: Any) -> Launched | None:
    if not isinstance(data, dict):
        return None
    path, sha, port = data.get("path"), data.get("sha256"), data.get("port")
    ref, invocation = data.get("reference", ""), data.get("invocation", "")
    if not (isinstance(path, str) and isinstance(sha, str) and _digest_or_empty(sha)):
        return None
    if not isinstance(port, int) or isinstance(port, bool):
        return None
    if not (isinstance(ref, str) and isinstance(invocation, str)):
        return None
    return Launched(path, sha, port, ref, invocation)


def _digest_or_empty(value: str) -> bool:
    return value == "" or SHA256_PATTERN.fullmatch(value) is not None
