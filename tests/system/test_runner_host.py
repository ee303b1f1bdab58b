"""The slot runner on the host, driving the real llama-server with a generated model.

No container: the runner is started as systemd would start it (its env file's variables,
NOTIFY_SOCKET pointing at a datagram socket this test reads), so what it tells systemd and
when can be checked message by message.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hal0d.runner import envspec
from tests.system.conftest import Model, free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(90)


@dataclass
class RunningRunner:
    """A runner started as systemd would, with a thread that reads its notify socket
    at once (as PID 1 does: an unread socket would make its sends wait)."""

    process: subprocess.Popen[str]
    sock: socket.socket
    port: int
    log: Path
    messages: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    _seen: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def read_forever(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096).decode()
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.splitlines())
            with self.arrived:
                self.messages.append((time.monotonic(), fields))
                self.arrived.notify_all()

    def receive(self, timeout: float) -> dict[str, str] | None:
        """The next message not seen yet, or None after ``timeout`` seconds."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.messages) > self._seen, timeout):
                return None
            self._seen += 1
            return self.messages[self._seen - 1][1]

    def skip_seen(self) -> None:
        with self.arrived:
            self._seen = len(self.messages)

    def wait_for(self, key: str, value: str | None = None, within: float = 30) -> dict[str, str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            fields = self.receive(max(deadline - time.monotonic(), 0.01))
            if fields and key in fields and (value is None or fields[key] == value):
                return fields
        raise AssertionError(f"no {key}={value} within {within} s; got {self.messages}")

    def statuses(self) -> list[str]:
        return [fields["STATUS"] for _, fields in self.messages if "STATUS" in fields]

    def server_pid(self) -> int:
        (pid,) = self.children()
        return pid

    def children(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except FileNotFoundError:
            return []

    def exit_status(self, within: float = 30) -> int:
        """Wait for the runner's exit, then collect the messages it sent before it."""
        status = self.process.wait(within)
        time.sleep(0.2)  # let the reader take the last datagrams
        return status


@pytest.fixture
def start_runner(
    tmp_path: Path, llama_server_host_path: Path, tiny_model: Model
) -> Iterator[object]:
    started: list[RunningRunner] = []

    def start(model: Path | None = None, **extra: str) -> RunningRunner:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(tmp_path / f"notify-{len(started)}"))
        port = free_port()
        env = {
            envspec.SLOT: "chat",
            envspec.LLAMA_SERVER: str(llama_server_host_path),
            envspec.MODEL: str(model or tiny_model.host_path),
            envspec.MODEL_LABEL: "tiny",
            envspec.PORT: str(port),
            envspec.THREADS: "1",
            envspec.CTX_SIZE: "4096",
            envspec.PARALLEL: "2",
            **extra,
        }
        envspec.check_environment(env)
        log = tmp_path / f"runner-{len(started)}.log"
        with log.open("w") as stderr:  # a file: an unread pipe would block llama-server
            process = subprocess.Popen(
                [sys.executable, "-m", "hal0d.runner"],
                env={**env, "NOTIFY_SOCKET": sock.getsockname(), "PYTHONPATH": str(REPO)},
                stderr=stderr,
                text=True,
            )
        runner = RunningRunner(process, sock, port, log)
        threading.Thread(target=runner.read_forever, daemon=True).start()
        started.append(runner)
        return runner

    yield start
    for runner in started:
        if runner.process.poll() is None:
            # Under systemd the cgroup takes llama-server along; here the test must.
            for pid in runner.children():
                os.kill(pid, signal.SIGKILL)
            runner.process.kill()
        runner.process.wait()
        runner.sock.shutdown(socket.SHUT_RDWR)
        runner.sock.close()


def long_request(
    url: str, n_predict: int, results: list[httpx.Response | httpx.HTTPError]
) -> threading.Thread:
    def run() -> None:
        try:
            results.append(
                httpx.post(
                    f"{url}/completion",
                    json={"prompt": "Hello", "n_predict": n_predict, "cache_prompt": False},
                    timeout=120,
                )
            )
        except httpx.HTTPError as error:  # the server was stopped under it
            results.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_in_flight(url: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = httpx.get(f"{url}/metrics").text
        if "llamacpp:requests_processing 1" in text:
            return
        time.sleep(0.02)
    raise AssertionError("no request in flight")


def test_ready_only_after_health_200_and_status_lines(start_runner: object) -> None:
    runner = start_runner()  # type: ignore[operator]
    first = runner.wait_for("STATUS")
    assert first["STATUS"] == "loading tiny"
    ready = runner.wait_for("READY", "1")
    assert httpx.get(f"{runner.url}/health").status_code == 200
    assert ready["STATUS"] == f"ready: tiny on 127.0.0.1:{runner.port}"
    assert "WATCHDOG" in ready
    runner.wait_for("WATCHDOG", "1", within=5)  # keeps pinging while healthy
    completion = httpx.post(
        f"{runner.url}/completion", json={"prompt": "Hi", "n_predict": 8}, timeout=30
    )
    assert completion.status_code == 200, completion.text


def test_endpoint_is_locked_down(start_runner: object) -> None:
    runner = start_runner()  # type: ignore[operator]
    runner.wait_for("READY", "1")
    foreign = {"Origin": "http://evil.example"}
    for response in (
        httpx.get(f"{runner.url}/health", headers=foreign),
        httpx.options(
            f"{runner.url}/completion",
            headers={**foreign, "Access-Control-Request-Method": "POST"},
        ),
        httpx.post(
            f"{runner.url}/completion",
            headers=foreign,
            json={"prompt": "Hi", "n_predict": 2},
            timeout=30,
        ),
    ):
        assert "access-control-allow-origin" not in response.headers, response.headers
        assert response.headers.get("access-control-allow-credentials", "false") == "false"
    assert httpx.get(f"{runner.url}/slots").status_code != 200
    assert "<html" not in httpx.get(f"{runner.url}/").text.lower()


def test_api_key_protects_the_endpoint_and_the_runner_still_sees_traffic(
    start_runner: object, large_model: Model
) -> None:
    runner = start_runner(  # type: ignore[operator]
        model=large_model.host_path, LLAMA_API_KEY="s3cret-key"
    )
    runner.wait_for("READY", "1")
    denied = httpx.post(f"{runner.url}/completion", json={"prompt": "Hi", "n_predict": 2})
    assert denied.status_code == 401
    results: list[httpx.Response] = []
    long_request_with_key = threading.Thread(
        target=lambda: results.append(
            httpx.post(
                f"{runner.url}/completion",
                headers={"Authorization": "Bearer s3cret-key"},
                json={"prompt": "Hello", "n_predict": 300, "cache_prompt": False},
                timeout=120,
            )
        ),
        daemon=True,
    )
    long_request_with_key.start()
    runner.wait_for("STATUS", "serving 1 request", within=20)
    long_request_with_key.join(60)
    assert results[0].status_code == 200


def test_sigterm_drains_the_request_in_flight_then_exits_0(
    start_runner: object, large_model: Model
) -> None:
    runner = start_runner(model=large_model.host_path)  # type: ignore[operator]
    runner.wait_for("READY", "1")
    results: list[httpx.Response | httpx.HTTPError] = []
    thread = long_request(runner.url, 400, results)
    wait_in_flight(runner.url)
    runner.process.send_signal(signal.SIGTERM)
    runner.wait_for("STOPPING", "1", within=5)
    thread.join(60)
    assert results, "the request did not finish"
    answer = results[0]
    assert isinstance(answer, httpx.Response), answer
    assert answer.status_code == 200, answer.text
    assert answer.json()["tokens_predicted"] == 400
    assert runner.process.wait(30) == 0
    assert any(status.startswith("draining 1 request") for status in runner.statuses())


def test_drain_is_bounded_and_a_hanging_server_is_stopped(
    start_runner: object, large_model: Model
) -> None:
    runner = start_runner(  # type: ignore[operator]
        model=large_model.host_path, HAL0_DRAIN_SEC="1", HAL0_GRACE_SEC="1"
    )
    runner.wait_for("READY", "1")
    results: list[httpx.Response | httpx.HTTPError] = []
    thread = long_request(runner.url, 1500, results)
    wait_in_flight(runner.url)
    server = runner.server_pid()
    stopped_at = time.monotonic()
    runner.process.send_signal(signal.SIGTERM)
    assert runner.process.wait(30) == 0
    took = time.monotonic() - stopped_at
    # drain 1 s + grace 1 s + second SIGTERM's wait 2 s, plus probing slack
    assert took < 10, took
    assert not Path(f"/proc/{server}").exists()
    assert "drain time up" in runner.log.read_text()
    thread.join(10)
    assert isinstance(results[0], httpx.HTTPError), results  # cut off, as bounded


def test_server_killed_makes_the_runner_fail(start_runner: object) -> None:
    runner = start_runner()  # type: ignore[operator]
    runner.wait_for("READY", "1")
    os.kill(runner.server_pid(), signal.SIGKILL)
    assert runner.exit_status() == 128 + signal.SIGKILL
    assert runner.statuses()[-1] == "llama-server was killed by SIGKILL"


def test_corrupt_model_makes_the_runner_fail(start_runner: object, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + os.urandom(4096))
    runner = start_runner(model=corrupt)  # type: ignore[operator]
    assert runner.process.wait(30) == 1
    assert not any("READY" in fields for _, fields in runner.messages)


def test_hung_server_gets_no_watchdog_pings_and_abort_ends_it(start_runner: object) -> None:
    runner = start_runner()  # type: ignore[operator]
    runner.wait_for("READY", "1")
    server = runner.server_pid()
    os.kill(server, signal.SIGSTOP)
    time.sleep(2.5)  # a probe that was in flight has timed out
    stopped_at = time.monotonic()
    time.sleep(4.5)
    later = [fields for at, fields in runner.messages if at > stopped_at]
    assert not any("WATCHDOG" in fields for fields in later), later
    runner.process.send_signal(signal.SIGABRT)  # what systemd's watchdog sends
    assert runner.process.wait(30) == 128 + signal.SIGABRT
    assert not Path(f"/proc/{server}").exists()
