"""tools/install-tree.sh maps the tree's non-Python files to the system paths of the package.

pybuild installs the Python package and the entry points; the script never does (one owner
per file)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.system.harness.container import REPO

pytestmark = pytest.mark.timeout(30)

# repository file -> installed path (under DESTDIR)
LAYOUT = {
    "units/hal0d.service": "lib/systemd/system/hal0d.service",
    "units/hal0-slot@.service": "lib/systemd/system/hal0-slot@.service",
    "units/hal0-router.service": "lib/systemd/system/hal0-router.service",
    "units/hal0-router.socket": "lib/systemd/system/hal0-router.socket",
    "units/hal0.sysusers.conf": "usr/lib/sysusers.d/hal0.conf",
    "units/hal0.tmpfiles.conf": "usr/lib/tmpfiles.d/hal0.conf",
    "polkit/org.hal0.policy": "usr/share/polkit-1/actions/org.hal0.policy",
    "polkit/50-hal0.rules": "usr/share/polkit-1/rules.d/50-hal0.rules",
    "dbus/org.hal0.Manager1.conf": "usr/share/dbus-1/system.d/org.hal0.Manager1.conf",
    "hal0d/bus/org.hal0.Manager1.xml": "usr/share/dbus-1/interfaces/org.hal0.Manager1.xml",
    "etc/hal0.toml": "etc/hal0/hal0.toml",
    "completions/hal0ctl": "usr/share/bash-completion/completions/hal0ctl",
    "README.md": "usr/share/doc/hal0d/README.md",
    "docs/slots.md": "usr/share/doc/hal0d/slots.md",
    "examples/hal0.toml": "usr/share/doc/hal0d/examples/hal0.toml",
    "examples/slots/demo.toml": "usr/share/doc/hal0d/examples/slots/demo.toml",
}


def make_tree(top: Path, files: list[str]) -> None:
    (top / "tools").mkdir(parents=True)
    shutil.copy2(REPO / "tools/install-tree.sh", top / "tools/install-tree.sh")
    for name in files:
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(f"# {name}\n")


def installed(dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())


def test_every_part_goes_where_the_package_puts_it(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", [*LAYOUT, "hal0d/__init__.py", "hal0d/cli/daemon.py"])
    dest = tmp_path / "dest"
    subprocess.run([str(tmp_path / "src/tools/install-tree.sh"), str(dest)], check=True)
    for source, target in LAYOUT.items():
        assert (dest / target).read_text() == f"# {source}\n", target
    # Python modules and entry points are pybuild's: nothing else lands anywhere.
    assert installed(dest) == sorted(LAYOUT.values())


def test_missing_optional_parts_are_skipped(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", ["units/hal0d.service"])
    dest = tmp_path / "dest"
    subprocess.run([str(tmp_path / "src/tools/install-tree.sh"), str(dest)], check=True)
    assert installed(dest) == ["lib/systemd/system/hal0d.service"]
