"""`make stop` checks what `make run` left: anything of the run still on the host fails it.

A recorded run whose nspawn is gone but whose cgroup still holds a process (the shape of an
nspawn that did not die): `make stop` must name the cgroup and the process and exit 1, not
report success. The whole `make run EXIT=1` → stop → no leftovers path runs in `make test`
(tools/test-all.sh), where a leftover fails the step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.system.harness.container import REPO, remove_cgroup
from tests.system.harness.hoststate import CGROUP_ROOTS, DEMO_PREFIX

pytestmark = pytest.mark.timeout(60)


def test_stop_fails_and_names_what_the_run_left(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (cgroups)")
    name = f"{DEMO_PREFIX}test{os.getpid()}"
    gone = subprocess.Popen(["true"])
    gone.wait()
    cgroups = [root / name for root in CGROUP_ROOTS if root.is_dir()]
    survivor = subprocess.Popen(["bash", "-c", "sleep 300; true", name], start_new_session=True)
    try:
        for cgroup in cgroups:
            cgroup.mkdir()
            (cgroup / "cgroup.procs").write_text(str(survivor.pid))
        state = {"release": "bookworm", "container": {
            "name": name, "tarball": "/nonexistent", "workdir": str(tmp_path / "work"),
            "llama_server_dir": "/nonexistent", "models_dir": "/nonexistent", "package": None,
            "nspawn": gone.pid, "leader": 0, "mounted": False,
        }}  # fmt: skip
        (tmp_path / "state.json").write_text(json.dumps(state))
        result = subprocess.run(
            [sys.executable, "-m", "tests.system.harness.run", "stop"],
            cwd=REPO, env={**os.environ, "HAL0_RUN_DIR": str(tmp_path)},
            capture_output=True, text=True, check=False, timeout=45,
        )  # fmt: skip
    finally:
        survivor.send_signal(signal.SIGKILL)
        survivor.wait()
        for cgroup in cgroups:
            remove_cgroup(cgroup)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "check for leftovers" in output, output
    assert "FAILED" in output, output
    assert f"cgroups: {cgroups[0]}" in output, output
    assert f"process: {survivor.pid} bash -c sleep 300; true {name}" in output, output
    assert (tmp_path / "state.json").exists(), "a failed stop must keep the state for a retry"
