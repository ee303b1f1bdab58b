"""hal0ctl's command line itself: the commands bash completion offers are the parser's, the
help lists every exit status, and the status path does not import what it does not need."""

import argparse
import re
import subprocess
import sys
from pathlib import Path

from hal0d.bus.wire import text_from_wire, wire_text
from hal0d.cli.ctl import build_parser
from hal0d.cli.exits import DOCTOR_STATUS_HELP, EXIT_STATUS_HELP

COMPLETION = Path(__file__).parents[2] / "completions" / "hal0ctl"


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_completion_offers_exactly_the_parsers_commands() -> None:
    text = COMPLETION.read_text()
    match = re.search(r'local commands="([^"]+)"', text)
    assert match is not None
    assert set(match.group(1).split()) == subcommands(build_parser())


def test_completion_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(COMPLETION)], check=True)


def test_help_lists_the_exit_statuses() -> None:
    parser = build_parser()
    assert EXIT_STATUS_HELP in parser.format_help()
    for status in ("0", "1", "2", "3", "4", "78"):
        assert re.search(rf"^  {status} +\S", EXIT_STATUS_HELP, re.M), status
    doctor_help = subprocess.run(
        [sys.executable, "-m", "hal0d.cli.ctl", "doctor", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert DOCTOR_STATUS_HELP.splitlines()[1] in doctor_help
    for status in ("0", "1", "3", "5", "6", "7"):
        assert re.search(rf"^  {status} +\S", DOCTOR_STATUS_HELP, re.M), status


def test_status_does_not_import_the_config_reader() -> None:
    code = (
        "import sys\n"
        "from hal0d.cli.ctl import build_parser\n"
        "args = build_parser().parse_args(['status'])\n"
        "import hal0d.cli.status\n"
        "print(' '.join(m for m in ('tomlkit', 'httpx', 'cryptography', 'hal0d.config') "
        "if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == ""


def test_usage_errors_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hal0d.cli.ctl", "load"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "the following arguments are required: SLOT" in result.stderr


def test_hal0ctl_shows_hal0d_strings_as_they_were_before_the_wire() -> None:
    for text in ("crashed 3 times — see journalctl", "modèle ü", "emoji \U0001f600", "plain"):
        assert text_from_wire(wire_text(text)) == text
