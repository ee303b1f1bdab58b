"""Poll llama-server's /health on a loopback port every POLL seconds; print the
CLOCK_MONOTONIC time of the first 200 and exit.   python -m bench.system.first_health PORT

Prints "polling" once it runs, so the caller starts the load only after. A separate process,
so the subscriber that times the ready signal shares no event loop with it."""

import socket
import sys
import time

POLL = 0.002  # the resolution of the readiness-detection figure
REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def status(port: int) -> int | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(REQUEST)
            head = conn.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def main(port: int, within: float = 120) -> None:
    print("polling", flush=True)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if status(port) == 200:
            print(f"{time.monotonic():.6f}", flush=True)
            return
        time.sleep(POLL)
    raise SystemExit(f"no /health 200 on port {port} within {within} s")


if __name__ == "__main__":
    main(int(sys.argv[1]))
