"""`hal0ctl doctor`: which of five states hal0d is in, then hal0d's own checks per slot.

The five states (after contenox's modeldprobe): not installed (systemd knows no
hal0d.service), installed but not running, its unit failed, running and answering, and
unreachable (something owns org.hal0.Manager1 but does not answer). The bus name is asked
first — a daemon that answers is running whatever systemd says — then systemd, over the
same bus. Each state prints one line that says what to do, and has its own exit status.
"""

import argparse
import asyncio
import json
import sys
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TextIO

from hal0d.cli.client import PROPERTIES, Hal0Client, run
from hal0d.cli.exits import (
    DOCTOR_FAILED,
    DOCTOR_NOT_INSTALLED,
    DOCTOR_NOT_RUNNING,
    DOCTOR_OK,
    DOCTOR_PROBLEM,
    DOCTOR_UNREACHABLE,
    CliError,
)
from hal0d.cli.style import Style
from hal0d.contract import BUS_NAME, DAEMON_UNIT, MANAGER_INTERFACE

SYSTEMD = "org.freedesktop.systemd1"
SYSTEMD_PATH = "/org/freedesktop/systemd1"
DBUS = "org.freedesktop.DBus"
VERDICT_COLOURS = {"ok": "green", "warning": "yellow", "error": "red"}


@dataclass
class Report:
    daemon: str  # running, unreachable, failed, not-running, not-installed
    status: int
    message: str
    findings: list[dict[str, str]] = field(default_factory=list)


async def _bus(client: Hal0Client, member: str, signature: str, body: list[Any]) -> list[Any]:
    return await client.call(
        member, signature, body, destination=DBUS, path="/org/freedesktop/DBus", interface=DBUS
    )


async def _answers(client: Hal0Client, patience: float) -> dict[str, Any] | None:
    try:
        return await asyncio.wait_for(client.manager_properties(), patience)
    except (TimeoutError, CliError):
        return None


async def _owner(client: Hal0Client) -> str:
    try:
        (pid,) = await _bus(client, "GetConnectionUnixProcessID", "s", [BUS_NAME])
    except CliError:
        return "a process"
    return f"process {pid}"


async def _systemd(client: Hal0Client, path: str, interface: str, member: str, *args: str) -> Any:
    (value,) = await client.call(
        member, "s" * len(args), list(args), destination=SYSTEMD, path=path, interface=interface
    )
    return value


async def _unit(client: Hal0Client, patience: float) -> dict[str, Any] | None:
    """hal0d.service's LoadState, ActiveState and Result; None if systemd is not there."""

    async def ask() -> dict[str, Any]:
        path = await _systemd(client, SYSTEMD_PATH, SYSTEMD + ".Manager", "LoadUnit", DAEMON_UNIT)
        values = await _systemd(client, path, PROPERTIES, "GetAll", SYSTEMD + ".Unit")
        unit = {key: getattr(value, "value", value) for key, value in values.items()}
        with suppress(CliError):  # Result lives on the Service interface
            result = await _systemd(client, path, PROPERTIES, "Get", SYSTEMD + ".Service", "Result")
            unit["Result"] = getattr(result, "value", result)
        return unit

    try:
        return await asyncio.wait_for(ask(), patience)
    except (TimeoutError, CliError):
        return None


async def _findings(client: Hal0Client, patience: float) -> list[dict[str, str]]:
    try:
        (rows,) = await asyncio.wait_for(client.call("Diagnose"), patience)
    except TimeoutError:
        return [_finding("", "diagnose", "error", "hal0d did not finish its checks in time")]
    except CliError as error:
        return [_finding("", "diagnose", "warning", f"hal0d cannot run its checks: {error}")]
    return [_finding(*row) for row in rows]


def _finding(slot: str, check: str, verdict: str, message: str) -> dict[str, str]:
    return {"slot": slot, "check": check, "verdict": verdict, "message": message}


async def examine(client: Hal0Client, patience: float) -> Report:
    (owned,) = await _bus(client, "NameHasOwner", "s", [BUS_NAME])
    if owned:
        manager = await _answers(client, patience)
        if manager is None:
            who = await _owner(client)
            return Report(
                "unreachable",
                DOCTOR_UNREACHABLE,
                f"{BUS_NAME} is owned by {who}, but it does not answer within {patience:g} s; "
                f"see `journalctl -u {DAEMON_UNIT}`, then `systemctl restart {DAEMON_UNIT}`",
            )
        findings = await _findings(client, patience)
        worst = DOCTOR_PROBLEM if any(f["verdict"] == "error" for f in findings) else DOCTOR_OK
        return Report(
            "running",
            worst,
            f"hal0d {manager.get('Version', '?')} is running and answering: "
            f"{manager.get('Status', '')}",
            findings,
        )
    unit = await _unit(client, patience)
    if unit is not None and unit.get("LoadState") == "not-found":
        return Report(
            "not-installed",
            DOCTOR_NOT_INSTALLED,
            f"hal0d is not installed: systemd has no {DAEMON_UNIT}; install the hal0d package",
        )
    if unit is not None and unit.get("ActiveState") == "failed":
        return Report(
            "failed",
            DOCTOR_FAILED,
            f"{DAEMON_UNIT} failed ({unit.get('Result', 'unknown')}); see "
            f"`journalctl -u {DAEMON_UNIT}`, then `systemctl restart {DAEMON_UNIT}`",
        )
    state = unit.get("ActiveState", "inactive") if unit is not None else "unknown to systemd"
    return Report(
        "not-running",
        DOCTOR_NOT_RUNNING,
        f"hal0d is installed but not running ({DAEMON_UNIT}: {state}); start it with "
        f"`systemctl start {DAEMON_UNIT}` (at boot: `systemctl enable {DAEMON_UNIT}`)",
    )


def print_report(report: Report, out: TextIO) -> None:
    style = Style(out)
    print(report.message, file=out)
    for finding in report.findings:
        verdict = finding["verdict"]
        shown = style.paint(f"{verdict:<8}", VERDICT_COLOURS.get(verdict, ""))
        where = finding["slot"] or "hal0d"
        print(f"{shown}{where:<14}{finding['check']:<14}{finding['message']}", file=out)


def main(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    report: Report = run(lambda client: examine(client, args.timeout))
    if args.json:
        data = {
            "daemon": report.daemon,
            "exit_status": report.status,
            "message": report.message,
            "findings": report.findings,
            "interface": MANAGER_INTERFACE,
        }
        print(json.dumps(data, indent=2), file=out)
    else:
        print_report(report, out)
    return report.status
