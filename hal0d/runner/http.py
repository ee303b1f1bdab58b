"""Tiny blocking HTTP probes of the local llama-server (standard library only).

A plain socket speaking HTTP/1.0 rather than http.client: that module pulls in email and ssl,
which cost the runner tens of milliseconds at every slot start and a few MiB for as long as
the slot runs, for two GET requests to loopback.
"""

import socket

from hal0d.runner.metrics import Traffic, parse_metrics

PROBE_TIMEOUT = 2.0
MAX_ANSWER = 1 << 20  # /metrics is a few KiB; anything larger is not llama-server


def get(
    host: str, port: int, path: str, *, api_key: str | None = None, timeout: float = PROBE_TIMEOUT
) -> tuple[int, bytes] | None:
    """(status, body) of GET path, or None if the server did not answer in time or sanely."""
    auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
    request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n{auth}Connection: close\r\n\r\n"
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.sendall(request.encode("ascii"))
            answer = _read_all(connection)
    except OSError:
        return None
    if answer is None:
        return None
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(status) < 2 or not status[0].startswith(b"HTTP/") or not status[1].isdigit():
        return None
    return int(status[1]), body


def _read_all(connection: socket.socket) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while chunk := connection.recv(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER:
            return None
    return b"".join(chunks)


def health(host: str, port: int) -> int | None:
    """HTTP status of /health (200 ready, 503 loading), or None: no answer."""
    answer = get(host, port, "/health")
    return None if answer is None else answer[0]


def traffic(host: str, port: int, api_key: str | None) -> Traffic | None:
    answer = get(host, port, "/metrics", api_key=api_key)
    if answer is None or answer[0] != 200:
        return None
    return parse_metrics(answer[1].decode("utf-8", "replace"))
