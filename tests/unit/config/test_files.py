"""Reading configuration files: byte-order marks, size, syntax positions, and paths the
daemon's user cannot reach (checked as that user, never a traceback)."""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hal0d.config import Severity, load_config
from hal0d.config.parse import MAX_BYTES
from tests.unit.config.test_check_config_cli import GOOD_SLOT, command

NOBODY = 65534


def errors(config_dir: Path) -> list[str]:
    _, problems = load_config(config_dir)
    return [str(p) for p in problems if p.severity is Severity.ERROR]


def slot_file(config_dir: Path, text: str | bytes, name: str = "chat") -> Path:
    (config_dir / "slots").mkdir(parents=True, exist_ok=True)
    path = config_dir / "slots" / f"{name}.toml"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    slot_file(tmp_path, b"\xef\xbb\xbf" + GOOD_SLOT.encode() + b"threads = 4\n")
    config, problems = load_config(tmp_path)
    assert config is not None, [str(p) for p in problems]
    assert config.slots["chat"].threads == 4


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    padding = ("# " + "x" * 98 + "\n") * (MAX_BYTES // 100 + 1)
    path = slot_file(tmp_path, GOOD_SLOT + padding)
    assert errors(tmp_path) == [
        f"error: {path}: is larger than {MAX_BYTES} bytes (1 MiB), the limit for a "
        "configuration file"
    ]


def test_a_file_at_the_size_limit_is_read(tmp_path: Path) -> None:
    body = GOOD_SLOT + "#"
    slot_file(tmp_path, body + "x" * (MAX_BYTES - len(body) - 1) + "\n")
    config, problems = load_config(tmp_path)
    assert config is not None, [str(p) for p in problems]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("threads = = 4\n", "1:11", "TOML syntax error: Invalid value"),
        ('url = "https://x\n', "1:17", "TOML syntax error: Illegal character"),
        ('extra_args = ["a"', "1:18", "TOML syntax error: Unclosed array"),
    ],
)
def test_syntax_errors_name_line_and_column(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = slot_file(tmp_path, text)
    (found,) = errors(tmp_path)
    assert found.startswith(f"error: {path}:{where}: {message}"), found


def locked_llama_server(reachable: Path) -> tuple[Path, Path]:
    """A config dir naming a llama-server inside a directory only root may enter."""
    locked = reachable / "locked"
    locked.mkdir(mode=0o700)
    binary = locked / "llama-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    config_dir = reachable / "etc"
    config_dir.mkdir(mode=0o755)
    (config_dir / "hal0.toml").write_text(f'llama_server = "{binary}"\n')
    (config_dir / "hal0.toml").chmod(0o644)
    return config_dir, binary


def test_check_config_as_root_checks_paths_as_the_daemons_user(reachable: Path) -> None:
    assert os.geteuid() == 0, "this test needs root (make test runs as root)"
    config_dir, binary = locked_llama_server(reachable)
    result = subprocess.run(
        [command("hal0d"), "check-config", "--config-dir", config_dir, "--user", "nobody"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"warning: {config_dir}/hal0.toml: llama_server: '{binary}' is in "
        f"'{binary.parent}', which cannot be entered by user nobody; slots cannot start"
    ) in result.stdout, result.stdout


@contextmanager
def effective_user(uid: int) -> Iterator[None]:
    os.setegid(uid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_the_daemon_reports_an_unreachable_llama_server_instead_of_crashing(
    reachable: Path,
) -> None:
    """What the daemon (an unprivileged user) does on start and reload: load_config as itself."""
    config_dir, binary = locked_llama_server(reachable)
    with effective_user(NOBODY):
        config, problems = load_config(config_dir)
    assert config is not None
    assert [str(p) for p in problems] == [
        f"warning: {config_dir}/hal0.toml: llama_server: '{binary}' is in '{binary.parent}', "
        "which cannot be entered by user nobody; slots cannot start"
    ]
