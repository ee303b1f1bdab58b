"""hal0d's own checks for `hal0ctl doctor`: llama-server, the model file (stat only) and the
unit's state, each with a verdict and what to do."""

import os
from pathlib import Path

from hal0d.config import Config, GlobalConfig, ModelRef, SlotConfig
from hal0d.diagnose import Verdict, check_llama_server, check_model, check_unit
from hal0d.slots.state import SlotState
from hal0d.slots.view import SlotView

SHA = "cd" * 32


def config(models: Path, size: int = 4) -> Config:
    slot = SlotConfig(
        name="chat",
        file=Path("/etc/hal0/slots/chat.toml"),
        model=ModelRef(url="https://example.org/m.gguf", sha256=SHA, size=size),
    )
    return Config(Path("/etc/hal0"), GlobalConfig(models_dir=models), {"chat": slot})


VIEW = SlotView(name="chat", state=SlotState.OFFLINE, unit="hal0-slot@chat.service")


def test_model_missing_is_a_warning_with_the_command(tmp_path: Path) -> None:
    finding = check_model(config(tmp_path), VIEW)
    assert finding.verdict is Verdict.WARNING
    assert "`hal0ctl pull chat`" in finding.message


def test_model_present_with_the_configured_size(tmp_path: Path) -> None:
    (tmp_path / f"{SHA}.gguf").write_bytes(b"GGUF")
    assert check_model(config(tmp_path), VIEW).verdict is Verdict.OK


def test_model_of_the_wrong_size_is_an_error(tmp_path: Path) -> None:
    (tmp_path / f"{SHA}.gguf").write_bytes(b"GGUF!")
    finding = check_model(config(tmp_path), VIEW)
    assert finding.verdict is Verdict.ERROR
    assert "has 5 bytes, the configuration says 4" in finding.message


def test_llama_server_must_be_an_executable_program(tmp_path: Path) -> None:
    missing = check_llama_server(tmp_path / "llama-server")
    assert missing.verdict is Verdict.ERROR
    assert "No such file or directory" in missing.message
    script = tmp_path / "llama-server"
    script.write_text("not a program\n")
    script.chmod(0o755)
    assert "is not a program" in check_llama_server(script).message
    script.chmod(0o644)
    assert "is not executable" in check_llama_server(script).message
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert check_llama_server(script).verdict is Verdict.OK
    assert os.access(script, os.X_OK)


def test_unit_in_error_names_the_reason_and_the_next_commands() -> None:
    view = SlotView(
        name="chat",
        state=SlotState.ERROR,
        unit="hal0-slot@chat.service",
        last_error="crashed 3 times",
    )
    finding = check_unit(view)
    assert finding.verdict is Verdict.ERROR
    assert finding.message == (
        "hal0-slot@chat.service is in error: crashed 3 times; `hal0ctl logs chat`, "
        "then `hal0ctl load chat`"
    )
