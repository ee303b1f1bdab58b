"""`make run`'s output: one line per step; on failure the step, the log's path and the retry."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.system.harness.run import report_failure
from tests.system.harness.steps import StepError, Steps


def test_one_line_per_step_and_command_output_only_in_the_log(tmp_path: Path) -> None:
    out = io.StringIO()
    steps = Steps(tmp_path / "run.log", out)
    with steps.step("say hello", retry="make run") as step:
        steps.command(["sh", "-c", "echo a wall of text; echo more of it"])
        step.result = "said"
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].split() == ["say", "hello", "ok", "said", lines[0].split()[-2], "s)"]
    steps.close()
    log = (tmp_path / "run.log").read_text()
    assert "a wall of text\nmore of it\n" in log


def test_a_failed_step_names_itself_the_log_and_the_retry(tmp_path: Path) -> None:
    out = io.StringIO()
    steps = Steps(tmp_path / "run.log", out)
    with (
        pytest.raises(StepError) as caught,
        steps.step("load chat", retry="busctl ... Load s chat"),
    ):
        steps.command(["sh", "-c", "echo why it broke; exit 3"])
    report_failure(steps, caught.value, kept=True)
    steps.close()
    text = out.getvalue()
    assert "load chat" in text.splitlines()[0]
    assert "FAILED: sh exited 3: why it broke" in text.splitlines()[0]
    assert f"full log: {tmp_path / 'run.log'}" in text
    assert "retry:    busctl ... Load s chat" in text
    assert "make stop" in text
