"""The slot runner's parts that need no llama-server: settings, argv, notify socket, metrics.

The runner against a real llama-server is tests/system/test_runner_host.py (it needs the
provisioned binary and a generated model, which the system tier's venv makes).
"""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal0d.runner import envspec
from hal0d.runner.metrics import Traffic, parse_metrics
from hal0d.runner.notify import Notifier
from hal0d.runner.runner import EXIT_CONFIG, describe_exit, status_line
from hal0d.runner.settings import LOCKED_DOWN_ARGS, load_settings

REPO = Path(__file__).resolve().parents[3]
ENV = {
    "HAL0_SLOT": "chat",
    "HAL0_LLAMA_SERVER": "/usr/bin/llama-server",
    "LLAMA_ARG_MODEL": "/var/lib/hal0/models/m.gguf",
    "LLAMA_ARG_PORT": "8101",
    "LLAMA_ARG_THREADS": "2",
    "HAL0_MODEL_LABEL": "tiny",
}


def test_argv_is_loopback_and_locked_down_with_extra_args_last() -> None:
    settings = load_settings({**ENV, "HAL0_EXTRA_ARGS": envspec.encode_args(["--webui"])})
    argv = settings.argv()
    assert argv[:7] == [
        "/usr/bin/llama-server",
        "--host",
        "127.0.0.1",
        "--port",
        "8101",
        "--model",
        "/var/lib/hal0/models/m.gguf",
    ]
    assert argv[7 : 7 + len(LOCKED_DOWN_ARGS)] == list(LOCKED_DOWN_ARGS)
    assert argv[-1] == "--webui"  # the admin's choice comes last, so it wins
    assert {"--no-webui", "--no-slots", "--metrics", "--no-cors-credentials"} <= set(argv)


def test_server_environment_is_only_the_allow_list() -> None:
    settings = load_settings(
        {**ENV, "LD_PRELOAD": "/evil.so", "PYTHONPATH": "/x", "LLAMA_API_KEY": "k-1"}
    )
    assert settings.server_env == {
        "LLAMA_ARG_THREADS": "2",
        "LLAMA_API_KEY": "k-1",
        "LANG": "C.UTF-8",
    }
    assert settings.api_key == "k-1"
    assert settings.drain_sec == 60.0
    assert settings.grace_sec == 10.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"HAL0_SLOT": ""}, "HAL0_SLOT is missing"),
        ({"LLAMA_ARG_PORT": "http"}, "not a non-negative integer"),
        ({"LLAMA_ARG_MODEL": "/m odel"}, "values may only contain"),
        ({"HAL0_EXTRA_ARGS": "!!"}, "values may only contain"),
        ({"HAL0_EXTRA_ARGS": envspec.encode_args(["--x"])[:-4]}, "not base64 of a JSON list"),
    ],
)
def test_bad_environment_is_refused(change: dict[str, str], message: str) -> None:
    with pytest.raises(envspec.EnvSpecError, match=message):
        load_settings({**ENV, **change})


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(5)
    yield sock
    sock.close()


def test_notifier_sends_datagrams(notify_socket: socket.socket) -> None:
    Notifier(notify_socket.getsockname()).send(READY=1, STATUS="ready: tiny on 127.0.0.1:1")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=ready: tiny on 127.0.0.1:1"


def test_notifier_reaches_abstract_sockets() -> None:
    name = f"hal0-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        Notifier("@" + name).send(WATCHDOG=1)
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_notifier_without_socket_is_quiet() -> None:
    notifier = Notifier("")
    assert not notifier.enabled
    notifier.send(READY=1)


def test_bad_env_file_exits_78_and_tells_systemd(notify_socket: socket.socket) -> None:
    env = {"PATH": os.environ["PATH"], "NOTIFY_SOCKET": notify_socket.getsockname()}
    env |= {**ENV, "LLAMA_ARG_PORT": "99999"}
    result = subprocess.run(
        [sys.executable, "-I", "-m", "hal0d.runner"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    # -I ignores PYTHONPATH and the cwd; the package is found as the unit finds it installed.
    if "No module named hal0d" in result.stderr:
        pytest.skip("hal0d is not installed for this interpreter")
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert "LLAMA_ARG_PORT='99999' is not a TCP port" in result.stderr
    assert result.stderr.startswith("<3>")
    assert notify_socket.recv(4096).startswith(b"STATUS=bad env file: LLAMA_ARG_PORT")


def test_missing_binary_exits_78(notify_socket: socket.socket) -> None:
    env = {**ENV, "HAL0_LLAMA_SERVER": "/nonexistent/llama-server"}
    env["NOTIFY_SOCKET"] = notify_socket.getsockname()
    result = subprocess.run(
        [sys.executable, "-m", "hal0d.runner"],
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert "cannot start /nonexistent/llama-server" in result.stderr
    messages = [notify_socket.recv(4096), notify_socket.recv(4096)]
    assert messages == [
        b"STATUS=loading tiny",
        b"STATUS=cannot start llama-server: No such file or directory",
    ]


@pytest.mark.parametrize(
    ("returncode", "text"),
    [(1, "exited with code 1"), (0, "exited with code 0"), (-9, "was killed by SIGKILL")],
)
def test_describe_exit(returncode: int, text: str) -> None:
    assert describe_exit(returncode) == text


def test_status_lines() -> None:
    settings = load_settings(ENV)
    assert status_line(settings, None) == "ready: tiny on 127.0.0.1:8101"
    assert status_line(settings, Traffic(requests_processing=1)) == "serving 1 request"
    assert status_line(settings, Traffic(2, 1)) == "serving 3 requests"


METRICS = """\
# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 12
llamacpp:tokens_predicted_total 340
llamacpp:n_decode_total 350
llamacpp:requests_processing 2
llamacpp:requests_deferred 1
llamacpp:n_busy_slots_per_decode 1.5
garbage line
llamacpp:requests_processing{slot="x"} notanumber
"""


def test_metrics_parse() -> None:
    traffic = parse_metrics(METRICS)
    assert traffic == Traffic(
        requests_processing=2,
        requests_deferred=1,
        prompt_tokens_total=12,
        tokens_predicted_total=340,
        decode_total=350,
    )
    assert traffic.in_flight == 3
    assert parse_metrics("") == Traffic()
