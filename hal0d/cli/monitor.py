"""`hal0ctl monitor`: every change hal0d publishes, one line each, live.

Like `busctl monitor org.hal0.Manager1`, but for people and for any user: it adds match
rules (which anyone may) instead of becoming a bus monitor (which needs root). Lines:
``TIME  SLOT  Key=value ...`` (``hal0d`` for the manager); with --json one object per line.
"""

import argparse
import asyncio
import json
import signal
import sys
from datetime import datetime
from typing import Any, TextIO

from hal0d.bus.paths import slot_name_from_path
from hal0d.cli.client import Hal0Client, run
from hal0d.cli.exits import EX_OK
from hal0d.cli.style import Style, human_bytes
from hal0d.contract import BUS_NAME

DBUS = "org.freedesktop.DBus"


def describe(path: str, event: dict[str, Any]) -> dict[str, Any]:
    member = event.get("member")
    target = event.get("object", path) if member != "PropertiesChanged" else path
    slot = slot_name_from_path(str(target)) or ""
    kind = {"InterfacesAdded": "added", "InterfacesRemoved": "removed"}.get(str(member), "changed")
    changed = event.get("changed") or {}
    if kind == "added":
        changed = next(iter(changed.values()), {})  # the Slot1 properties
    return {"time": datetime.now().isoformat(timespec="milliseconds"), "slot": slot,
            "event": kind, "changed": changed}  # fmt: skip


def line(record: dict[str, Any], style: Style) -> str:
    changed = record["changed"]
    parts = [record["time"][11:], f"{record['slot'] or 'hal0d':<12}"]
    if record["event"] in ("added", "removed"):
        parts.append(f"slot {record['event']}")
    elif record["event"] != "changed":
        parts.append(f"hal0d {record['event']}")
    for key, value in sorted(changed.items()):
        shown = value
        if key == "State":
            shown = style.state(str(value))
        elif key in ("BytesDone", "BytesTotal"):
            shown = human_bytes(int(value))
        parts.append(f"{key}={shown}")
    total = int(changed.get("BytesTotal", 0) or 0)
    if total and "BytesDone" in changed:
        parts.append(f"({int(changed['BytesDone']) * 100 // total} %)")
    return "  ".join(parts)


async def follow(client: Hal0Client, as_json: bool, out: TextIO) -> int:
    style = Style(out)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await client.watch_properties()
    await client.add_match(
        f"type='signal',sender='{DBUS}',interface='{DBUS}',member='NameOwnerChanged',"
        f"arg0='{BUS_NAME}'"
    )

    def show(path: str, event: dict[str, Any]) -> None:
        if event.get("member") == "NameOwnerChanged":
            running = bool(event.get("args", ["", "", ""])[2])
            record = describe(path, event) | {"event": "started" if running else "stopped"}
        else:
            record = describe(path, event)
        print(json.dumps(record) if as_json else line(record, style), file=out, flush=True)

    with client.on_signal(show):
        watching = {"event": "watching", "service": BUS_NAME}
        text = f"watching {BUS_NAME}; Ctrl-C to stop"
        print(json.dumps(watching) if as_json else text, file=out, flush=True)
        await stop.wait()
    return EX_OK


def main(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    status: int = run(lambda client: follow(client, args.json, out))
    return status
