"""check-config refuses exactly the llama-server options the slot runner refuses, so an option
like --hf-file fails at check-config, not at the first Load."""

from pathlib import Path

import pytest

from hal0d.config import Severity, load_config
from hal0d.runner import envspec
from tests.unit.config.test_check_config_cli import GOOD_SLOT


@pytest.mark.parametrize("option", sorted(envspec.RESERVED_OPTIONS))
@pytest.mark.parametrize("form", ["separate", "joined"])
def test_every_option_the_runner_refuses_fails_check_config(
    tmp_path: Path, option: str, form: str
) -> None:
    args = [option, "x"] if form == "separate" else [f"{option}=x"]
    with pytest.raises(envspec.EnvSpecError):
        envspec.check_args(args)
    (tmp_path / "slots").mkdir()
    (tmp_path / "slots" / "chat.toml").write_text(
        GOOD_SLOT + f"extra_args = {args!r}\n".replace("'", '"')
    )
    config, problems = load_config(tmp_path)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    assert config is None
    assert [p.where for p in errors] == ["extra_args[0]"], [str(p) for p in errors]
    assert "is set by hal0d" in errors[0].message
