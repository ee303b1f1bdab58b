"""hal0-router's composition root and its Type=notify lifecycle.

    python3 -m hal0d.router [--config-dir DIR]

Started by hal0-router.socket, it gets the listening socket from systemd, refuses to serve one
that is not loopback unless client keys are configured and required, connects to the system
bus, reads hal0d's slots, and sends READY=1. SIGTERM: STOPPING=1, drain, exit 0.
"""

import argparse
import asyncio
import logging
import signal
import socket
from pathlib import Path

from dbus_fast.aio import MessageBus
from dbus_fast.constants import BusType

from hal0d.config import config_dir as default_config_dir
from hal0d.config.problems import log_problems
from hal0d.log import setup_logging
from hal0d.notify import Notifier
from hal0d.router.cache import SlotCache
from hal0d.router.gate import Gates
from hal0d.router.keys import ClientKeys, load_keys
from hal0d.router.listen import ListenError, check_sockets, describe, passed_sockets
from hal0d.router.routes import Routes
from hal0d.router.server import Server
from hal0d.router.settings import ROUTER_FILE, RouterSettings, load_settings
from hal0d.router.upstream import SlotKeys, Upstream

log = logging.getLogger("hal0d.router")

EX_CONFIG = 78  # the unit does not restart on it (RestartPreventExitStatus=78)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hal0-router",
        description="One OpenAI-compatible endpoint for every hal0d slot (socket-activated).",
    )
    parser.add_argument("--config-dir", type=Path, metavar="DIR", help="default: /etc/hal0")
    args = parser.parse_args(argv)
    setup_logging()
    directory = default_config_dir(args.config_dir)
    settings, problems = load_settings(directory)
    log_problems(problems, log)
    if settings is None:
        log.error("%s has errors; not starting", directory / ROUTER_FILE)
        return EX_CONFIG
    keys = load_keys(required=settings.require_key)
    if keys.problem() is not None:
        log.error("%s", keys.problem())
        return EX_CONFIG
    sockets = passed_sockets()
    try:
        check_sockets(sockets, keys)
    except ListenError as error:
        log.error("%s", error)  # noqa: TRY400 - the message is the whole story
        return EX_CONFIG
    return asyncio.run(_serve(settings, directory, sockets, keys))


async def _serve(
    settings: RouterSettings, directory: Path, sockets: list[socket.socket], keys: ClientKeys
) -> int:
    notifier = Notifier()
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    cache = SlotCache(bus)
    await cache.start()
    upstream = Upstream(SlotKeys(directory))
    routes = Routes(cache, Gates(cache, settings), upstream, keys)
    server = Server(
        routes.handle, body_limit=settings.body_limit, idle_timeout=settings.idle_timeout
    )
    await server.serve(sockets)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    lost = loop.create_task(bus.wait_for_disconnect())  # type: ignore[no-untyped-call]
    where = ", ".join(describe(s) for s in sockets)
    status = f"listening on {where}; {len(cache.slots())} slot(s)"
    notifier.ready(status + ("" if cache.hal0d_present else "; hal0d not running"))
    log.info("%s; keys %s", status, "required" if keys.required and keys.configured else
             "configured" if keys.configured else "not configured")  # fmt: skip
    stopper = loop.create_task(stop.wait())
    await asyncio.wait({stopper, lost}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if lost.done():
        log.error("lost the system bus connection; exiting so systemd restarts the router")
        code = 1
    notifier.stopping()
    await server.drain(within=settings.drain_timeout)
    await upstream.close()
    stopper.cancel()
    lost.cancel()
    if bus.connected:
        bus.disconnect()
    notifier.close()
    return code
