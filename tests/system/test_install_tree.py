"""tools/install-tree.sh maps a source tree to the system paths a package would use."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.system.harness.container import REPO

pytestmark = pytest.mark.timeout(30)

# repository file -> installed path (under DESTDIR)
LAYOUT = {
    "hal0d/__init__.py": "usr/lib/python3/dist-packages/hal0d/__init__.py",
    "hal0d/cli/daemon.py": "usr/lib/python3/dist-packages/hal0d/cli/daemon.py",
    "units/hal0d.service": "usr/lib/systemd/system/hal0d.service",
    "units/hal0-slot@.service": "usr/lib/systemd/system/hal0-slot@.service",
    "units/hal0.sysusers.conf": "usr/lib/sysusers.d/hal0.conf",
    "units/hal0.tmpfiles.conf": "usr/lib/tmpfiles.d/hal0.conf",
    "polkit/org.hal0.policy": "usr/share/polkit-1/actions/org.hal0.policy",
    "polkit/50-hal0.rules": "usr/share/polkit-1/rules.d/50-hal0.rules",
    "dbus/org.hal0.Manager1.conf": "usr/share/dbus-1/system.d/org.hal0.Manager1.conf",
    "hal0d/bus/org.hal0.Manager1.xml": "usr/share/dbus-1/interfaces/org.hal0.Manager1.xml",
    "examples/hal0.toml": "usr/share/doc/hal0d/examples/hal0.toml",
    "examples/slots/demo.toml": "usr/share/doc/hal0d/examples/slots/demo.toml",
}


def make_tree(top: Path, files: list[str]) -> None:
    (top / "tools").mkdir(parents=True)
    shutil.copy2(REPO / "tools/install-tree.sh", top / "tools/install-tree.sh")
    for name in files:
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(f"# {name}\n")


def test_every_part_goes_where_the_package_puts_it(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", list(LAYOUT))
    dest = tmp_path / "dest"
    subprocess.run([str(tmp_path / "src/tools/install-tree.sh"), str(dest)], check=True)
    for source, installed in LAYOUT.items():
        assert (dest / installed).read_text() == f"# {source}\n", installed
    # The interface XML is package data too: hal0d answers Introspect with it.
    in_package = dest / "usr/lib/python3/dist-packages/hal0d/bus/org.hal0.Manager1.xml"
    assert in_package.read_text() == "# hal0d/bus/org.hal0.Manager1.xml\n"
    for script, module in (("hal0d", "hal0d.cli.daemon"), ("hal0ctl", "hal0d.cli.ctl")):
        wrapper = dest / "usr/bin" / script
        assert wrapper.stat().st_mode & 0o111
        assert wrapper.read_text().startswith("#!/usr/bin/python3\n")
        assert f"from {module} import main" in wrapper.read_text()


def test_missing_optional_parts_are_skipped(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", ["hal0d/__init__.py"])
    dest = tmp_path / "dest"
    subprocess.run([str(tmp_path / "src/tools/install-tree.sh"), str(dest)], check=True)
    installed = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert installed == [
        "usr/bin/hal0ctl",
        "usr/bin/hal0d",
        "usr/lib/python3/dist-packages/hal0d/__init__.py",
    ]
