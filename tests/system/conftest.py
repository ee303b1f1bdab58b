"""Fixtures of the system tier: a real systemd in a container, a real llama-server, real models.

Session-scoped (one container per run): ``container`` (booted, the built .deb installed with
apt, hal0d.service stopped again so each test starts it with its own configuration),
``llama_server`` (its path inside), ``tiny_model`` / ``large_model`` (Model: path inside, sha256,
size, host path), ``llama_unit`` (the test template unit, installed). Function-scoped:
``llama_instance`` (a configured, not yet started instance of that unit on a free port, stopped
and reset afterwards). See docs/testing.md.

A run boots the Debian release ``HAL0_TEST_RELEASE`` names (default bookworm, the full tier);
on any other release only tests marked ``trixie`` or ``release_sensitive`` run, the rest is
deselected. ``package`` is the built ``dist/hal0d_*.deb``; ``boot_container`` boots one more
container (for tests that need a pristine system, such as install and purge).

Without root or the host tools the tier skips, which CI=true turns into a failure; a failed boot
is always an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tests.support import gguf_model
from tests.system.harness import releases
from tests.system.harness.container import LLAMA_DIR, MODELS_DIR, REPO, Container

CACHE = Path(os.environ.get("HAL0_TEST_CACHE", "/var/cache/hal0-test"))
WORKDIR = Path(os.environ.get("HAL0_TEST_WORKDIR", "/var/tmp/hal0-test"))
RESULTS = REPO / "build" / "results"
HOST_TOOLS = ("systemd-nspawn", "busctl", "journalctl", "nsenter", "tar", "zstd", "debootstrap")
TEST_UNIT = "hal0-test-llama@.service"
TIMINGS: dict[str, float] = {}
RELEASE = releases.current()
SUBSET_MARKERS = ("trixie", "release_sensitive")


@dataclass(frozen=True)
class Model:
    """A generated GGUF model, bound read-only into the container."""

    path: PurePosixPath  # inside the container
    host_path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class LlamaInstance:
    """One instance of the test template unit; ``env_file`` is written, the unit not started."""

    name: str
    unit: str
    port: int
    env_file: PurePosixPath

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def record_timing(name: str, seconds: float) -> None:
    """Keep a measured duration for the end-of-run summary and build/results/system-timings.json."""
    TIMINGS[name] = round(seconds, 3)


def free_port() -> int:
    """A free loopback port (the container shares the host's network namespace)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _require_host() -> None:
    if os.geteuid() != 0:
        pytest.skip("the system tier needs root (systemd-nspawn, cgroups, nsenter)")
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"host tools missing: {', '.join(missing)} (make test-system installs them)")


def _llama_server_host_path() -> Path:
    configured = os.environ.get("HAL0_LLAMA_SERVER")
    path_file = REPO / "build" / "llama-server.path"
    if configured:
        path = Path(configured)
    elif path_file.exists():
        path = Path(path_file.read_text().strip())
    else:
        pytest.skip("no llama-server: set HAL0_LLAMA_SERVER or run `make test-system`")
    if not os.access(path, os.X_OK):
        pytest.fail(f"llama-server {path} is not executable")
    return path


def _package() -> Path:
    debs = sorted((REPO / "dist").glob("hal0d_*_all.deb"))
    if len(debs) != 1:
        pytest.fail(f"expected one dist/hal0d_*_all.deb, found {len(debs)}: run `make deb`")
    return debs[0]


def _rootfs_tarball(package: Path) -> Path:
    result = subprocess.run(
        [str(REPO / "tools/rootfs.sh"), RELEASE.name, str(package)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"tools/rootfs.sh failed:\n{result.stderr}")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def llama_server_host_path() -> Path:
    _require_host()
    return _llama_server_host_path()


@pytest.fixture(scope="session")
def package() -> Path:
    """The built package, dist/hal0d_VERSION_all.deb."""
    _require_host()
    return _package()


@pytest.fixture(scope="session")
def boot_container(
    request: pytest.FixtureRequest, llama_server_host_path: Path, package: Path
) -> Callable[[str], AbstractContextManager[Container]]:
    """``with boot_container(what) as box:`` a booted container of this run's release with
    nothing of hal0d installed yet; torn down (artifacts kept on failure) afterwards."""
    tarball = _rootfs_tarball(package)

    @contextlib.contextmanager
    def boot(what: str) -> Iterator[Container]:
        WORKDIR.mkdir(parents=True, exist_ok=True)
        (CACHE / "models").mkdir(parents=True, exist_ok=True)
        box = Container(
            tarball=tarball,
            workdir=WORKDIR,
            llama_server_dir=llama_server_host_path.parent,
            models_dir=CACHE / "models",
            package=package,
        )
        failed_before = request.session.testsfailed
        try:
            box.boot()
            record_timing(f"{what}: container unpack", box.timings["unpack"])
            record_timing(f"{what}: container boot", box.timings["boot"])
            yield box
        except BaseException:
            box.teardown(RESULTS / "system-artifacts" / box.name)
            raise
        failed = request.session.testsfailed > failed_before
        artifacts = RESULTS / "system-artifacts" / box.name if failed else None
        leftovers = box.teardown(artifacts)
        if artifacts is not None:
            print(f"\nsystem tier: container artifacts in {artifacts}")
        assert not leftovers, "the container left things behind on the host:\n" + "\n".join(
            leftovers
        )

    return boot


@pytest.fixture(scope="session")
def container(
    boot_container: Callable[[str], AbstractContextManager[Container]],
) -> Iterator[Container]:
    """The booted container with the built package installed (``apt-get install ./….deb``).

    The package enables and starts hal0d.service; ``install_project`` stops it again, so each
    test module starts it with the configuration it writes."""
    with boot_container("session") as box:
        started = time.monotonic()
        box.install_project()
        record_timing("package install (apt-get install ./hal0d_*.deb)", time.monotonic() - started)
        _SESSION_CONTAINERS.append(box)
        try:
            yield box
        finally:
            _SESSION_CONTAINERS.remove(box)


_SESSION_CONTAINERS: list[Container] = []


@pytest.fixture(autouse=True, scope="module")
def fresh_daemon_start_budget() -> Iterator[None]:
    """Each module (re)starts hal0d.service with its own configuration, and systemd allows
    5 starts in 10 s: a quick module would use up the next one's budget and its start would
    be refused ("start of the service was attempted too often"). reset-failed after every
    module resets the counter (it does so for an active unit too)."""
    yield
    for box in _SESSION_CONTAINERS:
        box.run("systemctl", "reset-failed", "hal0d.service", check=False)


@pytest.fixture(scope="session")
def llama_server(container: Container) -> PurePosixPath:
    """Path of the llama-server binary inside the container (its directory is bound read-only)."""
    return LLAMA_DIR / "llama-server"


def _model(spec: gguf_model.ModelSpec, what: str) -> Model:
    started = time.monotonic()
    host_path, digest = gguf_model.cached_model(spec, CACHE / "models")
    record_timing(f"{what} model ready (generated or cached)", time.monotonic() - started)
    return Model(
        path=MODELS_DIR / host_path.name,
        host_path=host_path,
        sha256=digest,
        size=host_path.stat().st_size,
    )


@pytest.fixture(scope="session")
def tiny_model() -> Model:
    """~600 KiB deterministic llama model: loads in milliseconds, answers valid UTF-8."""
    return _model(gguf_model.TINY, "tiny")


@pytest.fixture(scope="session")
def large_model() -> Model:
    """~105 MiB deterministic llama model (generated on first use, then cached)."""
    return _model(gguf_model.LARGE, "large")


@pytest.fixture(scope="session")
def llama_unit(container: Container) -> str:
    """The test template unit (tests/system/units) with its short-timer drop-in, installed."""
    source = Path(__file__).parent / "units"
    target = container.path("/etc/systemd/system")
    shutil.copyfile(source / TEST_UNIT, target / TEST_UNIT)
    shutil.copytree(source / f"{TEST_UNIT}.d", target / f"{TEST_UNIT}.d", dirs_exist_ok=True)
    container.daemon_reload()
    return TEST_UNIT


@pytest.fixture
def llama_instance(
    request: pytest.FixtureRequest, container: Container, llama_unit: str, tiny_model: Model
) -> Iterator[LlamaInstance]:
    """An instance of the test unit serving ``tiny_model`` on a free port (not started yet)."""
    name = request.node.name.removeprefix("test_").replace("_", "-")[:32].strip("-")
    instance = LlamaInstance(
        name=name,
        unit=llama_unit.replace("@.", f"@{name}."),
        port=free_port(),
        env_file=PurePosixPath(f"/etc/hal0-test/llama/{name}.env"),
    )
    container.write_file(instance.env_file, llama_env(tiny_model.path, instance.port))
    yield instance
    container.run("systemctl", "stop", instance.unit, check=False)
    container.run("systemctl", "reset-failed", instance.unit, check=False)


def llama_env(model: PurePosixPath, port: int, **extra: str) -> str:
    """An EnvironmentFile of LLAMA_ARG_* variables for llama-server."""
    values = {
        "LLAMA_ARG_MODEL": str(model),
        "LLAMA_ARG_HOST": "127.0.0.1",
        "LLAMA_ARG_PORT": str(port),
        "LLAMA_ARG_THREADS": "1",
        "LLAMA_ARG_CTX_SIZE": "512",
        "LLAMA_ARG_N_PARALLEL": "1",
        **extra,
    }
    return "".join(f"{key}={value}\n" for key, value in values.items())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Off the full-tier release, run only the subset marked for every release (unless
    HAL0_TEST_FULL=1 asks for everything, to measure what differs)."""
    if RELEASE.name == releases.FULL_TIER or os.environ.get("HAL0_TEST_FULL") == "1":
        return
    here = Path(__file__).parent
    keep, drop = [], []
    for item in items:
        in_tier = here in item.path.parents
        marked = any(item.get_closest_marker(name) for name in SUBSET_MARKERS)
        (keep if marked or not in_tier else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header() -> list[str]:
    return [f"system tier: Debian {RELEASE.name} (systemd {RELEASE.systemd})"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    box = getattr(item, "funcargs", {}).get("container")
    if report.failed and isinstance(box, Container) and box.leader:
        # The journal as it was when this test failed, next to the session's artifacts.
        dest = RESULTS / "system-artifacts" / box.name
        dest.mkdir(parents=True, exist_ok=True)
        journal = box.run("journalctl", "--no-pager", "-o", "short-precise", check=False).stdout
        (dest / f"{item.name}.{report.when}.journal.txt").write_text(journal)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("system tier timings (s)")
    for name, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{seconds:8.3f}  {name}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "system-timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")
