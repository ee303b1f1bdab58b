"""`hal0d`: the daemon's command line."""

import argparse
import sys
from collections.abc import Sequence

from hal0d import __version__
from hal0d.cli import check_config, dispatch, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hal0d",
        description="hal0d runs local LLMs as systemd units (hal0-slot@NAME.service) and "
        "publishes them on the system bus as org.hal0.Manager1.",
    )
    parser.add_argument("--version", action="version", version=f"hal0d {__version__}")
    subcommands = parser.add_subparsers(title="commands", metavar="COMMAND")
    check_config.add_parser(subcommands)
    run.add_parser(subcommands)
    run.add_options(parser)
    parser.set_defaults(func=run.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
