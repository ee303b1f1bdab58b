"""`hal0ctl`: the admin's command line for hal0d."""

import argparse
import sys
from collections.abc import Sequence

from hal0d import __version__
from hal0d.cli import check_config, dispatch


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hal0ctl",
        description="Inspect and control hal0d, the local LLM slot manager.",
    )
    parser.add_argument("--version", action="version", version=f"hal0ctl {__version__}")
    subcommands = parser.add_subparsers(title="commands", metavar="COMMAND")
    check_config.add_parser(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
