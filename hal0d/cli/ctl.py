"""`hal0ctl`: the admin's command line for hal0d.

Every command that reads or changes a running hal0d talks to org.hal0.Manager1 on the system
bus. This module only declares the command line (it is the man page's source); each command
lives in its own module, imported when chosen, so `hal0ctl status` does not load what
`hal0ctl check-config` needs.
"""

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TypeAlias

from hal0d import __version__
from hal0d.cli import check_config, dispatch
from hal0d.cli.exits import DOCTOR_STATUS_HELP, EXIT_STATUS_HELP

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
RAW = argparse.RawDescriptionHelpFormatter


def command(module: str, name: str = "") -> Callable[[argparse.Namespace], int]:
    """The ``main(args)`` of ``hal0d.cli.MODULE``, imported only when it runs."""

    def run(args: argparse.Namespace) -> int:
        if name:
            args.command_name = name
        main: Callable[[argparse.Namespace], int] = importlib.import_module(
            f"hal0d.cli.{module}"
        ).main
        return main(args)

    return run


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _status(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "status",
        help="show the slots (or one slot in detail)",
        description="Without SLOT: hal0d's status line and a table of every slot (state, "
        "model, endpoint, restarts, last error or pull progress). With SLOT: that slot's "
        "details. Colour only on a terminal, never with $NO_COLOR.",
    )
    parser.add_argument("slot", nargs="?", metavar="SLOT")
    _json(parser)
    parser.set_defaults(func=command("status"))


def _jobs(subcommands: Subcommands) -> None:
    verbs = {
        "load": "start the slot (pulling its model first if needed) and wait until it is ready",
        "unload": "stop the slot's unit and wait until it is offline",
        "restart": "restart the slot's unit and wait until it is ready again",
    }
    for verb, text in verbs.items():
        parser = subcommands.add_parser(
            verb,
            help=text,
            description=f"Ask hal0d to {text}, showing the states on the way. On failure "
            "print the slot's last error and what to look at next. Needs polkit action "
            "org.hal0.slot.manage (members of group hal0 have it).",
        )
        parser.add_argument("slot", metavar="SLOT")
        _wait_options(parser)
        if verb == "load":
            parser.add_argument(
                "--force",
                action="store_true",
                help="load even if hal0d judges the model too large for the memory available",
            )
        parser.set_defaults(func=command("jobs", verb))
    parser = subcommands.add_parser(
        "pull",
        help="download and verify the slot's model, with a live progress bar",
        formatter_class=RAW,
        description="""\
Ask hal0d to pull the slot's model and follow it until it is verified (or fails).
On a terminal: a progress bar (bytes, percent, rate, ETA), then the verified SHA-256.
Otherwise one JSON object per line for each progress update,
  {"slot": ..., "phase": ..., "bytes_done": ..., "bytes_total": ...}
and a last one with "sha256" (empty unless phase is "done") and "error".
Ctrl-C cancels the pull through hal0d; the partial download is kept, and the next pull
resumes it. Needs polkit action org.hal0.model.manage (members of group hal0 have it).""",
    )
    parser.add_argument("slot", metavar="SLOT")
    parser.add_argument("--no-block", action="store_true", help="return once hal0d accepted")
    parser.set_defaults(func=command("jobs", "pull"))
    parser = subcommands.add_parser(
        "cancel",
        help="cancel the slot's running pull or pending load",
        description="Cancel the slot's running pull (the partial download is kept) or its "
        "pending load.",
    )
    parser.add_argument("slot", metavar="SLOT")
    parser.set_defaults(func=command("jobs", "cancel"))


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-block", action="store_true", help="return once hal0d accepted, do not wait"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=0,
        metavar="SECONDS",
        help="give up waiting after SECONDS (exit 1; hal0d carries on); default: no limit",
    )


def _logs(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "logs",
        help="the slot's journal, with hal0d's own messages about it",
        description="Show the journal of hal0-slot@SLOT.service (llama-server's output), "
        "systemd's messages about that unit and hal0d's messages about the slot (SLOT=), "
        "interleaved by time. Any further options go to journalctl (-f, -n 50, --since "
        "today, -o json ...). Needs access to the system journal (root, or groups "
        "systemd-journal or adm).",
    )
    parser.add_argument("slot", metavar="SLOT")
    parser.add_argument("journalctl_args", nargs=argparse.REMAINDER, metavar="JOURNALCTL-OPTION")
    parser.set_defaults(func=command("logs"))


def _monitor(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "monitor",
        help="follow every change hal0d publishes, live",
        description="Print each change hal0d signals on the bus (slot states, pull phases "
        "and progress, slots added or removed), one line each, until Ctrl-C. Works for "
        "any user.",
    )
    _json(parser)
    parser.set_defaults(func=command("monitor"))


def _doctor(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "doctor",
        help="find out what is wrong, one actionable line per finding",
        formatter_class=RAW,
        description="""\
Tell apart: hal0d not installed; installed but not running; its unit failed; running but
not answering on the bus; running and answering. When it answers, print hal0d's own checks
of every slot (configuration, model present, unit state, the endpoint's /health,
llama-server found and runnable). The exit status names the worst finding.""",
        epilog=DOCTOR_STATUS_HELP,
    )
    _json(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long hal0d may take to answer before it counts as unreachable (default 5)",
    )
    parser.set_defaults(func=command("doctor"))


def _catalog(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser("catalog", help="work with model catalogs")
    verbs = parser.add_subparsers(title="catalog commands", metavar="COMMAND")
    verify = verbs.add_parser(
        "verify",
        help="check a catalog file: signature, serial and entries",
        description="Check FILE as hal0d would: its minisign signature (FILE.minisig) by a "
        "key in the keys dir, its entries, and its serial against the last one hal0d "
        "accepted. Read-only: it never records the serial.",
    )
    verify.add_argument("file", metavar="FILE")
    verify.add_argument(
        "--verify",
        choices=("signature", "checksum", "no"),
        default="signature",
        help="verify mode, as in hal0.toml (default: signature)",
    )
    check_config.add_config_dir_option(verify)
    _json(verify)
    verify.set_defaults(func=command("catalog"))
    parser.set_defaults(func=lambda _args: _usage(parser))


SLOT_HELP = """\
SOURCE is one of:
  ENTRY or CATALOG/ENTRY     an entry of a configured catalog (hal0.toml [[catalogs]])
  https://HOST/PATH          a model file; --sha256 and --size are required
  hf://ORG/REPO[@REV]/PATH   a file of a Hugging Face model repository, pinned now to the
                             commit REV (default main) names, with the SHA-256 and size the
                             hub gives: trusted on first use, verified on every pull after
                             (a revision such as refs/pr/1 is written refs%2Fpr%2F1)

Extra llama-server arguments take an equals sign, since they start with a dash:
  hal0ctl slot add chat hf://ORG/REPO/model.gguf --extra-arg=--jinja --extra-arg=-fa
"""


def _slot(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "slot",
        help="add, change, remove and list slot files (as root)",
        description="Edit /etc/hal0/slots/NAME.toml as root, keeping comments, checked as "
        "hal0d would before anything is written, then ask hal0d to reload. With hal0d "
        "not running the file is written all the same (exit 0).",
    )
    verbs = parser.add_subparsers(title="slot commands", metavar="COMMAND")
    add = verbs.add_parser(
        "add",
        help="add a slot for a model",
        formatter_class=RAW,
        description="Write slots/NAME.toml for SOURCE and the settings given, then reload.",
        epilog=SLOT_HELP,
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument("source", metavar="SOURCE")
    add.add_argument("--sha256", metavar="HEX", help="the model's SHA-256 (with a URL)")
    add.add_argument("--size", metavar="BYTES", help="the model's size in bytes (with a URL)")
    for option, what in (
        ("--context", "N: context size in tokens (--ctx-size)"),
        ("--threads", "N: CPU threads"),
        ("--gpu-layers", "N: layers offloaded to the GPU"),
        ("--port", "PORT: a fixed port (default: one from port_range)"),
        ("--idle-after", "DURATION: idle after this long without a request, e.g. 10m"),
        ("--unload-after", 'DURATION: stop the unit after this long idle, or "never"'),
    ):
        metavar, text = what.split(": ", 1)
        add.add_argument(option, metavar=metavar, help=text)
    add.add_argument("--autostart", action="store_true", help="start it when hal0d starts")
    add.add_argument(
        "--extra-arg",
        action="append",
        metavar="ARG",
        help="one more llama-server argument; repeat it; write --extra-arg=--jinja",
    )
    set_ = verbs.add_parser(
        "set",
        help="change settings of a slot: KEY=VALUE ...",
        formatter_class=RAW,
        description="""\
Set keys of slots/NAME.toml, keeping the file's comments and layout, then reload.
VALUE is typed by KEY's type in docs/config.md, not parsed as TOML: port=8101 is an
integer, idle_after=5m a string, autostart=true a boolean, extra_args='--jinja -fa'
a list (split as a shell would). An empty VALUE (KEY=) removes KEY. A change hal0d
would refuse is not written: the file stays byte for byte as it was.""",
    )
    set_.add_argument("name", metavar="NAME")
    set_.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    remove = verbs.add_parser(
        "remove",
        help="stop a slot and remove its file (the model stays)",
        description="Stop the slot through hal0d (waiting until it is offline), remove "
        "slots/NAME.toml and reload. The model stays in the store unless --delete-model.",
    )
    remove.add_argument("name", metavar="NAME")
    remove.add_argument(
        "--delete-model",
        action="store_true",
        help="also ask hal0d to delete the model (refused while anything else uses it)",
    )
    listing = verbs.add_parser("list", help="list the slot files and their models")
    _json(listing)
    for verb, sub in (("add", add), ("set", set_), ("remove", remove), ("list", listing)):
        check_config.add_config_dir_option(sub)
        sub.set_defaults(func=command("slot", verb))


def _model(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser("model", help="list, verify and prune the model store")
    verbs = parser.add_subparsers(title="model commands", metavar="COMMAND")
    listing = verbs.add_parser(
        "list",
        help="every stored model: SHA-256, size, the slots using it, when last verified",
        description="List the models in hal0d's store: SHA-256, size, the slots that use "
        "each (configured, resolved from a catalog, or running) and when its bytes were "
        "last verified (by the pull that fetched it or by `hal0ctl model verify`). Works "
        "for any user.",
    )
    _json(listing)
    listing.set_defaults(func=command("model", "list"))
    verify = verbs.add_parser(
        "verify",
        help="re-hash stored models, with live progress",
        formatter_class=RAW,
        description="""\
Ask hal0d to re-hash SHA256 (or every stored model) and follow it: a progress bar on a
terminal, otherwise one JSON object per line,
  {"phase": ..., "bytes_done": ..., "bytes_total": ..., "damaged": [...]}.
A damaged file is moved to quarantine, and every slot configured with it shows the damage
in its last error until `hal0ctl pull SLOT` restores the file; the command names those
slots and exits 1. Needs polkit action org.hal0.model.manage (group hal0 has it).""",
    )
    verify.add_argument("sha256", nargs="?", metavar="SHA256", help="one model (default: all)")
    verify.set_defaults(func=command("model", "verify"))
    prune = verbs.add_parser(
        "prune",
        help="remove unused models and stale partial downloads, saying why",
        description="Ask hal0d to remove every stored model no slot uses (configured, "
        "resolved or running) and partial downloads untouched for partial_max_age, then "
        "print what went, what was kept and why. Needs polkit action org.hal0.model.manage.",
    )
    _json(prune)
    prune.set_defaults(func=command("model", "prune"))
    parser.set_defaults(func=lambda _args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hal0ctl",
        description="Inspect and control hal0d, the local LLM slot manager, through its "
        "D-Bus API (org.hal0.Manager1 on the system bus).",
        formatter_class=RAW,
        epilog=EXIT_STATUS_HELP + "\n`hal0ctl doctor` has statuses of its own "
        "(`hal0ctl doctor --help`).",
    )
    parser.add_argument("--version", action="version", version=f"hal0ctl {__version__}")
    subcommands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _status(subcommands)
    _jobs(subcommands)
    _logs(subcommands)
    _monitor(subcommands)
    _doctor(subcommands)
    check_config.add_parser(subcommands)
    _catalog(subcommands)
    _slot(subcommands)
    _model(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
