"""`hal0ctl load|unload|restart|pull|cancel SLOT`: ask hal0d, then follow the slot to the end.

hal0d's methods return once accepted; completion shows in the slot's `State` and `Phase`.
So hal0ctl subscribes first, calls, then waits on signals for the goal — showing the states
on the way (on a terminal, a progress bar while it pulls) — unless `--no-block`. On failure
it prints `LastError` and what to run next. Ctrl-C during a pull cancels the pull through the API
(the partial download stays and a later pull resumes it).
"""

import argparse
import asyncio
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from dbus_fast import Variant

from hal0d.cli.auth import polkit_agent
from hal0d.cli.client import Hal0Client, interactive, run
from hal0d.cli.exits import EX_OK, CliError
from hal0d.cli.follow import FINAL_PHASES, ProgressLine, SlotWatch
from hal0d.cli.style import Style
from hal0d.contract import ERROR_PREFIX

READY_STATES = ("ready", "serving", "idle")
# Seen on the way to ready: offline after one of these means the start was abandoned (a
# restart passes through offline before it starts again, an old error may reset to offline).
STARTING_STATES = ("pulling", "starting", "warming")


@dataclass(frozen=True)
class Goal:
    method: str
    verb: str  # for messages: "load", "unload", ...
    reached: tuple[str, ...]
    must_leave: tuple[str, ...] = ()  # states to see left before a goal state counts


GOALS = {
    "load": Goal("Load", "load", READY_STATES),
    "unload": Goal("Unload", "unload", ("offline",)),
    "restart": Goal("Restart", "restart", READY_STATES, must_leave=READY_STATES),
}


def next_steps(name: str) -> str:
    return f"see `hal0ctl logs {name}` and `hal0ctl status {name}`"


async def _ask(client: Hal0Client, method: str, name: str, force: bool = False) -> None:
    with polkit_agent():
        if force:  # only Load takes options: LoadWithOptions(s, a{sv}), InterfaceRevision 2
            options = {"force": Variant("b", True)}
            await client.call(
                "LoadWithOptions", "sa{sv}", [name, options], interactive=interactive()
            )
        else:
            await client.call(method, "s", [name], interactive=interactive())


async def change(client: Hal0Client, args: argparse.Namespace, out: TextIO) -> int:
    goal = GOALS[args.command_name]
    watch = SlotWatch(client, args.slot)
    before = dict(await watch.start())  # a copy: watch.props moves on
    try:
        await _ask(client, goal.method, args.slot, force=getattr(args, "force", False))
        if args.no_block:
            return EX_OK
        deadline = time.monotonic() + args.timeout if args.timeout else None
        return await _follow(watch, goal, before, deadline, out)
    finally:
        watch.stop()


async def _follow(
    watch: SlotWatch, goal: Goal, before: dict[str, Any], deadline: float | None, out: TextIO
) -> int:
    style = Style(out)
    name = watch.name
    left = not goal.must_leave
    moved = False  # the state changed since the call: an old "error" is not this job's
    started = False
    shown = str(before.get("State", ""))
    progress = ProgressLine(name, out)
    props = watch.props
    while True:
        state = str(props.get("State", ""))
        if state != before.get("State"):
            moved = True
        if state not in goal.must_leave:
            left = True
        if state in STARTING_STATES:
            started = True
        if state == "pulling" and style.terminal and props.get("Phase") not in FINAL_PHASES:
            progress.update(props)  # the bar on a terminal; elsewhere only the state line
            shown = state
        elif state != shown:
            if shown == "pulling" and style.terminal:
                out.write("\n")
            print(f"{name}: {style.state(state)}", file=out, flush=True)
            shown = state
        if state in goal.reached and left:
            if state in READY_STATES and props.get("Endpoint"):
                print(f"{name}: serving on {props['Endpoint']}", file=out, flush=True)
            return EX_OK
        if state == "error" and (moved or before.get("State") != "error"):
            raise CliError(
                f"{goal.verb} of slot {name} failed: {props.get('LastError') or 'no reason given'}"
                f"; {next_steps(name)}"
            )
        if state == "offline" and started and goal.reached != ("offline",):
            reason = props.get("LastError") or "it stopped"
            raise CliError(
                f"{goal.verb} of slot {name} did not finish: {reason}; {next_steps(name)}"
            )
        try:
            await watch.next(deadline)
        except TimeoutError:
            raise CliError(
                f"slot {name} is still {state} after the timeout; hal0d goes on; "
                f"follow it with `hal0ctl status {name}`"
            ) from None


async def pull(client: Hal0Client, args: argparse.Namespace, out: TextIO) -> int:
    watch = SlotWatch(client, args.slot)
    props = await watch.start()
    running = props.get("Phase") not in ("", *FINAL_PHASES)
    try:
        try:
            await _ask(client, "Pull", args.slot)
        except CliError as error:
            # Already pulling (a Load started it, or another hal0ctl): follow that pull.
            if error.dbus_name != ERROR_PREFIX + "Busy":
                raise
            running = (await client.slot_properties(args.slot)).get("Phase") not in (
                "",
                *FINAL_PHASES,
            )
            if not running:
                raise
        if args.no_block:
            return EX_OK
        return await _follow_pull(watch, running, out)
    finally:
        watch.stop()


async def _follow_pull(watch: SlotWatch, running: bool, out: TextIO) -> int:
    progress = ProgressLine(watch.name, out)
    loop = asyncio.get_running_loop()
    refused: list[BaseException] = []

    def cancelled(task: "asyncio.Task[None]") -> None:
        if not task.cancelled() and task.exception() is not None:
            refused.append(task.exception())  # type: ignore[arg-type]
            watch.wake()

    def interrupted() -> None:
        loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C ends hal0ctl at once
        print(
            f"\ncancelling the pull of {watch.name}; the partial download is kept and "
            "`hal0ctl pull` resumes it",
            file=sys.stderr,
            flush=True,
        )
        asyncio.ensure_future(_ask(watch.client, "Cancel", watch.name)).add_done_callback(cancelled)

    loop.add_signal_handler(signal.SIGINT, interrupted)
    try:
        while True:
            phase = str(watch.props.get("Phase", ""))
            if phase and phase not in FINAL_PHASES:
                running = True
            elif running and phase in FINAL_PHASES:
                break
            if refused:
                raise refused[0]
            if running:
                progress.update(watch.props)
            await watch.next()
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    props = watch.props
    progress.update(props)
    error = "" if phase == "done" else str(props.get("LastError") or phase)
    progress.finish(props, error)
    if phase == "done":
        return EX_OK
    if phase == "cancelled":
        raise CliError(f"pull of {watch.name} cancelled")
    raise CliError(f"pull of {watch.name} failed: {error}; {next_steps(watch.name)}")


async def cancel(client: Hal0Client, args: argparse.Namespace, out: TextIO) -> int:
    await _ask(client, "Cancel", args.slot)
    return EX_OK


def main(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    verb = {"pull": pull, "cancel": cancel}.get(args.command_name, change)
    status: int = run(lambda client: verb(client, args, out))
    return status
