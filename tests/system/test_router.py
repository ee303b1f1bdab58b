"""hal0-router end to end: real systemd, hal0d, polkitd and llama-server; the openai client.

One hal0d with several slots and the router's socket on a free loopback port (RouterSetup).
Every client is the real `openai` package created with ``max_retries=0``, so no retry hides an
error. The slots start offline: the router wakes them through hal0d's Wake.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.system.conftest import Model
from tests.system.harness.container import Container
from tests.system.router_support import (
    DAEMON,
    SERVICE,
    RouterSetup,
    Slot,
    absent_slot,
    broken_slot,
    metric,
    starts,
)
from tests.system.test_daemon_slots import slot_property, wait_for

# release_sensitive: socket activation, polkit resolving the static _hal0-router through NSS
# (a minimal trixie has no nss-systemd), Python 3.13 and trixie's dbus-fast/httpx/h11
pytestmark = [pytest.mark.timeout(300), pytest.mark.release_sensitive]
EMBEDDING_WIDTH = 64  # n_embd of the tiny model
COOLDOWN = 120  # long enough to outlast the test's requests during it
PROMPT = [{"role": "user", "content": "Say something."}]


@pytest.fixture(scope="module")
def router(container: Container, tiny_model: Model) -> Iterator[RouterSetup]:
    slots = [
        Slot.of("alpha", tiny_model, 'aliases = ["gpt-alpha"]\n'),
        Slot.of("beta", tiny_model),
        Slot.of("crowd", tiny_model),
        Slot.of("embed", tiny_model, 'extra_args = ["--embeddings", "--pooling", "mean"]\n'),
        Slot.of("keyed", tiny_model, 'api_key_file = "/etc/hal0/slots/keyed.key"\n'),
        broken_slot(container, "broken"),
        absent_slot("absent"),
    ]
    setup = RouterSetup(container, slots, f'cooldown = "{COOLDOWN}s"\nwait_timeout = "90s"\n')
    container.drop_in("hal0-slot@broken.service", "fast", "[Service]\nRestartSec=200ms\n")
    setup.start()
    container.write_file("/etc/hal0/slots/keyed.key", "slot-secret\n", mode=0o640)
    container.run("chown", "root:hal0", "/etc/hal0/slots/keyed.key")  # as slots.md says
    try:
        yield setup
    finally:
        for api in OPEN:
            api.close()
        OPEN.clear()
        setup.stop()
    container.path("/etc/systemd/system/hal0-slot@broken.service.d/fast.conf").unlink()
    container.path("/etc/hal0/slots/keyed.key").unlink(missing_ok=True)


OPEN: list[openai.OpenAI] = []  # closed when the module's router goes


def client(router: RouterSetup, key: str = "no-key-needed") -> openai.OpenAI:
    return opened(router.base_url, key)


def direct(router: RouterSetup, slot: str, key: str = "x") -> openai.OpenAI:
    """A client straight to the slot's llama-server, bypassing the router."""
    return opened(f"{router.slots[slot].url}/v1", key)


def opened(base_url: str, key: str) -> openai.OpenAI:
    api = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=120)
    OPEN.append(api)
    return api


def models(router: RouterSetup) -> dict[str, dict[str, str]]:
    listed = httpx.get(f"{router.base_url}/models").json()["data"]
    return {entry["id"]: {"slot": entry["slot"], "state": entry["state"]} for entry in listed}


def test_the_package_installs_the_router_socket_disabled(container: Container) -> None:
    enabled = container.run("systemctl", "is-enabled", "hal0-router.socket", check=False)
    assert enabled.stdout.strip() == "disabled"
    active = container.run("systemctl", "is-active", "hal0-router.socket", check=False)
    assert active.stdout.strip() == "inactive"


def test_streams_from_two_offline_slots_in_order_and_lists_them(router: RouterSetup) -> None:
    listed = models(router)
    assert {k: listed[k] for k in ("alpha", "gpt-alpha", "beta")} == {
        "alpha": {"slot": "alpha", "state": "offline"},
        "gpt-alpha": {"slot": "alpha", "state": "offline"},
        "beta": {"slot": "beta", "state": "offline"},
    }
    api = client(router)
    for model, slot in (("alpha", "alpha"), ("beta", "beta")):
        stream = api.chat.completions.create(
            model=model, messages=PROMPT, stream=True, max_tokens=1500, temperature=0, seed=1
        )
        chunks = iter(stream)
        first = next(chunks)
        # The first chunk is here while llama-server is still generating the rest.
        in_flight = metric(router.slots[slot].url, "requests_processing")
        rest = list(chunks)
        assert in_flight == 1
        deltas = [c.choices[0].delta.content or "" for c in [first, *rest] if c.choices]
        assert len(deltas) > 10
        assert rest[-1].choices == [] or rest[-1].choices[0].finish_reason == "length"
        # Same request straight to the slot: the same pieces in the same order.
        straight = direct(router, slot).chat.completions.create(
            model=model, messages=PROMPT, stream=True, max_tokens=1500, temperature=0, seed=1
        )
        assert deltas == [c.choices[0].delta.content or "" for c in straight if c.choices]
    listed = models(router)
    assert listed["alpha"]["state"] in ("ready", "serving")
    assert listed["beta"]["state"] in ("ready", "serving")
    answer = api.chat.completions.create(model="gpt-alpha", messages=PROMPT, max_tokens=4)
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 4


def test_embeddings_from_a_slot_configured_for_them(router: RouterSetup) -> None:
    answer = client(router).embeddings.create(model="embed", input=["hello", "world"])
    assert [len(item.embedding) for item in answer.data] == [EMBEDDING_WIDTH] * 2


def test_unknown_model_is_404_naming_the_models_that_exist(router: RouterSetup) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(router).chat.completions.create(model="nope", messages=PROMPT, max_tokens=1)
    message = str(caught.value)
    assert "'nope' does not exist" in message
    assert "alpha" in message
    assert "gpt-alpha" in message


def test_twenty_concurrent_requests_wake_the_slot_once(router: RouterSetup) -> None:
    unit = "hal0-slot@crowd.service"
    assert slot_property(router.container, "crowd", "State") == "offline"
    before = starts(router.container, unit)

    async def crowd() -> list[int]:
        api = openai.AsyncOpenAI(base_url=router.base_url, api_key="x", max_retries=0)
        answers = await asyncio.gather(
            *(
                api.completions.with_raw_response.create(model="crowd", prompt="Hi", max_tokens=8)
                for _ in range(20)
            )
        )
        await api.close()
        return [answer.status_code for answer in answers]

    assert asyncio.run(crowd()) == [200] * 20
    assert starts(router.container, unit) - before == 1


def test_a_model_that_fails_to_load_gives_503_and_a_cooldown(router: RouterSetup) -> None:
    unit = "hal0-slot@broken.service"
    api = client(router)
    with pytest.raises(openai.APIStatusError) as caught:
        api.completions.create(model="broken", prompt="Hi", max_tokens=4)
    error = caught.value
    assert error.status_code == 503
    assert int(error.response.headers["retry-after"]) >= 1
    assert "failed to load" in error.message
    assert "crashed" in error.message
    started = starts(router.container, unit)
    assert started >= 1
    for _ in range(3):  # during the cooldown: the same answer, and nothing started
        with pytest.raises(openai.APIStatusError) as again:
            api.completions.create(model="broken", prompt="Hi", max_tokens=4)
        assert again.value.status_code == 503
        assert again.value.response.headers["retry-after"]
        assert "failed to load" in again.value.message
    assert starts(router.container, unit) == started
    assert slot_property(router.container, "broken", "State") == "error"


def test_a_model_not_in_the_store_names_the_pull(router: RouterSetup) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client(router).completions.create(model="absent", prompt="Hi", max_tokens=4)
    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"]
    assert "hal0ctl pull absent" in caught.value.message
    assert slot_property(router.container, "absent", "State") == "offline"


def test_a_client_that_disconnects_stops_the_generation(router: RouterSetup) -> None:
    api = client(router)
    api.completions.create(model="beta", prompt="Hi", max_tokens=1)  # ready
    url = router.slots["beta"].url
    predicted = metric(url, "tokens_predicted_total")
    decoded = metric(url, "n_decode_total")
    max_tokens = 3000
    stream = api.completions.create(model="beta", prompt="Hi", max_tokens=max_tokens, stream=True)
    pieces = iter(stream)
    for _ in range(3):
        next(pieces)
    stream.close()
    wait_for("the slot stops generating", lambda: metric(url, "requests_processing") == 0, 60)
    assert metric(url, "tokens_predicted_total") - predicted < max_tokens
    # and it did generate: every token is a decode, so this cannot hold by standing still
    assert 3 <= metric(url, "n_decode_total") - decoded < max_tokens


def test_router_and_hal0d_restarts_under_load_lose_no_request(router: RouterSetup) -> None:
    api = client(router)
    api.completions.create(model="alpha", prompt="Hi", max_tokens=1)  # ready
    results: list[tuple[int, int]] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            with client(router) as one:  # a new connection for every request
                answer = one.completions.with_raw_response.create(
                    model="alpha", prompt="Hi", max_tokens=24
                )
                tokens = answer.parse().usage
                results.append((answer.status_code, tokens.completion_tokens if tokens else 0))
            time.sleep(0.1)

    sender = threading.Thread(target=load)
    sender.start()
    try:
        wait_for("requests flowing", lambda: len(results) >= 3)
        for _ in range(2):
            count = len(results)
            router.restart_router()
            wait_for("requests after the restart", lambda n=count: len(results) >= n + 3)
        count = len(results)
        router.container.run("systemctl", "restart", DAEMON, timeout=60)
        wait_for("requests after hal0d's restart", lambda: len(results) >= count + 5)
    finally:
        stop.set()
        sender.join(timeout=60)
    assert len(results) >= 14
    assert set(results) == {(200, 24)}


def test_the_router_forwards_the_slot_s_own_key(router: RouterSetup) -> None:
    answer = client(router).completions.create(model="keyed", prompt="Hi", max_tokens=2)
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 2
    with pytest.raises(openai.AuthenticationError):  # the slot does need its key
        direct(router, "keyed", "not-the-key").completions.create(
            model="keyed", prompt="Hi", max_tokens=1
        )


def test_client_keys_are_enforced_when_configured(router: RouterSetup) -> None:
    c = router.container
    c.write_file("/etc/hal0/router.keys", "# router keys\nclient-key-1\n", mode=0o600)
    c.write_file("/etc/hal0/router.toml", "require_key = true\n")
    router.restart_router()
    try:
        no_key = httpx.post(
            f"{router.base_url}/completions", json={"model": "alpha", "prompt": "Hi"}
        )
        assert no_key.status_code == 401
        with pytest.raises(openai.AuthenticationError):
            client(router, "wrong").completions.create(model="alpha", prompt="Hi", max_tokens=1)
        answer = client(router, "client-key-1").completions.with_raw_response.create(
            model="alpha", prompt="Hi", max_tokens=2
        )
        assert answer.status_code == 200
        by_header = httpx.post(
            f"{router.base_url}/completions",
            json={"model": "alpha", "prompt": "Hi", "max_tokens": 2},
            headers={"x-api-key": "client-key-1"},
        )
        assert by_header.status_code == 200
    finally:
        c.path("/etc/hal0/router.keys").unlink()
        c.write_file("/etc/hal0/router.toml", "")
        router.restart_router()


def test_a_socket_that_is_not_loopback_is_refused_without_keys(router: RouterSetup) -> None:
    c = router.container
    c.run("systemctl", "stop", "hal0-router.socket", SERVICE, timeout=60)
    c.drop_in(
        "hal0-router.socket", "port",
        f"[Socket]\nListenStream=\nListenStream=0.0.0.0:{router.port}\n",
    )  # fmt: skip
    try:
        c.run("systemctl", "start", "hal0-router.socket")
        failed = c.run("systemctl", "start", SERVICE, check=False, timeout=60)
        assert failed.returncode != 0
        assert "refusing to serve 0.0.0.0" in c.journal(SERVICE)
        state = c.run("systemctl", "show", SERVICE, "--property=ExecMainStatus").stdout
        assert state.strip() == "ExecMainStatus=78"
    finally:
        c.run("systemctl", "stop", "hal0-router.socket", SERVICE, check=False, timeout=60)
        c.run("systemctl", "reset-failed", "hal0-router.socket", SERVICE, check=False)
        c.drop_in(
            "hal0-router.socket", "port",
            f"[Socket]\nListenStream=\nListenStream=127.0.0.1:{router.port}\n",
        )  # fmt: skip
        c.run("systemctl", "start", "hal0-router.socket")
