"""The slot runner's HTTP probe (hal0d/runner/http.py) against a real loopback server: status
and body, the API key header, and every way of not answering sanely reading as None."""

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hal0d.runner import http
from hal0d.runner.metrics import Traffic

METRICS = b"llamacpp:requests_processing 2\nllamacpp:requests_deferred 1\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            self._answer(503 if self.server.loading else 200, b'{"status":"ok"}')  # type: ignore[attr-defined]
        elif self.path == "/metrics":
            allowed = self.headers.get("Authorization") == "Bearer sesame"
            self._answer(200 if allowed else 401, METRICS if allowed else b"denied")
        elif self.path == "/huge":
            self._answer(200, b"x" * (http.MAX_ANSWER + 1))
        else:
            self._answer(404, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.loading = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def port_of(httpd: ThreadingHTTPServer) -> int:
    return int(httpd.server_address[1])


def test_health_reads_the_status(server: ThreadingHTTPServer) -> None:
    assert http.health("127.0.0.1", port_of(server)) == 200
    server.loading = True  # type: ignore[attr-defined]
    assert http.health("127.0.0.1", port_of(server)) == 503


def test_traffic_sends_the_api_key(server: ThreadingHTTPServer) -> None:
    port = port_of(server)
    assert http.traffic("127.0.0.1", port, "sesame") == Traffic(2, 1)
    assert http.traffic("127.0.0.1", port, None) is None  # 401 without the key
    assert http.get("127.0.0.1", port, "/metrics", api_key="sesame") == (200, METRICS)


def test_an_oversized_answer_is_no_answer(server: ThreadingHTTPServer) -> None:
    assert http.get("127.0.0.1", port_of(server), "/huge") is None


def raw_server(behave: Callable[[socket.socket], None]) -> tuple[int, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                behave(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


@pytest.mark.parametrize(
    "answer", [b"", b"garbage\r\n\r\n", b"HTTP/1.0 abc Nope\r\n\r\n", b"SMTP 220 hello\r\n"]
)
def test_a_malformed_answer_is_no_answer(answer: bytes) -> None:
    def reply(connection: socket.socket) -> None:
        connection.recv(4096)
        connection.sendall(answer)

    port, thread = raw_server(reply)
    assert http.health("127.0.0.1", port) is None
    thread.join()


def test_a_silent_server_is_no_answer_after_the_timeout() -> None:
    done = threading.Event()
    port, thread = raw_server(lambda connection: done.wait(10))
    assert http.get("127.0.0.1", port, "/health", timeout=0.2) is None
    done.set()
    thread.join()


def test_nothing_listening_is_no_answer() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert http.health("127.0.0.1", port) is None
