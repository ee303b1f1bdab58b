"""What a container run may leave behind on the host: mounts, cgroup directories, nspawn processes.

The harness takes a snapshot before boot and compares one taken after teardown. Entries that
belong to *another* container on the machine (another ``hal0-test-`` run of this harness, or a
``hal0-run-`` container) are not ours to judge, so runs sharing a machine do not blame each other.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOTS = (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"))
RUN_PREFIX = "hal0-test-"
DEMO_PREFIX = "hal0-run-"  # containers of `make run`, which outlive the command that booted them
OTHER_CONTAINERS = (RUN_PREFIX, DEMO_PREFIX)
# tools/rootfs.sh mounts /proc into the chroot it is building (any worktree's, any cache).
ROOTFS_BUILD = re.compile(r"/build-[A-Za-z0-9]{6}/root/proc$")


@dataclass(frozen=True)
class HostState:
    mounts: frozenset[str]
    cgroups: frozenset[str]
    nspawn: frozenset[str]

    @classmethod
    def capture(cls) -> HostState:
        return cls(mounts=_mounts(), cgroups=_cgroups(), nspawn=_nspawn_processes())

    def leftovers(self, after: HostState, run_name: str) -> list[str]:
        """What ``after`` has (or lacks) compared with this snapshot, minus other runs' entries."""
        problems = []
        for kind in ("mounts", "cgroups", "nspawn"):
            before_set: frozenset[str] = getattr(self, kind)
            after_set: frozenset[str] = getattr(after, kind)
            for entry in sorted(after_set - before_set):
                if not _belongs_to_other_run(entry, run_name):
                    problems.append(f"{kind}: left behind: {entry}")
            for entry in sorted(before_set - after_set):
                if not _belongs_to_other_run(entry, run_name):
                    problems.append(f"{kind}: gone since boot: {entry}")
        return problems

    def mentioning(self, run_name: str) -> list[str]:
        """Entries that carry RUN_NAME: what is left of that run, whatever else the host runs."""
        return [
            f"{kind}: {entry}"
            for kind in ("mounts", "cgroups", "nspawn")
            for entry in sorted(getattr(self, kind))
            if run_name in entry
        ]


def _belongs_to_other_run(entry: str, run_name: str) -> bool:
    if ROOTFS_BUILD.search(entry):
        return True
    return run_name not in entry and any(prefix in entry for prefix in OTHER_CONTAINERS)


def _mounts() -> frozenset[str]:
    # mountinfo field 5 is the mount point (octal escapes kept as they are; they compare fine).
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return frozenset(line.split()[4] for line in lines)


def _cgroups() -> frozenset[str]:
    found = set()
    for root in CGROUP_ROOTS:
        if not root.is_dir():
            continue
        for dirpath, _dirnames, _files in os.walk(root):
            found.add(dirpath)
    return frozenset(found)


def _nspawn_processes() -> frozenset[str]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "systemd-nspawn":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:  # exited meanwhile
            continue
        if cmdline:  # empty while exiting: nothing left to attribute it by
            found.add(f"{entry.name} {cmdline}")
    return frozenset(found)
