"""The Debian package on a clean system: install, remove, reinstall, purge; its autopkgtest.

The built .deb is read as a file first (maintainer scripts, conffiles, layout). Then a container
of its own (nothing of hal0d installed) goes through the package's life in order: install
(hal0d.service enabled and active, llama-server missing and said so), llama-server found by
the search in /usr/local/bin, a slot loaded; `apt-get remove` stops the slot and keeps models
and configuration; reinstalling finds both; `apt-get purge` leaves only what install.md says
is kept. The package's autopkgtest (debian/tests) runs in another fresh container with the
null runner. All of it runs on every release (the trixie subset).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath

import httpx
import pytest

from tests.system.conftest import RELEASE, REPO, Model, free_port
from tests.system.harness.container import LLAMA_DIR, PACKAGE_DIR, Container
from tests.system.test_daemon_slots import show, slot_property, wait_for

pytestmark = [pytest.mark.trixie, pytest.mark.timeout(300)]
DAEMON = "hal0d.service"
SLOT = "keep"
MODELS = PurePosixPath("/var/lib/hal0/models")
# What purge keeps (docs/install.md): models/ and all in it; the user and group stay in
# /etc/passwd and /etc/group.
KEPT = ("/var/lib/hal0", "/var/lib/hal0/models")
# Paths that change on any system as packages come and go, whoever installs them.
CHURN = ("/var/log/", "/var/cache/", "/var/lib/dpkg/", "/var/lib/apt/", "/tmp/", "/var/tmp/")
SEARCHED = "/usr/local/bin/llama-server"


def control_files(package: Path, tmp_path: Path) -> Path:
    subprocess.run(["dpkg-deb", "-e", str(package), str(tmp_path / "DEBIAN")], check=True)
    return tmp_path / "DEBIAN"


def contents(deb: Path) -> list[str]:
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
    )
    return [line.split()[5] for line in listing.stdout.splitlines()]


def test_the_applet_is_a_package_of_its_own(package: Path) -> None:
    """Servers install hal0d alone: the tray applet and its autostart file are only in
    hal0-applet, which needs this very hal0d and the icon theme its icon names come from."""
    applets = sorted(package.parent.glob("hal0-applet_*_all.deb"))
    assert len(applets) == 1, f"expected one hal0-applet_*_all.deb beside {package.name}"
    applet = contents(applets[0])
    for path in (
        "./usr/bin/hal0-applet",
        "./etc/xdg/autostart/hal0-applet.desktop",
        "./usr/lib/python3/dist-packages/hal0d/applet/app.py",
        "./usr/share/man/man1/hal0-applet.1.gz",
    ):
        assert path in applet
    assert not [path for path in contents(package) if "applet" in path]
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(applets[0]), "Depends", "Version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    version = fields.split("Version: ")[1].strip()
    assert "adwaita-icon-theme" in fields
    assert f"hal0d (= {version})" in fields


def test_postinst_creates_users_and_dirs_then_enables_and_starts_hal0d(
    package: Path, tmp_path: Path
) -> None:
    postinst = (control_files(package, tmp_path) / "postinst").read_text()
    steps = [
        'systemd-sysusers ${DPKG_ROOT:+--root="$DPKG_ROOT"} hal0.conf',
        "ReloadConfig",  # the bus policy names _hal0: reread once the user exists
        'systemd-tmpfiles ${DPKG_ROOT:+--root="$DPKG_ROOT"} --create hal0.conf',
        "deb-systemd-helper enable 'hal0d.service'",
        "deb-systemd-invoke $_dh_action 'hal0d.service'",
    ]
    positions = [postinst.find(step) for step in steps]
    assert -1 not in positions, postinst
    assert positions == sorted(positions), "user, bus policy, directories, then the unit"
    assert "hal0-slot@" not in postinst  # the template is never enabled


def test_prerm_stops_slots_on_remove_and_the_layout_is_debhelpers(
    package: Path, tmp_path: Path
) -> None:
    control = control_files(package, tmp_path)
    prerm = (control / "prerm").read_text()
    assert "deb-systemd-invoke stop 'hal0-slot@*.service'" in prerm
    assert (control / "conffiles").read_text() == "/etc/hal0/hal0.toml\n"
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(package)], capture_output=True, text=True, check=True
    ).stdout
    for unit in ("hal0d.service", "hal0-slot@.service"):
        assert f" ./lib/systemd/system/{unit}\n" in listing  # where debhelper 13.11 looks
    for page in ("man8/hal0d.8.gz", "man1/hal0ctl.1.gz"):
        assert f" ./usr/share/man/{page}\n" in listing


def files(box: Container) -> set[str]:
    """Every path on the container's root file system, minus package-manager churn."""
    out = box.run("find", "/", "-xdev", timeout=120).stdout
    return {path for path in out.splitlines() if not path.startswith(CHURN)}


def status(box: Container) -> str:
    return show(box, DAEMON, "StatusText")["StatusText"]


def load_and_complete(box: Container, port: int) -> None:
    box.run("busctl", "call", "org.hal0.Manager1", "/org/hal0/Manager1", "org.hal0.Manager1",
            "Load", "s", SLOT)  # fmt: skip
    wait_for("slot ready", lambda: slot_property(box, SLOT, "State") == "ready")
    answer = httpx.post(
        f"http://127.0.0.1:{port}/completion", json={"prompt": "Hi", "n_predict": 4}
    )
    assert answer.status_code == 200, answer.text


class Lifecycle:
    """State carried from one step of the package's life to the next (tests run in order)."""

    def __init__(self, box: Container, before: set[str], port: int, model: PurePosixPath) -> None:
        self.box, self.before, self.port, self.model = box, before, port, model


@pytest.fixture(scope="module")
def life(
    boot_container: Callable[[str], AbstractContextManager[Container]], tiny_model: Model
) -> Iterator[Lifecycle]:
    with boot_container("package lifecycle") as box:
        box.package_path()  # copied in before the snapshot: the harness's file, not the package's
        yield Lifecycle(box, files(box), free_port(), MODELS / f"{tiny_model.sha256}.gguf")


def test_install_enables_and_starts_hal0d_and_says_llama_server_is_missing(
    life: Lifecycle,
) -> None:
    box = life.box
    box.apt("install", box.package_path())
    assert box.run("systemctl", "is-enabled", DAEMON).stdout.strip() == "enabled"
    assert show(box, DAEMON, "ActiveState")["ActiveState"] == "active", box.journal(DAEMON)
    assert box.run("systemctl", "is-enabled", "hal0-slot@.service", check=False).stdout.strip() in (
        "static",
        "indirect",
    )
    box.run("busctl", "status", "org.hal0.Manager1")
    assert status(box) == (
        "degraded: llama-server '/usr/bin/llama-server' does not exist; install it in /usr/bin "
        "or /usr/local/bin, or set llama_server in /etc/hal0/hal0.toml (no slots configured)"
    )
    check = box.run("hal0d", "check-config")
    assert (
        "llama_server: '/usr/bin/llama-server' does not exist; slots cannot start "
        "(install it in /usr/bin or /usr/local/bin, or set llama_server in /etc/hal0/hal0.toml)"
    ) in check.stdout


def test_llama_server_in_usr_local_bin_is_found_and_a_slot_loads(
    life: Lifecycle, tiny_model: Model
) -> None:
    box = life.box
    box.run("ln", "-s", str(LLAMA_DIR / "llama-server"), SEARCHED)
    box.run("systemctl", "reload", DAEMON)
    wait_for("status without llama-server problem", lambda: status(box) == "no slots configured")
    shutil.copyfile(tiny_model.host_path, box.path(life.model))
    box.path(life.model).chmod(0o644)
    box.write_file(
        f"/etc/hal0/slots/{SLOT}.toml",
        f'url = "https://127.0.0.1:9/tiny.gguf"\nsha256 = "{tiny_model.sha256}"\n'
        f"size = {tiny_model.size}\nport = {life.port}\nthreads = 1\ncontext = 512\n",
    )
    box.run("systemctl", "restart", DAEMON, timeout=60)
    load_and_complete(box, life.port)


def test_remove_stops_the_slots_and_keeps_models_and_configuration(life: Lifecycle) -> None:
    box = life.box
    box.apt("remove", "hal0d")
    slot = show(box, f"hal0-slot@{SLOT}.service", "ActiveState", "Result")
    assert slot["ActiveState"] == "inactive"
    assert slot["Result"] == "success"  # stopped by its runner's drain, not killed
    assert box.run("pgrep", "-x", "llama-server", check=False).returncode == 1
    assert show(box, DAEMON, "ActiveState")["ActiveState"] == "inactive"
    state = box.run("dpkg-query", "-W", "-f=${Status}", "hal0d").stdout
    assert state == "deinstall ok config-files"
    for kept in (life.model, PurePosixPath("/etc/hal0/hal0.toml"), f"/etc/hal0/slots/{SLOT}.toml"):
        assert box.path(kept).is_file(), kept


def test_reinstall_finds_models_and_configuration_as_they_were(life: Lifecycle) -> None:
    box = life.box
    box.apt("install", box.package_path())
    assert show(box, DAEMON, "ActiveState")["ActiveState"] == "active", box.journal(DAEMON)
    # The slot's URL is a closed port: the slot can only load from the model that was kept.
    load_and_complete(box, life.port)


def test_purge_leaves_only_the_models_the_docs_say_are_kept(life: Lifecycle) -> None:
    box = life.box
    box.apt("purge", "hal0d")
    assert box.run("pgrep", "-x", "llama-server", check=False).returncode == 1
    box.run("rm", SEARCHED)  # the test's own symlink
    assert box.run("test", "-e", "/run/hal0", check=False).returncode == 1
    assert box.run("dpkg-query", "-W", "hal0d", check=False).returncode == 1
    after = files(box)
    new = after - life.before
    assert str(life.model) in new
    # models/ is kept whole: with the models, the store's partial downloads and quarantine.
    assert {path for path in new if not path.startswith(f"{MODELS}/")} == set(KEPT)
    assert life.before - after == set()
    # Debian keeps system users: the kept models still belong to _hal0.
    box.run("getent", "passwd", "_hal0")


@pytest.fixture(scope="module")
def installed(
    boot_container: Callable[[str], AbstractContextManager[Container]],
) -> Iterator[Container]:
    with boot_container("autopkgtest") as box:
        box.apt("install", box.package_path())
        yield box


def test_autopkgtest_passes_with_the_null_runner(installed: Container) -> None:
    source = PACKAGE_DIR / "source"
    for part in ("debian", "tests/support/gguf_stdlib.py"):
        target = installed.path(source / part)
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / part).is_dir():
            shutil.copytree(REPO / part, target)
        else:
            shutil.copy2(REPO / part, target)
    result = installed.run(
        "autopkgtest", "--no-built-binaries", f"--env=HAL0_LLAMA_SERVER={LLAMA_DIR}/llama-server",
        "--summary-file=/var/tmp/autopkgtest-summary", *RELEASE.autopkgtest_args, str(source),
        "--", "null",
        check=False, timeout=240,
    )  # fmt: skip
    summary = installed.run("cat", "/var/tmp/autopkgtest-summary", check=False).stdout
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert summary.split() == ["end-to-end", "PASS"], summary
