"""`hal0ctl logs SLOT [journalctl options]`: the slot's journal and hal0d's lines about it.

journalctl gets three matches, ORed, and interleaves them by time:

- the unit's own processes: ``_SYSTEMD_UNIT=hal0-slot@SLOT.service`` (llama-server, runner);
- systemd's lines about the unit: ``_PID=1 UNIT=hal0-slot@SLOT.service``;
- hal0d's lines about the slot: ``_SYSTEMD_UNIT=hal0d.service SLOT=SLOT``. Both fields are
  required: any process can write ``SLOT=`` into the journal, only hal0d runs in its unit
  (``_SYSTEMD_UNIT`` is a trusted field, set by journald).
"""

import argparse
import grp
import os
import shutil

from hal0d.cli.exits import EX_NOT_AUTHORIZED, EX_USAGE, CliError
from hal0d.contract import DAEMON_UNIT, SLOT_UNIT_TEMPLATE
from hal0d.names import is_valid_slot_name

# Groups whose members read the whole system journal (journald's ACLs on Debian).
JOURNAL_GROUPS = ("systemd-journal", "adm", "wheel")


def journal_matches(slot: str) -> list[str]:
    unit = SLOT_UNIT_TEMPLATE.format(slot)
    return [
        f"_SYSTEMD_UNIT={unit}",
        "+",
        "_PID=1",
        f"UNIT={unit}",
        "+",
        f"_SYSTEMD_UNIT={DAEMON_UNIT}",
        f"SLOT={slot}",
    ]


def can_read_system_journal() -> bool:
    if os.geteuid() == 0:
        return True
    mine = set(os.getgroups()) | {os.getegid()}
    for name in JOURNAL_GROUPS:
        try:
            if grp.getgrnam(name).gr_gid in mine:
                return True
        except KeyError:
            continue
    return False


def main(args: argparse.Namespace) -> int:
    if not is_valid_slot_name(args.slot):
        raise CliError(f"{args.slot!r} is not a slot name", EX_USAGE)
    if not can_read_system_journal():
        raise CliError(
            "you cannot read the system journal, where the slot's logs are: ask an "
            "administrator to add you to group systemd-journal or adm "
            "(`adduser USER systemd-journal`), or run this as root",
            EX_NOT_AUTHORIZED,
        )
    journalctl = shutil.which("journalctl")
    if journalctl is None:
        raise CliError("journalctl is not installed (package systemd)")
    argv = [journalctl, *journal_matches(args.slot), *args.journalctl_args]
    os.execv(journalctl, argv)  # noqa: S606 - journalctl from PATH, our own arguments
