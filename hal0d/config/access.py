"""Can hal0d's user reach the files the configuration names?

The daemon runs as `DAEMON_USER`; `check-config` is usually run as root, who can read
anything, so it checks as that user instead: in a child process that takes the user's uid,
gid and groups (ACLs and every other rule of the kernel then apply as they will to the
daemon). Without root it can only check as itself, and says so. The daemon checks as itself.

Nothing here raises for a path it cannot reach: a directory on the way that the user may not
enter is a finding (named in the sentence), not a PermissionError.
"""

import grp
import json
import os
import pwd
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hal0d.contract import DAEMON_GROUP, DAEMON_USER

READ = "read"
EXECUTE = "execute"
# A directory to read is one to list and enter.
_MODES = {READ: os.R_OK, EXECUTE: os.X_OK}
_EFFECTIVE = os.access in os.supports_effective_ids


@dataclass(frozen=True)
class Need:
    """``path`` must be readable (READ) or an executable file (EXECUTE)."""

    path: Path
    how: str


def problem(need: Need) -> str | None:
    """Why the current process cannot use ``need.path``, or None if it can."""
    path = need.path
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "does not exist"
    except PermissionError:
        blocked = _closed_directory(path)
        return f"is in {str(blocked)!r}, which cannot be entered" if blocked else "cannot be read"
    except OSError as error:
        return f"cannot be checked ({error.strerror or error})"
    if need.how == EXECUTE and not stat.S_ISREG(info.st_mode):
        return "is not a file"
    mode = _MODES[need.how] | (os.X_OK if stat.S_ISDIR(info.st_mode) else 0)
    if not os.access(path, mode, effective_ids=_EFFECTIVE):
        return "is not executable" if need.how == EXECUTE else "is not readable"
    return None


def _closed_directory(path: Path) -> Path | None:
    for directory in reversed(path.parents):
        if not os.access(directory, os.X_OK, effective_ids=_EFFECTIVE):
            return directory
    return None


@dataclass(frozen=True)
class Checker:
    """Checks needs as ``user``; ``user`` is who the sentences name."""

    user: str
    switch: pwd.struct_passwd | None = None  # set: check in a child running as this user

    def problems(self, needs: Sequence[Need]) -> list[str | None]:
        if self.switch is None:
            return [problem(need) for need in needs]
        return _problems_as(self.switch, needs)


def current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def as_current_user() -> Checker:
    return Checker(current_user())


def checker_for(user: str = DAEMON_USER) -> tuple[Checker, str | None]:
    """How to check as ``user`` from this process, and a note if that is not possible."""
    me = current_user()
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return Checker(me), f"user {user!r} does not exist, so files were checked as {me}"
    if entry.pw_uid == os.geteuid():
        return Checker(user), None
    if os.geteuid() != 0:
        return Checker(me), f"files were checked as {me}, not as {user}: run as root for that"
    return Checker(user, entry), None


def groups_of(user: pwd.struct_passwd) -> tuple[int, list[int]]:
    """The gid and groups ``user`` runs with: hal0d's user as hal0d.service runs it (Group=
    plus its own group), any other user as a login would."""
    groups = os.getgrouplist(user.pw_name, user.pw_gid)
    if user.pw_name != DAEMON_USER:
        return user.pw_gid, groups
    try:
        gid = grp.getgrnam(DAEMON_GROUP).gr_gid
    except KeyError:  # the package is not installed: check with the user's own group
        return user.pw_gid, groups
    return gid, sorted({gid, *groups})


def _problems_as(user: pwd.struct_passwd, needs: Sequence[Need]) -> list[str | None]:
    """Fork, become ``user`` in the child, report through a pipe. check-config is a
    single-threaded command, so a bare fork is safe here."""
    gid, groups = groups_of(user)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its report is what the tests check
        code = 1
        try:
            os.close(read_end)
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(user.pw_uid)
            os.write(write_end, json.dumps([problem(need) for need in needs]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        data = stream.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not data:
        return ["cannot be checked"] * len(needs)
    found: list[str | None] = json.loads(data)
    return found
