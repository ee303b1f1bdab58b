"""Command-line entry points: `hal0d` (the daemon) and `hal0ctl` (the admin's client)."""

import argparse
import sys
from collections.abc import Sequence

EX_USAGE = 2


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the chosen command's ``func``; its return is the exit status."""
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return EX_USAGE
    status: int = args.func(args)
    return status
