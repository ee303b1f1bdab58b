"""The XDG autostart path: outside group hal0 the applet exits at once, quietly."""

import grp
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hal0d.applet.__main__ import GROUP, in_group, main

DESKTOP_FILE = Path(__file__).parents[3] / "desktop" / "hal0-applet.desktop"


def test_autostart_outside_the_group_exits_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    if in_group(GROUP):
        pytest.fail(f"the test user is in group {GROUP}: run it as a user outside it")
    assert main(["--autostart"]) == 0
    assert capsys.readouterr() == ("", "")


def test_in_group_sees_the_process_groups() -> None:
    own = grp.getgrgid(os.getegid()).gr_name
    assert in_group(own)
    assert not in_group("no-such-group-hal0-test")


def test_the_desktop_file_starts_it_with_autostart() -> None:
    lines = DESKTOP_FILE.read_text().splitlines()
    assert "Exec=hal0-applet --autostart" in lines
    done = subprocess.run(
        [sys.executable, "-m", "hal0d.applet", "--autostart"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("DBUS_")},
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
