"""`hal0-applet` / `python -m hal0d.applet`.

Started by the XDG autostart file with --autostart: XDG autostart cannot say "only for group
hal0", so the applet checks that itself and exits quietly (status 0, nothing printed) for
everyone else. hal0d's polkit rules grant the group; other users could only watch.
"""

import argparse
import asyncio
import grp
import logging
import os
import sys
from collections.abc import Sequence

from hal0d import __version__
from hal0d.applet.app import run

GROUP = "hal0"


def in_group(name: str) -> bool:
    """Whether this process (the user's session) holds group NAME."""
    try:
        gid = grp.getgrnam(name).gr_gid
    except KeyError:
        return False
    return gid == os.getegid() or gid in os.getgroups()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hal0-applet", description="A tray icon that follows hal0d's slots live."
    )
    parser.add_argument("--version", action="version", version=f"hal0-applet {__version__}")
    parser.add_argument(
        "--autostart",
        action="store_true",
        help=f"exit quietly unless the user is in group {GROUP} (for the XDG autostart file)",
    )
    args = parser.parse_args(argv)
    if args.autostart and not in_group(GROUP):
        return 0
    logging.basicConfig(level=logging.INFO, format="hal0-applet: %(message)s", stream=sys.stderr)
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
