"""`hal0ctl status [SLOT]`: a table of every slot, or one slot's details; `--json` for scripts."""

import argparse
import json
import sys
from typing import Any, TextIO

from hal0d.cli.client import Hal0Client, run
from hal0d.cli.exits import EX_OK, CliError
from hal0d.cli.style import Style, human_bytes, table
from hal0d.contract import SLOT_INTERFACE


def progress_text(props: dict[str, Any]) -> str:
    """'41 % of 1.2 GiB' for a running pull, else ''."""
    phase = props.get("Phase", "")
    if props.get("State") != "pulling" or not phase:
        return ""
    done, total = int(props.get("BytesDone", 0)), int(props.get("BytesTotal", 0))
    if total:
        return f"{phase} {done * 100 // total} % of {human_bytes(total)}"
    return f"{phase} {human_bytes(done)}"


async def snapshot(client: Hal0Client) -> dict[str, Any]:
    """What `status --json` prints: the manager's properties and every slot's, by name."""
    manager = await client.manager_properties()
    objects = await client.managed_objects()
    slots = {
        props["Name"]: props
        for interfaces in objects.values()
        if (props := interfaces.get(SLOT_INTERFACE)) is not None
    }
    return {"manager": manager, "slots": dict(sorted(slots.items()))}


def print_table(data: dict[str, Any], out: TextIO) -> None:
    style = Style(out)
    manager = data["manager"]
    print(f"hal0d {manager.get('Version', '?')}: {manager.get('Status', '')}", file=out)
    if not data["slots"]:
        return
    header = ["SLOT", "STATE", "MODEL", "ENDPOINT", "RESTARTS", "LAST ERROR / PROGRESS"]
    plain_rows = [header]
    rows = [[style.paint(h, "bold") for h in header]]
    for name, props in data["slots"].items():
        note = progress_text(props) or props.get("LastError", "")
        cells = [
            name,
            props.get("State", ""),
            props.get("Model", ""),
            props.get("Endpoint", "") or "-",
            str(props.get("NRestarts", 0)),
            note,
        ]
        plain_rows.append(cells)
        rows.append([cells[0], style.state(cells[1]), *cells[2:]])
    for line in table(rows, plain_rows):
        print(line, file=out)


def print_detail(props: dict[str, Any], out: TextIO) -> None:
    style = Style(out)
    state = style.state(props.get("State", ""))
    print(f"{style.paint(props.get('Name', ''), 'bold')}: {state}", file=out)
    lines = [
        ("Unit", props.get("Unit", "")),
        ("Model", props.get("Model", "")),
        ("SHA-256", props.get("Sha256", "") or "(not known yet)"),
        ("Endpoint", props.get("Endpoint", "") or "(no port yet)"),
        ("Requests", str(props.get("ActiveRequests", 0))),
        ("Restarts", str(props.get("NRestarts", 0))),
    ]
    if props.get("Phase"):
        done, total = int(props.get("BytesDone", 0)), int(props.get("BytesTotal", 0))
        of = f" of {human_bytes(total)}" if total else ""
        lines.append(("Pull", f"{props['Phase']}, {human_bytes(done)}{of}"))
    if props.get("LastError"):
        lines.append(("Last error", style.paint(props["LastError"], "red")))
    for label, value in lines:
        print(f"  {label + ':':<12}{value}", file=out)


def main(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    data: dict[str, Any] = run(snapshot)
    if args.slot is not None:
        props = data["slots"].get(args.slot)
        if props is None:
            names = ", ".join(data["slots"]) or "none"
            raise CliError(f"no slot named {args.slot!r} is configured (slots: {names})")
        if args.json:
            print(json.dumps(props, indent=2, sort_keys=True), file=out)
        else:
            print_detail(props, out)
        return EX_OK
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True), file=out)
    else:
        print_table(data, out)
    return EX_OK
