"""`check-config`: print every problem of a config directory; exit 78 (EX_CONFIG) on errors."""

import argparse
import sys
from pathlib import Path
from typing import TextIO

from hal0d.cli.exits import EX_CONFIG, EX_OK
from hal0d.contract import DAEMON_USER


def add_parser(subcommands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subcommands.add_parser(
        "check-config",
        help="check the configuration and print every problem",
        description=(
            "Read hal0.toml and slots/*.toml, print every error and warning with the file, "
            "the key (or line:column) and what would be valid. Exit status 78 if there is "
            "an error, 0 otherwise (warnings alone do not fail). Run as root, it also checks "
            "that the daemon's user can use every path the configuration names."
        ),
    )
    add_config_dir_option(parser)
    parser.add_argument(
        "--user",
        default=DAEMON_USER,
        metavar="USER",
        help=f"check paths as this user (default: {DAEMON_USER}, the user hal0d runs as)",
    )
    parser.set_defaults(func=run)


def add_config_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-dir",
        type=Path,
        metavar="DIR",
        # Spelt out rather than imported: hal0d.config pulls in the config reader, and
        # hal0ctl's other commands should not pay for it at start (hal0d.config.config_dir
        # is the definition).
        help="configuration directory (default: $HAL0_CONFIG_DIR, else /etc/hal0)",
    )


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from hal0d.config import Severity, config_dir, load_config  # noqa: PLC0415 - see above
    from hal0d.config.access import checker_for  # noqa: PLC0415

    directory = config_dir(args.config_dir)
    checker, note = checker_for(getattr(args, "user", DAEMON_USER))
    if note is not None:
        print(f"note: {note}", file=out)
    config, problems = load_config(directory, checker=checker)
    for problem in problems:
        print(problem, file=out)
    errors = sum(1 for p in problems if p.severity is Severity.ERROR)
    warnings = len(problems) - errors
    if config is None:
        print(f"{directory}: {errors} error(s), {warnings} warning(s)", file=out)
        return EX_CONFIG
    slots = len(config.slots)
    print(f"{directory}: OK, {slots} slot(s), {warnings} warning(s)", file=out)
    return EX_OK
