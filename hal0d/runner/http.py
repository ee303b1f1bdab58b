"""Tiny blocking HTTP probes of the local llama-server (standard library only)."""

import http.client

from hal0d.runner.metrics import Traffic, parse_metrics

PROBE_TIMEOUT = 2.0


def get(
    host: str, port: int, path: str, *, api_key: str | None = None, timeout: float = PROBE_TIMEOUT
) -> tuple[int, bytes] | None:
    """(status, body) of GET path, or None if the server did not answer in time."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def health(host: str, port: int) -> int | None:
    """HTTP status of /health (200 ready, 503 loading), or None: no answer."""
    answer = get(host, port, "/health")
    return None if answer is None else answer[0]


def traffic(host: str, port: int, api_key: str | None) -> Traffic | None:
    answer = get(host, port, "/metrics", api_key=api_key)
    if answer is None or answer[0] != 200:
        return None
    return parse_metrics(answer[1].decode("utf-8", "replace"))
