"""hal0ctl's exit statuses (systemctl's habits, sysexits.h for configuration) and its error.

    0   ok
    1   the operation failed (the message says why)
    2   usage: a bad command line
    3   hal0d is not running (or not installed)
    4   not authorized
    78  the configuration has errors (EX_CONFIG)

`hal0ctl doctor` adds its own statuses for the daemon's states (see hal0d/cli/doctor.py).
Only the CLI's entry point turns a `CliError` into an exit; nothing below it calls sys.exit.
"""

EX_OK = 0
EX_FAILURE = 1
EX_USAGE = 2
EX_NOT_RUNNING = 3
EX_NOT_AUTHORIZED = 4
EX_CONFIG = 78

# `hal0ctl doctor`: one status per state of the daemon, the worst finding wins.
DOCTOR_OK = 0  # running and answering; every check passed (warnings allowed)
DOCTOR_PROBLEM = 1  # running, but a check found an error
DOCTOR_NOT_RUNNING = 3  # installed, not running
DOCTOR_NOT_INSTALLED = 5  # no hal0d.service
DOCTOR_FAILED = 6  # its unit failed
DOCTOR_UNREACHABLE = 7  # the bus name is owned, but nothing answers

DOCTOR_STATUS_HELP = """\
exit status:
  0   hal0d is running and answering; every check passed (warnings do not count)
  1   hal0d is running, but a check found an error
  3   hal0d is installed but not running
  5   hal0d is not installed (no hal0d.service)
  6   hal0d.service failed
  7   org.hal0.Manager1 is owned on the bus, but its owner does not answer
"""

EXIT_STATUS_HELP = """\
exit status:
  0   ok
  1   the operation failed (the message says why and what to run next)
  2   usage error
  3   hal0d is not running or not installed
  4   not authorized (polkit said no; members of group hal0 may act)
  78  the configuration has errors
"""


class CliError(Exception):
    """A failure to report in one or two plain lines and an exit status."""

    def __init__(self, message: str, status: int = EX_FAILURE, dbus_name: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.dbus_name = dbus_name  # the D-Bus error behind it, if any
