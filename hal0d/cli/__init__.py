"""Command-line entry points: `hal0d` (the daemon) and `hal0ctl` (the admin's client)."""

import argparse
import sys
from collections.abc import Sequence

from hal0d.cli.exits import EX_USAGE, CliError

EX_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the chosen command's ``func``; its return is the exit status.

    A `CliError` is printed as one plain line and becomes its exit status; a traceback is
    for bugs only."""
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return EX_USAGE
    try:
        status: int = args.func(args)
    except CliError as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return EX_INTERRUPTED
    return status
