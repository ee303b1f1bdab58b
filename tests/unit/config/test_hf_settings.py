"""`hf_endpoint` and `hf_token_file` in hal0.toml: what is accepted, and check-config checking
as root that the daemon's user can read the token (hal0d, reading it as that user, would
refuse the configuration otherwise)."""

import os
import pwd
from pathlib import Path

import pytest

from hal0d.config import load_config
from hal0d.config.token import TokenFileError, read_token
from tests.unit.store.test_trust import check_config, write_global

TOKEN = "hf_abcdefghijklmnopqrstuvwxyz0123456789"  # noqa: S105 - a test value


def test_the_defaults_are_huggingface_and_no_token(tmp_path: Path) -> None:
    write_global(tmp_path / "etc", tmp_path / "state", "")
    config, problems = load_config(tmp_path / "etc")
    assert config is not None, problems
    assert config.global_.hf_endpoint == "https://huggingface.co"
    assert config.global_.hf_token_file is None


def test_an_endpoint_keeps_its_path_and_loses_its_trailing_slash(tmp_path: Path) -> None:
    write_global(tmp_path / "etc", tmp_path / "state", 'hf_endpoint = "https://hf.lab:8443/m/"\n')
    config, problems = load_config(tmp_path / "etc")
    assert config is not None, problems
    assert config.global_.hf_endpoint == "https://hf.lab:8443/m"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("  \n", "is empty"),
        ("hf_one hf_two\n", "does not hold a token"),
        ("Bearer: x\r\n", "does not hold a token"),
        (b"\xff\xfe".decode("latin-1"), "does not hold a token"),
    ],
)
def test_a_token_file_without_one_token_is_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(content)
    with pytest.raises(TokenFileError, match=message):
        read_token(token_file)


def test_the_token_is_the_file_without_surrounding_whitespace(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"\n{TOKEN}\n")
    assert read_token(token_file) == TOKEN


def test_a_token_file_everyone_can_read_is_a_warning(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o644)
    write_global(tmp_path / "etc", tmp_path / "state", f'hf_token_file = "{token_file}"\n')
    config, problems = load_config(tmp_path / "etc")
    assert config is not None, problems
    assert config.global_.hf_token_file == token_file
    assert [p.where for p in problems] == ["hf_token_file"]
    assert "is readable by every user; make it root:_hal0 0640" in str(problems[0])


def test_check_config_reads_the_token_file_as_the_daemon_user(
    tmp_path: Path, reachable: Path
) -> None:
    assert os.geteuid() == 0, "this check only runs as root; the test tiers run as root"
    token_file = reachable / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    write_global(tmp_path / "etc", tmp_path / "state", f'hf_token_file = "{token_file}"\n')

    refused = check_config(tmp_path / "etc", "nobody")
    assert refused.returncode == 78, refused.stdout + refused.stderr
    assert (
        f"hf_token_file: '{token_file}' is not readable by user nobody; hal0d refuses"
        in refused.stdout
    )
    assert TOKEN not in refused.stdout + refused.stderr

    os.chown(token_file, 0, pwd.getpwnam("nobody").pw_gid)  # as root:_hal0 is for hal0d
    token_file.chmod(0o640)
    accepted = check_config(tmp_path / "etc", "nobody")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
