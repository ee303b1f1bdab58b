"""`hal0d check-config` and `hal0ctl check-config`, run as the installed commands."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parents[2] / "data"
BAD = sorted((DATA / "bad-config").iterdir())
EXAMPLES = Path(__file__).parents[3] / "examples"
SHA = "b" * 64
GOOD_SLOT = f'url = "https://models.example.org/m.gguf"\nsha256 = "{SHA}"\n'


def command(name: str) -> Path:
    """The console script installed into this dependency set's venv."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{path} missing: run through `make test-unit`, which installs hal0d"
    return path


def check_config(config_dir: Path, program: str = "hal0d") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HAL0_CONFIG_DIR"}
    return subprocess.run(
        [command(program), "check-config", "--config-dir", config_dir],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def test_there_are_at_least_25_broken_configurations() -> None:
    assert len(BAD) >= 25


@pytest.mark.parametrize("case", BAD, ids=[case.name for case in BAD])
def test_broken_config_exits_78_naming_file_and_key(case: Path) -> None:
    result = check_config(case / "etc")
    output = result.stdout
    assert result.returncode == 78, output + result.stderr
    for expected in (case / "expected.txt").read_text().splitlines():
        assert expected in output, f"{expected!r} not in:\n{output}"
    assert "Traceback" not in output + result.stderr


@pytest.mark.parametrize("program", ["hal0d", "hal0ctl"])
def test_shipped_example_config_is_valid(program: str) -> None:
    result = check_config(EXAMPLES, program)
    assert result.returncode == 0, result.stdout
    assert "OK, 1 slot(s)" in result.stdout


def test_hal0ctl_reports_the_same_errors() -> None:
    case = DATA / "bad-config" / "port-70000" / "etc"
    result = check_config(case, "hal0ctl")
    assert result.returncode == 78
    assert "port: 70000 is out of range" in result.stdout


def test_unknown_key_alone_warns_and_exits_0(tmp_path: Path) -> None:
    (tmp_path / "slots").mkdir()
    (tmp_path / "slots" / "chat.toml").write_text(GOOD_SLOT + "thread = 4\n")
    result = check_config(tmp_path)
    assert result.returncode == 0, result.stdout
    assert f"warning: {tmp_path}/slots/chat.toml: thread: unknown key" in result.stdout
    assert "did you mean 'threads'?" in result.stdout


def test_missing_llama_server_is_a_warning_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "hal0.toml").write_text('llama_server = "/nonexistent/llama-server"\n')
    result = check_config(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "warning:" in result.stdout
    assert "'/nonexistent/llama-server' does not exist" in result.stdout


def test_non_executable_llama_server_is_a_warning(tmp_path: Path) -> None:
    binary = tmp_path / "llama-server"
    binary.write_text("")
    binary.chmod(0o644)
    (tmp_path / "hal0.toml").write_text(f'llama_server = "{binary}"\n')
    result = check_config(tmp_path)
    assert result.returncode == 0, result.stdout
    assert f"'{binary}' is not executable" in result.stdout


def test_config_dir_from_environment(tmp_path: Path) -> None:
    (tmp_path / "hal0.toml").write_text("port_range = 5\n")
    result = subprocess.run(
        [command("hal0d"), "check-config"],
        capture_output=True,
        text=True,
        env={**os.environ, "HAL0_CONFIG_DIR": str(tmp_path)},
        timeout=30,
        check=False,
    )
    assert result.returncode == 78
    assert f"{tmp_path}/hal0.toml: port_range:" in result.stdout


def test_missing_config_dir_is_an_error(tmp_path: Path) -> None:
    result = check_config(tmp_path / "absent")
    assert result.returncode == 78
    assert "config directory does not exist" in result.stdout


def test_version() -> None:
    result = subprocess.run(
        [command("hal0ctl"), "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("hal0ctl 0.")


def test_every_bad_case_is_also_caught_when_copied_next_to_a_good_slot(tmp_path: Path) -> None:
    """One broken file must not hide the problems, or the validity, of the others."""
    config = tmp_path / "etc"
    shutil.copytree(DATA / "bad-config" / "port-zero" / "etc", config)
    (config / "slots" / "good.toml").write_text(GOOD_SLOT + "threads = 0\n")
    result = check_config(config)
    assert result.returncode == 78
    assert "slots/chat.toml: port:" in result.stdout
    assert "slots/good.toml: threads:" in result.stdout
