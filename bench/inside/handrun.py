"""Start llama-server by hand exactly as the slot runner would (same argv and environment,
from the env file hal0d wrote), poll /health at the runner's own loading interval until 200,
print the elapsed milliseconds, stop it.   python3 -I handrun.py ENV_FILE"""

import json
import subprocess
import sys
import time
from pathlib import Path

from hal0d.runner import http
from hal0d.runner.runner import LOADING_TICK
from hal0d.runner.settings import LOOPBACK, load_settings


def main(env_file: str) -> None:
    environ = {}
    for line in Path(env_file).read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            environ[key] = value
    settings = load_settings(environ)
    started = time.monotonic()
    server = subprocess.Popen(
        settings.argv(),
        env=dict(settings.server_env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while http.health(LOOPBACK, settings.port) != 200:
            if server.poll() is not None:
                raise SystemExit(f"llama-server exited with {server.returncode}")
            time.sleep(LOADING_TICK)
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(30)
    print(json.dumps({"ready_ms": elapsed * 1000, "interval_s": LOADING_TICK}))


if __name__ == "__main__":
    main(sys.argv[1])
