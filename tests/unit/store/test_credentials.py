"""The Hugging Face token (hf_token_file) goes to hf_endpoint's origin and to no other:
a real TLS server plays huggingface.co and redirects to a second one, the CDN, which differs
only by its port (another origin all the same); each records the Authorization it saw."""

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal0d.config.model import CatalogSource, GlobalConfig, ModelRef, SlotConfig
from hal0d.errors import DownloadError
from hal0d.slots.model_request import ModelResolver
from hal0d.store.credentials import OriginToken, headers_for, origin_of, tokens_from_config
from hal0d.store.download import PullRequest
from hal0d.store.settings import StoreSettings
from hal0d.store.sources import load_source
from tests.support import tls
from tests.support.faultserver import Fault, FaultServer
from tests.unit.store.conftest import random_bytes, sha256
from tests.unit.store.test_pull import assert_stored, pull_once

TOKEN = "hf_gatedRepoToken123"  # noqa: S105 - a test value, sent to a loopback server
PATH = "/org/gated/resolve/0123abcd/model.gguf"


@pytest.fixture
def cdn(pki: tls.TestPki) -> Iterator[FaultServer]:
    with FaultServer(tls=pki.server_context()) as running:
        yield running


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "hf-token"
    path.write_text(f"  {TOKEN}\n")
    return path


def hub_token(hub: FaultServer, token_file: Path) -> tuple[OriginToken, ...]:
    config = GlobalConfig(hf_endpoint=hub.url("").rstrip("/"), hf_token_file=token_file)
    return tokens_from_config(config)


def gated_request(hub: FaultServer, data: bytes, tokens: tuple[OriginToken, ...]) -> PullRequest:
    return PullRequest(hub.url(PATH), sha256(data), len(data), name="gated", tokens=tokens)


async def test_the_token_reaches_the_endpoint_and_never_the_cdn(
    tls_server: FaultServer, cdn: FaultServer, settings: StoreSettings, token_file: Path
) -> None:
    hub = tls_server
    data = random_bytes(3 << 20)
    cdn.serve("/blob", data)
    # A relative redirect (a renamed repo) stays on the endpoint; the CDN's is absolute.
    hub.script(Fault(redirect_to=PATH + "?renamed"), Fault(redirect_to=cdn.url("/blob")))
    cdn.script(Fault(drop_after=1 << 20))  # the resume goes through the endpoint again
    hub.every = Fault(redirect_to=cdn.url("/blob"))
    path = await pull_once(settings, gated_request(hub, data, hub_token(hub, token_file)))
    assert_stored(settings, path, data)
    assert len(hub.log) == 3
    assert len(cdn.log) == 2
    assert [e.authorization for e in hub.log] == [f"Bearer {TOKEN}"] * 3
    assert [e.authorization for e in cdn.log] == [None, None]
    assert cdn.log[1].range == "bytes=1048576-"


async def test_no_token_configured_sends_none(
    tls_server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(1024)
    tls_server.serve(PATH, data)
    await pull_once(settings, gated_request(tls_server, data, ()))
    assert [e.authorization for e in tls_server.log] == [None]


async def test_an_unusable_token_file_fails_the_pull_naming_it(
    tls_server: FaultServer, settings: StoreSettings, token_file: Path
) -> None:
    data = random_bytes(1024)
    tls_server.serve(PATH, data)
    tokens = hub_token(tls_server, token_file)
    await asyncio.to_thread(token_file.write_bytes, b"")  # emptied after the config was read
    with pytest.raises(DownloadError, match=r"hf_token_file '.*hf-token' is empty"):
        await pull_once(settings, gated_request(tls_server, data, tokens))
    assert tls_server.log == []  # nothing was sent without the token


async def test_a_catalog_on_the_endpoint_is_fetched_with_the_token(
    tls_server: FaultServer, cdn: FaultServer, settings: StoreSettings, token_file: Path
) -> None:
    catalog = f'serial = 1\n[models.m]\nurl = "{cdn.url("/m")}"\nsha256 = "{"a" * 64}"\n'
    cdn.serve("/catalog.toml", catalog.encode())
    tls_server.every = Fault(redirect_to=cdn.url("/catalog.toml"))
    settings = dataclasses.replace(settings, tokens=hub_token(tls_server, token_file))
    source = CatalogSource("hub", tls_server.url("/catalog.toml"), "checksum")
    loaded = await load_source(source, settings, settings.state_dir / "keys")
    assert list(loaded.entries) == ["m"]
    assert [e.authorization for e in tls_server.log] == [f"Bearer {TOKEN}"]
    assert [e.authorization for e in cdn.log] == [None]


async def test_a_slots_pull_request_carries_the_configured_token(
    tmp_path: Path, token_file: Path
) -> None:
    """Built from the configuration of the moment, so a reload that adds the token applies
    to the next pull."""
    model = ModelRef(url="https://hub.example/org/r/resolve/c/m.gguf", sha256="b" * 64)
    slot = SlotConfig(name="chat", file=tmp_path / "chat.toml", model=model)
    without = GlobalConfig(hf_endpoint="https://hub.example")
    with_token = dataclasses.replace(without, hf_token_file=token_file)
    resolver = ModelResolver()
    assert (await resolver.request_for(slot, without)).tokens == ()
    (token,) = (await resolver.request_for(slot, with_token)).tokens
    assert headers_for(model.url or "", [token]) == {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://huggingface.co/org/repo", ("https", "huggingface.co", 443)),
        ("https://HuggingFace.co:443/x", ("https", "huggingface.co", 443)),
        ("https://huggingface.co:8443/x", ("https", "huggingface.co", 8443)),
        ("http://huggingface.co/x", ("http", "huggingface.co", 80)),
        ("https://cdn-lfs.huggingface.co/x", ("https", "cdn-lfs.huggingface.co", 443)),
        ("ftp://huggingface.co/x", None),
        ("https://huggingface.co:99999/x", None),
        ("/org/repo", None),
    ],
)
def test_origin_is_scheme_host_and_port(url: str, origin: tuple[str, str, int] | None) -> None:
    assert origin_of(url) == origin


def test_only_the_exact_origin_gets_the_header(token_file: Path) -> None:
    (token,) = tokens_from_config(
        GlobalConfig(hf_endpoint="https://huggingface.co", hf_token_file=token_file)
    )
    sent = {"Authorization": f"Bearer {TOKEN}"}
    assert headers_for("https://huggingface.co/org/repo/resolve/main/m.gguf", [token]) == sent
    for other in (
        "http://huggingface.co/org/repo",  # another scheme
        "https://huggingface.co:8443/org/repo",  # another port
        "https://cdn-lfs.huggingface.co/repos/ab/cd",  # a subdomain is another host
        "https://huggingface.co.evil.example/x",
        "https://evil.example/?https://huggingface.co/",
    ):
        assert headers_for(other, [token]) == {}, other
