"""Pull a 1 GiB random file from a real loopback nginx: hal0d's pipeline against
`curl -o FILE URL && openssl dgst -sha256 FILE` into the same models dir, alternating runs,
and the physical limit (slowest of: curl to /dev/null, hashlib.sha256 over the file, writing
the file with fsync), all three in every round; and the CPU time each side spends per GiB.

    python -m bench.pull --set pypi [--runs 5] [--mib 1024]   # build/bench/parts/pull-pypi.json
"""

import argparse
import asyncio
import dataclasses
import hashlib
import os
import platform
import subprocess
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from bench.nginx import nginx
from bench.result import Result, Target
from hal0d.store.download import PullRequest
from hal0d.store.settings import StoreSettings
from hal0d.store.store import ModelStore

BENCH = Path("build/bench")
METHOD = (
    "hal0d's model store (the daemon's own pipeline, in process) against "
    "`curl -o FILE URL && openssl dgst -sha256 FILE`, alternating, into the same directory on "
    "disk; the hardware limit is the slowest of curl to /dev/null, hashlib.sha256 over the "
    "file and writing it with one fsync, in every round. Ratios are taken run by run. CPU is "
    "user+system time of the process and its children per GiB."
)


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
    assert sha256 in out, out  # a benchmark that verified nothing is worthless


def limit_parts(source: Path, models: Path, url: str) -> dict[str, Callable[[], None]]:
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

    return {"curl_devnull_s": curl_null, "sha256_s": sha256_file, "write_fsync_s": write_fsync}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", required=True)
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
    result = Result(
        f"pull-{args.set}",
        f"Pull {args.mib} MiB over loopback nginx ({args.set} dependency set)",
        METHOD,
    )
    with nginx(www, work / "nginx") as base:
        url = f"{base}/model.gguf"
        peer_pull(models, url, sha256)  # warm the page cache with the source file
        hal0d_runs, peer_runs, cpu_runs, peer_cpu_runs, limit_runs = [], [], [], [], []
        parts = limit_parts(source, models, url)
        part_runs: dict[str, list[float]] = {name: [] for name in parts}
        for index in range(args.runs):
            hal0d_cpu = cpu_seconds(lambda: hal0d_pull(models, state, url, sha256, size), models)
            hal0d_runs.append(hal0d_cpu.wall)
            cpu_runs.append(hal0d_cpu.cpu / (size / (1 << 30)))
            peer_cpu = cpu_seconds(lambda: peer_pull(models, url, sha256), models)
            peer_runs.append(peer_cpu.wall)
            peer_cpu_runs.append(peer_cpu.cpu / (size / (1 << 30)))
            clean(models)
            for name, part in parts.items():
                part_runs[name].append(timed(part))
            limit_runs.append(max(times[-1] for times in part_runs.values()))
            print(
                f"  run {index + 1}: hal0d {hal0d_runs[-1]:.3f} s, peer {peer_runs[-1]:.3f} s, "
                f"limit {limit_runs[-1]:.3f} s"
            )
    ratios = [h / p for h, p in zip(hal0d_runs, peer_runs, strict=True)]
    result.add("hal0d_s", hal0d_runs, "s")
    result.add("curl_openssl_s", peer_runs, "s")
    result.add("ratio_vs_curl_openssl", ratios, "x", Target(0.6))
    result.add("hardware_limit_s", limit_runs, "s")
    for name, times in part_runs.items():
        result.add(f"limit_part_{name}", times, "s")
    limit_ratios = [h / limit for h, limit in zip(hal0d_runs, limit_runs, strict=True)]
    result.add("ratio_vs_hardware_limit", limit_ratios, "x", Target(1.2))
    result.add("hal0d_cpu_s_per_gib", cpu_runs, "CPU s/GiB")
    result.add("curl_openssl_cpu_s_per_gib", peer_cpu_runs, "CPU s/GiB")
    result.notes.append(f"python {platform.python_version()}, httpx {version('httpx')}")
    result.write(BENCH / "parts")


@dataclasses.dataclass(frozen=True)
class Cost:
    wall: float
    cpu: float  # this process (all its threads) and its reaped children


def cpu_seconds(action: Callable[[], object], models: Path) -> Cost:
    before = os.times()
    wall = timed(action, models)
    after = os.times()
    cpu = sum(getattr(after, f) - getattr(before, f) for f in FIELDS)
    return Cost(wall, cpu)


FIELDS = ("user", "system", "children_user", "children_system")


if __name__ == "__main__":
    main()
