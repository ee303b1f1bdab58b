"""7. The router's cost: latency added to a short completion, and streaming throughput.

The real hal0-router.service (socket-activated, in the container) in front of one ready
tiny-model slot; the client on the host, over loopback.

Latency: a non-streaming completion of one token, through the router and straight to the
slot, alternating request by request, one keep-alive connection to each side; the figure is
the difference of the two medians.

Throughput: a streamed completion of STREAM_TOKENS tokens read to its end, alternating
router/direct, each on a new connection; the figure is the ratio of the median bytes per second.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from bench.result import Result, Target
from bench.system.conftest import runs
from tests.system.conftest import Model
from tests.system.harness.container import Container
from tests.system.router_support import RouterSetup, Slot

pytestmark = pytest.mark.timeout(1800)
SHORT = {"model": "bench", "prompt": "Hi", "max_tokens": 1, "temperature": 0}
STREAM_TOKENS = 2000
STREAM = {**SHORT, "max_tokens": STREAM_TOKENS, "stream": True}


@pytest.fixture(scope="module")
def router(container: Container, tiny_model: Model) -> Iterator[RouterSetup]:
    setup = RouterSetup(container, [Slot.of("bench", tiny_model)])
    setup.start()
    yield setup
    setup.stop()


def short(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    answer = client.post(f"{url}/completions", json=SHORT)
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    return elapsed * 1000


def streamed(url: str) -> float:
    """Bytes per second of a streamed completion, first byte of the request to its end."""
    size = 0
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        with client.stream("POST", f"{url}/completions", json=STREAM) as answer:
            answer.raise_for_status()
            for chunk in answer.iter_raw():
                size += len(chunk)
        return size / (time.perf_counter() - started)


def bench_router(router: RouterSetup) -> None:
    result = Result(
        "router",
        "Router overhead",
        "hal0-router vs straight to the slot, alternating; latency over one keep-alive "
        "connection each, streams on new connections; "
        f"latency: completion of 1 token; throughput: {STREAM_TOKENS}-token stream",
    )
    direct_url = f"{router.slots['bench'].url}/v1"
    with httpx.Client(timeout=120) as via, httpx.Client(timeout=120) as direct:
        short(via, router.base_url)  # wakes the slot
        for _ in range(20):  # warm both paths
            short(via, router.base_url)
            short(direct, direct_url)
        through: list[float] = []
        straight: list[float] = []
        for _ in range(runs(300)):
            through.append(short(via, router.base_url))
            straight.append(short(direct, direct_url))
    rates_via: list[float] = []
    rates_direct: list[float] = []
    for index in range(runs(9)):
        pair = [(rates_via, router.base_url), (rates_direct, direct_url)]
        for rates, url in pair if index % 2 == 0 else reversed(pair):
            rates.append(streamed(url))
    result.add("latency_router_ms", through, "ms")
    result.add("latency_direct_ms", straight, "ms")
    result.add_value(
        "overhead_p50_ms",
        statistics.median(through) - statistics.median(straight),
        "ms",
        Target(2.0),
    )
    result.add("stream_router_bytes_per_s", rates_via, "B/s")
    result.add("stream_direct_bytes_per_s", rates_direct, "B/s")
    result.add_value(
        "stream_throughput_ratio",
        statistics.median(rates_via) / statistics.median(rates_direct),
        "ratio",
        Target(float("inf"), low=0.98),
    )
    result.write()
