"""`hal0ctl model list|verify|prune`: what is in the model store, re-hashing it, cleaning it.

`list` reads `ListModels` (any user). `verify` subscribes to the manager's signals, calls
`Verify` and follows `VerifyPhase` to its end — a progress bar on a terminal, JSON lines
otherwise — then names each damaged model and the slots that used it. `prune` calls
`PruneReport` and says what went, what was kept and why. Both change the store and need
polkit action org.hal0.model.manage.
"""

import argparse
import asyncio
import json
import sys
import time
from typing import Any, TextIO

from hal0d.cli.auth import polkit_agent
from hal0d.cli.client import Hal0Client, interactive, run
from hal0d.cli.exits import EX_OK, CliError
from hal0d.cli.follow import ProgressLine
from hal0d.cli.style import Style, human_bytes, table
from hal0d.contract import ERROR_PREFIX, MANAGER_INTERFACE, MANAGER_PATH, SLOT_INTERFACE

VERIFY_FINAL = ("done", "failed")


def verified_text(stamp: int) -> str:
    if not stamp:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


async def list_models(client: Hal0Client) -> list[dict[str, Any]]:
    (models,) = await client.call("ListModels")
    return [
        {"sha256": sha256, "size": size, "slots": list(slots), "last_verified": stamp}
        for sha256, size, slots, stamp in models
    ]


def print_models(models: list[dict[str, Any]], out: TextIO) -> None:
    if not models:
        print("the model store is empty", file=out)
        return
    style = Style(out)
    header = ["SHA256", "SIZE", "SLOTS", "LAST VERIFIED"]
    plain = [header] + [
        [
            model["sha256"],
            human_bytes(model["size"]),
            ", ".join(model["slots"]) or "-",
            verified_text(model["last_verified"]),
        ]
        for model in models
    ]
    rows = [[style.paint(cell, "bold") for cell in header], *plain[1:]]
    for line in table(rows, plain):
        print(line, file=out)
    total = sum(model["size"] for model in models)
    print(f"{len(models)} model(s), {human_bytes(total)}", file=out)


async def _call(client: Hal0Client, member: str, signature: str = "", *body: Any) -> list[Any]:
    with polkit_agent():
        return await client.call(member, signature, list(body), interactive=interactive())


class ManagerWatch:
    """The manager's Verify* properties, as their PropertiesChanged signals bring them."""

    def __init__(self, client: Hal0Client) -> None:
        self.client = client
        self.props: dict[str, Any] = {}
        self._updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def start(self) -> None:
        await self.client.watch_properties(MANAGER_PATH)
        self._context = self.client.on_signal(self._on_signal)
        self._context.__enter__()

    def stop(self) -> None:
        self._context.__exit__(None, None, None)

    def _on_signal(self, path: str, event: dict[str, Any]) -> None:
        changed = event.get("changed") or {}
        ours = path == MANAGER_PATH and event.get("interface") == MANAGER_INTERFACE
        if ours and "VerifyPhase" in changed:  # the Verify* group travels together
            self._updates.put_nowait(changed)

    async def next(self) -> dict[str, Any]:
        changed = await self._updates.get()
        self.props.update(changed)
        return changed


async def verify(client: Hal0Client, sha256: str, out: TextIO) -> int:
    watch = ManagerWatch(client)
    await watch.start()  # before the call: no change of this run is missed
    try:
        try:
            await _call(client, "Verify", "s", sha256)
        except CliError as error:
            running = await client.manager_properties()
            if error.dbus_name != ERROR_PREFIX + "Busy" or running["VerifyPhase"] != "verify":
                raise
            print("a verify is running already; following it", file=sys.stderr)
            watch.props.update(running)
        return await _follow(client, watch, out)
    finally:
        watch.stop()


async def _follow(client: Hal0Client, watch: ManagerWatch, out: TextIO) -> int:
    progress = ProgressLine("verify", out)
    terminal = progress.style.terminal
    while watch.props.get("VerifyPhase") not in VERIFY_FINAL:
        await watch.next()
        props = watch.props
        if terminal:
            progress.update(_as_pull(props))
        else:
            print(json.dumps(_record(props)), file=out, flush=True)
    if terminal and progress.drawn:
        out.write("\n")
    props = watch.props
    damaged = list(props.get("VerifyDamaged", []))
    if props["VerifyPhase"] == "failed":
        raise CliError("verify failed; see `journalctl -u hal0d` for why")
    if not damaged:
        if terminal:
            checked = human_bytes(int(props.get("VerifyBytesDone", 0)))
            print(f"verified {checked}: every model is intact", file=out)
        return EX_OK
    users = await _slots_by_model(client)
    lines = []
    for digest in damaged:
        slots = users.get(digest, [])
        restore = "; ".join(f"hal0ctl pull {slot}" for slot in slots)
        then = f"restore it with: {restore}" if slots else "no slot uses it"
        lines.append(f"  {digest}: moved to quarantine; {then}")
    raise CliError(f"verify found {len(damaged)} damaged model(s):\n" + "\n".join(lines))


def _as_pull(props: dict[str, Any]) -> dict[str, Any]:
    """The Verify* properties under the names the progress bar draws."""
    return {
        "Phase": props.get("VerifyPhase", ""),
        "BytesDone": props.get("VerifyBytesDone", 0),
        "BytesTotal": props.get("VerifyBytesTotal", 0),
    }


def _record(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "phase": props.get("VerifyPhase", ""),
        "bytes_done": int(props.get("VerifyBytesDone", 0)),
        "bytes_total": int(props.get("VerifyBytesTotal", 0)),
        "damaged": list(props.get("VerifyDamaged", [])),
    }


async def _slots_by_model(client: Hal0Client) -> dict[str, list[str]]:
    """The slots whose Sha256 is each digest (a damaged model is gone from ListModels)."""
    found: dict[str, list[str]] = {}
    for interfaces in (await client.managed_objects()).values():
        slot = interfaces.get(SLOT_INTERFACE)
        if slot is not None and slot.get("Sha256"):
            found.setdefault(slot["Sha256"], []).append(slot["Name"])
    return {digest: sorted(names) for digest, names in found.items()}


async def prune(client: Hal0Client, as_json: bool, out: TextIO) -> int:
    (entries,) = await _call(client, "PruneReport")
    report = [{"item": item, "bytes": size, "why": why} for item, size, why in entries]
    if as_json:
        print(json.dumps(report, indent=2), file=out)
        return EX_OK
    removed = [entry for entry in report if entry["why"].startswith("removed")]
    kept = [entry for entry in report if not entry["why"].startswith("removed")]
    for title, entries_shown in (("removed", removed), ("kept", kept)):
        if entries_shown:
            print(f"{title}:", file=out)
        for entry in entries_shown:
            why = entry["why"].split(":", 1)[-1].strip()
            print(f"  {entry['item']}  {human_bytes(entry['bytes'])}  {why}", file=out)
    freed = sum(entry["bytes"] for entry in removed)
    print(
        f"freed {human_bytes(freed)} ({len(removed)} removed, {len(kept)} kept)",
        file=out,
    )
    return EX_OK


def main(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if args.command_name == "list":
        models: list[dict[str, Any]] = run(list_models)
        if args.json:
            print(json.dumps(models, indent=2), file=out)
        else:
            print_models(models, out)
        return EX_OK
    if args.command_name == "verify":
        status: int = run(lambda client: verify(client, args.sha256 or "", out))
    else:
        status = run(lambda client: prune(client, args.json, out))
    return status
