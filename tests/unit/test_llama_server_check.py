"""The daemon's view of the llama-server binary: checked off the event loop (at start, Load,
Reload and every few seconds), never by reading `Status`."""

from pathlib import Path

from hal0d.manager import Lifecycle, Manager
from tests.unit.store.test_blocking import blocking_detector
from tests.unit.test_manager import RecordingBackend, make_config


async def test_reading_status_touches_no_file(tmp_path: Path) -> None:
    config = make_config(tmp_path, ["chat"])
    manager = Manager(config, RecordingBackend(["chat"]), None)
    manager.set_lifecycle(Lifecycle.RUNNING)
    with blocking_detector():
        assert manager.status == "1 offline"


async def test_status_follows_llama_server_being_installed(tmp_path: Path) -> None:
    binary = tmp_path / "bin" / "llama-server"
    config = make_config(tmp_path, ["chat"])
    (tmp_path / "hal0.toml").write_text(f'llama_server = "{binary}"\n')
    manager = Manager(config, RecordingBackend(["chat"]), None)
    await manager.reload()  # looks at the binary, as Load and the daemon's timer do
    manager.set_lifecycle(Lifecycle.RUNNING)
    assert manager.status == (
        f"degraded: llama-server '{binary}' does not exist; install it in /usr/bin or "
        "/usr/local/bin, or set llama_server in /etc/hal0/hal0.toml (1 offline)"
    )

    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert manager.status.startswith("degraded")  # nothing looked yet
    await manager.check_llama_server()
    assert manager.status == "1 offline"
