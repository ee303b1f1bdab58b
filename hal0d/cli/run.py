"""`run`: start the daemon (the default when `hal0d` gets no command)."""

import argparse
import asyncio
import os
import sys
from typing import TextIO

from hal0d.cli.check_config import add_config_dir_option
from hal0d.cli.exits import EX_CONFIG, EX_FAILURE, EX_OK
from hal0d.config import config_dir
from hal0d.daemon import run_daemon
from hal0d.errors import ConfigError, Hal0Error
from hal0d.log import setup_logging

EX_NOPERM = 77  # sysexits.h


def add_parser(subcommands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subcommands.add_parser(
        "run",
        help="run the daemon (the default)",
        description=(
            "Run hal0d: own org.hal0.Manager1 on the system bus ($DBUS_SYSTEM_BUS_ADDRESS if "
            "set), drive hal0-slot@NAME.service units and pull models. Meant to run as "
            "hal0d.service (Type=notify) under its own user _hal0. SIGHUP reloads the "
            "configuration, SIGTERM stops the daemon and leaves the slots running."
        ),
    )
    add_options(parser)
    parser.set_defaults(func=run)


def add_options(parser: argparse.ArgumentParser) -> None:
    add_config_dir_option(parser)
    parser.add_argument(
        "--allow-root",
        action="store_true",
        help="run even as root (hal0d normally refuses: it is meant to run as _hal0)",
    )


def run(args: argparse.Namespace, err: TextIO = sys.stderr) -> int:
    if os.geteuid() == 0 and not getattr(args, "allow_root", False):
        print(
            "hal0d: refusing to run as root; it runs as user _hal0 (hal0d.service). "
            "Pass --allow-root to run as root anyway.",
            file=err,
        )
        return EX_NOPERM
    setup_logging()
    try:
        asyncio.run(run_daemon(config_dir(getattr(args, "config_dir", None))))
    except ConfigError as error:
        print(f"hal0d: {error}", file=err)
        return EX_CONFIG
    except Hal0Error as error:
        print(f"hal0d: {error}", file=err)
        return EX_FAILURE
    except KeyboardInterrupt:
        pass
    return EX_OK
