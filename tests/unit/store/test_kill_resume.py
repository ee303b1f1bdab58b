"""A pulling process killed with SIGKILL mid-download resumes from what it had written."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.faultserver import Fault, FaultServer
from tests.unit.store.conftest import random_bytes, sha256

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[3]


def start_child(tmp_path: Path, url: str, data: bytes, *, output: bool) -> subprocess.Popen[str]:
    args = [str(tmp_path / "models"), str(tmp_path / "state"), url, sha256(data), str(len(data))]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.pull_child", *args],
        cwd=REPO,
        stdout=subprocess.PIPE if output else subprocess.DEVNULL,
        text=True,
    )


def wait_until_settled(path: Path, timeout: float = 30.0) -> int:
    """Size of ``path`` once it stopped growing (the client wrote what it had received)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        if size == last and size > 0:
            return size
        last = size
        time.sleep(0.3)
    raise AssertionError(f"{path} never settled")


def test_sigkill_mid_download_reuses_what_was_received(server: FaultServer, tmp_path: Path) -> None:
    data = random_bytes(80 * MiB, seed=7)
    server.serve("/big.gguf", data)
    server.script(Fault(pause_after=40 * MiB))
    child = start_child(tmp_path, server.url("/big.gguf"), data, output=False)
    try:
        assert server.paused.wait(60), "the server never sent 40 MiB"
        sent_before_kill = server.bytes_sent
        assert sent_before_kill >= 32 * MiB
        wait_until_settled(tmp_path / "models" / ".partial" / f"{sha256(data)}.part")
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    server.resume.set()

    again = start_child(tmp_path, server.url("/big.gguf"), data, output=True)
    out, _ = again.communicate(timeout=90)
    assert again.returncode == 0
    stored = tmp_path / "models" / f"{sha256(data)}.gguf"
    assert out.strip() == str(stored)
    assert stored.read_bytes() == data
    resumed = server.log[-1]
    assert resumed.status == 206
    reused = resumed.body_start
    print(f"sent before kill {sent_before_kill}, reused {reused}")
    assert reused >= 0.9 * sent_before_kill
