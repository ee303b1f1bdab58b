"""Whether the daemon's user can read the files the configuration names.

`check-config` runs as root, which reads everything; hal0d runs as ``_hal0``. A file only root
can read passes a plain check and fails in the daemon. So, when run as root, the check opens
each file in a child process that has taken on the daemon user's uid, gid and groups: the
kernel's own answer, ACLs and every directory on the way included.
"""

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

from hal0d.config.load import GLOBAL_FILE
from hal0d.config.model import Config
from hal0d.config.problems import Problems

DAEMON_USER = "_hal0"


def check_daemon_access(config: Config, user: str, problems: Problems) -> None:
    """Add an error for each configured file ``user`` cannot read (only as root)."""
    if os.geteuid() != 0:
        return
    file = config.config_dir / GLOBAL_FILE
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        problems.warning(
            file, "", f"user {user!r} does not exist, so files were not checked as that user"
        )
        return
    for key, path in _files(config):
        reason = _unreadable(path, account)
        if reason is not None:
            problems.error(
                file,
                key,
                f"{str(path)!r} cannot be read by user {user} (hal0d runs as {user}): {reason};"
                f" make it and its directories readable by {user}",
            )


def _files(config: Config) -> Iterator[tuple[str, Path]]:
    if config.global_.ca_file is not None:
        yield "ca_file", config.global_.ca_file
    for index, source in enumerate(config.global_.catalogs):
        if source.ca_file is not None:
            yield f"catalogs[{index}].ca_file", source.ca_file


def _unreadable(path: Path, account: pwd.struct_passwd) -> str | None:
    """None if ``account`` can open ``path`` for reading, else why not."""
    pid = os.fork()
    if pid == 0:  # the child: become the user, try, report through the exit status
        code = 255
        try:
            os.setgroups(os.getgrouplist(account.pw_name, account.pw_gid))
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            with path.open("rb"):
                code = 0
        except OSError as error:
            code = error.errno or 255
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return None
    return os.strerror(code) if 0 < code < 255 else f"the check failed (status {code})"
