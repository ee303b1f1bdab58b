"""Pull a 1 GiB random file from a real loopback nginx: hal0d's pipeline against
`curl -o FILE URL && openssl dgst -sha256 FILE` into the same models dir, alternating runs,
and the physical limit (slowest of: curl to /dev/null, hashlib.sha256 over the file, writing
the file with fsync).

    python -m bench.pull --set pypi --out build/bench/pull-pypi.json [--runs 5] [--mib 1024]
"""

import argparse
import asyncio
import hashlib
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from bench.nginx import nginx
from hal0d.store.download import PullRequest
from hal0d.store.settings import StoreSettings
from hal0d.store.store import ModelStore

BENCH = Path("build/bench")


def make_source(path: Path, size: int) -> str:
    """A random file of ``size`` bytes (kept between runs) and its SHA-256."""
    digest_file = path.with_suffix(".sha256")
    if not (path.exists() and path.stat().st_size == size and digest_file.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with path.open("wb") as f:
            for _ in range(size >> 20):
                block = os.urandom(1 << 20)
                digest.update(block)
                f.write(block)
        digest_file.write_text(digest.hexdigest())
    return digest_file.read_text().strip()


def clean(models: Path) -> None:
    for leftover in models.glob("*.gguf"):
        leftover.unlink()


def timed(action: Callable[[], object], models: Path | None = None) -> float:
    """Wall time of ``action``; removing the last run's file and syncing are not timed."""
    if models is not None:
        clean(models)
    os.sync()  # start each run with no dirty pages left by the one before
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def hal0d_pull(models: Path, state: Path, url: str, sha256: str, size: int) -> None:
    async def pull() -> None:
        settings = StoreSettings(models_dir=models, state_dir=state, free_space_margin=0)
        store = ModelStore(settings)
        await store.open()
        try:
            await store.pull(PullRequest(url, sha256, size, allow_http=True)).wait()
        finally:
            await store.close()

    asyncio.run(pull())


def peer_pull(models: Path, url: str, sha256: str) -> None:
    target = models / "peer.gguf"
    out = subprocess.run(
        ["bash", "-c", 'curl -sS -o "$1" "$2" && openssl dgst -sha256 "$1"', "-", target, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert sha256 in out, out  # noqa: S101 - a benchmark that verified nothing is worthless


def limit_parts(source: Path, models: Path, url: str) -> dict[str, float]:
    def curl_null() -> None:
        subprocess.run(["curl", "-sS", "-o", "/dev/null", url], check=True)

    def sha256_file() -> None:
        digest = hashlib.sha256()
        buf = bytearray(4 << 20)
        with source.open("rb", buffering=0) as f:
            while n := f.readinto(buf):
                digest.update(memoryview(buf)[:n])

    block = os.urandom(4 << 20)
    size = source.stat().st_size

    def write_fsync() -> None:
        target = models / "write.bin"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for _ in range(size // len(block)):
                os.write(fd, block)
            os.fsync(fd)
        finally:
            os.close(fd)
        target.unlink()

    parts = {"curl_devnull_s": curl_null, "sha256_s": sha256_file, "write_fsync_s": write_fsync}
    return {name: statistics.median(timed(fn) for _ in range(3)) for name, fn in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.mib << 20
    www = (BENCH / "www").resolve()
    source = www / "model.gguf"
    sha256 = make_source(source, size)
    work = (BENCH / f"work-{args.set}").resolve()
    models, state = work / "models", work / "state"
    models.mkdir(parents=True, exist_ok=True)
    with nginx(www, work / "nginx") as base:
        url = f"{base}/model.gguf"
        peer_pull(models, url, sha256)  # warm the page cache with the source file
        hal0d_runs, peer_runs = [], []
        for index in range(args.runs):
            hal0d_runs.append(timed(lambda: hal0d_pull(models, state, url, sha256, size), models))
            peer_runs.append(timed(lambda: peer_pull(models, url, sha256), models))
            print(f"  run {index + 1}: hal0d {hal0d_runs[-1]:.3f} s, peer {peer_runs[-1]:.3f} s")
        clean(models)
        limits = limit_parts(source, models, url)
    hal0d_s, peer_s = statistics.median(hal0d_runs), statistics.median(peer_runs)
    limit_s = max(limits.values())
    result = {
        "set": args.set,
        "python": platform.python_version(),
        "httpx": version("httpx"),
        "bytes": size,
        "runs": args.runs,
        "hal0d_s": round(hal0d_s, 4),
        "peer_s": round(peer_s, 4),
        "limit_s": round(limit_s, 4),
        "ratio": round(hal0d_s / peer_s, 4),
        "hal0d_runs_s": [round(t, 4) for t in hal0d_runs],
        "peer_runs_s": [round(t, 4) for t in peer_runs],
        "limit_parts": {name: round(t, 4) for name, t in limits.items()},
        "loadavg_after": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("hal0d_s", "peer_s", "limit_s", "ratio")}))


if __name__ == "__main__":
    main()
