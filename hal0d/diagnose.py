"""hal0d's own checks, for `hal0ctl doctor` (the bus method `Diagnose`).

Cheap and read-only: the configuration on disk read again (what a reload would find), the
llama-server binary (an executable file with a program's magic; it is not run), and per slot
the model file (present and of the configured size: one stat, never a re-hash), the unit's
state as hal0d sees it and, when it is up, the endpoint's /health.
"""

import asyncio
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hal0d.config import Config, Severity, load_config
from hal0d.slots.probe import HttpProbe
from hal0d.slots.state import SlotState
from hal0d.slots.view import SlotView
from hal0d.store.layout import Layout

_PROGRAM_MAGIC = (b"\x7fELF", b"#!")
_UP = (SlotState.READY, SlotState.SERVING, SlotState.IDLE, SlotState.WARMING)


class Verdict(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    slot: str  # "" for hal0d as a whole
    check: str  # config, llama-server, model, unit, health
    verdict: Verdict
    message: str


def check_llama_server(path: Path) -> Finding:
    def found(verdict: Verdict, message: str) -> Finding:
        return Finding("", "llama-server", verdict, message)

    try:
        with path.open("rb") as binary:
            magic = binary.read(4)
    except OSError as error:
        return found(
            Verdict.ERROR,
            f"{path}: {error.strerror}; install llama-server or set llama_server in hal0.toml",
        )
    if not os.access(path, os.X_OK):
        return found(Verdict.ERROR, f"{path} is not executable; chmod +x it")
    if not magic.startswith(_PROGRAM_MAGIC):
        return found(Verdict.ERROR, f"{path} is not a program (no ELF or #! header)")
    return found(Verdict.OK, f"{path} found and executable")


def check_config_on_disk(config: Config) -> list[Finding]:
    """What a reload would find now: the problems of the files as they are on disk."""
    _fresh, problems = load_config(config.config_dir)
    findings = []
    for problem in problems:
        name = problem.file.stem if problem.file.parent.name == "slots" else ""
        verdict = Verdict.ERROR if problem.severity is Severity.ERROR else Verdict.WARNING
        findings.append(Finding(name, "config", verdict, str(problem)))
    for name in config.slots:
        if not any(f.slot == name for f in findings):
            findings.append(Finding(name, "config", Verdict.OK, "slot file is valid"))
    return findings


def check_model(config: Config, view: SlotView) -> Finding:
    def found(verdict: Verdict, message: str) -> Finding:
        return Finding(view.name, "model", verdict, message)

    slot = config.slots.get(view.name)
    sha256 = view.sha256 or (slot.model.sha256 if slot else None)
    if not sha256:
        return found(Verdict.WARNING, f"model not resolved yet; `hal0ctl pull {view.name}`")
    path = Layout(config.global_.models_dir).model_path(sha256)
    try:
        size = path.stat().st_size
    except OSError:
        return found(Verdict.WARNING, f"model not pulled yet; `hal0ctl pull {view.name}`")
    expected = slot.model.size if slot else None
    if expected is not None and size != expected:
        return found(
            Verdict.ERROR,
            f"{path} has {size} bytes, the configuration says {expected}; "
            f"remove it and `hal0ctl pull {view.name}`",
        )
    return found(Verdict.OK, f"{path} present ({size} bytes)")


def check_unit(view: SlotView) -> Finding:
    if view.state is SlotState.ERROR:
        return Finding(
            view.name,
            "unit",
            Verdict.ERROR,
            f"{view.unit} is in error: {view.last_error or 'no reason given'}; "
            f"`hal0ctl logs {view.name}`, then `hal0ctl load {view.name}`",
        )
    restarts = f", restarted {view.n_restarts} times" if view.n_restarts else ""
    return Finding(view.name, "unit", Verdict.OK, f"{view.unit}: {view.state}{restarts}")


async def check_health(view: SlotView, probe: HttpProbe) -> Finding | None:
    if view.state not in _UP or not view.endpoint:
        return None
    port = int(view.endpoint.rsplit(":", 1)[1])
    result = await probe.probe(port)
    if result.health == 200:
        return Finding(view.name, "health", Verdict.OK, f"{view.endpoint}/health answers 200")
    answer = "no answer" if result.health is None else f"HTTP {result.health}"
    verdict = Verdict.WARNING if view.state is SlotState.WARMING else Verdict.ERROR
    return Finding(
        view.name,
        "health",
        verdict,
        f"{view.endpoint}/health: {answer}; `hal0ctl logs {view.name}`",
    )


async def diagnose(config: Config, views: dict[str, SlotView]) -> list[Finding]:
    findings = [check_llama_server(config.global_.llama_server)]
    findings += await asyncio.to_thread(check_config_on_disk, config)
    probe = HttpProbe()
    try:
        for name in sorted(views):
            view = views[name]
            findings.append(await asyncio.to_thread(check_model, config, view))
            findings.append(check_unit(view))
            health = await check_health(view, probe)
            if health is not None:
                findings.append(health)
    finally:
        await probe.close()
    order = {"": 0} | {name: i + 1 for i, name in enumerate(sorted(views))}
    return sorted(findings, key=lambda f: order.get(f.slot, len(order)))
