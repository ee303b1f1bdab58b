"""Log lines carry syslog priority prefixes only when stderr is the journal."""

import logging
import os
from pathlib import Path

import pytest

from hal0d.log import level_from, setup_logging, stderr_is_journal


def log_through(stream_path: Path, journal: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    with stream_path.open("w") as stream:
        if journal:
            status = os.fstat(stream.fileno())
            monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino}")
        else:
            monkeypatch.delenv("JOURNAL_STREAM", raising=False)
        monkeypatch.delenv("SYSTEMD_LOG_LEVEL", raising=False)
        setup_logging("info", stream)
        try:
            log = logging.getLogger("hal0d.test")
            log.error("slot %s failed", "chat")
            log.info("ready")
            log.debug("not shown at info")
            logging.getLogger("httpx").info("HTTP Request: GET /health")
        finally:
            logging.getLogger().handlers.clear()
    return stream_path.read_text()


def test_journal_stream_gets_priority_prefixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = log_through(tmp_path / "journal", True, monkeypatch)
    assert text.splitlines() == ["<3>hal0d.test: slot chat failed", "<6>hal0d.test: ready"]


def test_terminal_gets_plain_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = log_through(tmp_path / "tty", False, monkeypatch)
    assert text.splitlines() == ["ERROR hal0d.test: slot chat failed", "INFO hal0d.test: ready"]


def test_other_stream_is_not_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:1")
    with (tmp_path / "x").open("w") as stream:
        assert not stderr_is_journal(stream)


@pytest.mark.parametrize(
    ("env", "config", "level"),
    [
        ("", "info", logging.INFO),
        ("", "debug", logging.DEBUG),
        ("debug", "info", logging.DEBUG),
        ("err", "debug", logging.ERROR),
        ("nonsense", "warning", logging.INFO),
    ],
)
def test_systemd_log_level_overrides_config(
    env: str, config: str, level: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYSTEMD_LOG_LEVEL", env)
    assert level_from(config) == level
