"""Slots that name a catalog entry: resolved through the verified catalog, then pulled."""

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from hal0d.config import CatalogSource, Config, GlobalConfig, ModelRef, SlotConfig
from hal0d.errors import ConfigError
from hal0d.slots.adapters import Adapters
from hal0d.slots.model_request import ModelResolver
from hal0d.slots.nosystemd import NoSystemd
from hal0d.slots.probe import HttpProbe
from hal0d.slots.supervisor import SlotSupervisor
from hal0d.slots.view import SlotView
from hal0d.store.progress import PullPhase
from hal0d.store.settings import StoreSettings
from hal0d.store.store import ModelStore
from tests.support.faultserver import FaultServer
from tests.unit.store.conftest import random_bytes, sha256
from tests.unit.store.test_catalog import Keys, make_keys, sign

SHA_A = "a" * 64
SHA_B = "b" * 64


def write_catalog(path: Path, keys: Keys, serial: int, entries: dict[str, tuple[str, str]]) -> None:
    text = f"serial = {serial}\n"
    for name, (url, digest) in entries.items():
        text += f'\n[models.{name}]\nurl = "{url}"\nsha256 = "{digest}"\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    sign(keys, path)


def trusted_keys(tmp_path: Path) -> tuple[Keys, Path]:
    keys = make_keys(tmp_path / "signer")
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    (keys_dir / "publisher.pub").write_bytes(keys.public.read_bytes())
    return keys, keys_dir


def global_config(tmp_path: Path, keys_dir: Path, *catalogs: Path) -> GlobalConfig:
    sources = tuple(CatalogSource(path.stem, str(path), "signature") for path in catalogs)
    return GlobalConfig(
        models_dir=tmp_path / "models",
        state_dir=tmp_path / "state",
        keys_dir=keys_dir,
        catalogs=sources,
    )


def slot(model: ModelRef) -> SlotConfig:
    return SlotConfig(name="chat", file=Path("/etc/hal0/slots/chat.toml"), model=model)


async def test_url_slot_asks_for_exactly_its_config(tmp_path: Path) -> None:
    model = ModelRef(url="https://m.example/x.gguf", sha256=SHA_A, size=7, allow_http=False)
    request = await ModelResolver().request_for(slot(model), GlobalConfig())
    assert (request.url, request.sha256, request.size, request.verify, request.name) == (
        "https://m.example/x.gguf",
        SHA_A,
        7,
        "checksum",
        "chat",
    )


async def test_catalog_entry_resolves_through_the_signed_catalog(tmp_path: Path) -> None:
    keys, keys_dir = trusted_keys(tmp_path)
    catalog = tmp_path / "pub" / "main.toml"
    write_catalog(catalog, keys, 1, {"tiny-q4": ("https://m.example/tiny.gguf", SHA_A)})
    config = global_config(tmp_path, keys_dir, catalog)
    request = await ModelResolver().request_for(slot(ModelRef(catalog_name="tiny-q4")), config)
    assert (request.url, request.sha256, request.verify) == (
        "https://m.example/tiny.gguf",
        SHA_A,
        "signature",
    )


async def test_qualified_name_picks_its_catalog(tmp_path: Path) -> None:
    keys, keys_dir = trusted_keys(tmp_path)
    first, second = tmp_path / "pub" / "first.toml", tmp_path / "pub" / "second.toml"
    write_catalog(first, keys, 1, {"tiny": ("https://one.example/t.gguf", SHA_A)})
    write_catalog(second, keys, 1, {"tiny": ("https://two.example/t.gguf", SHA_B)})
    config = global_config(tmp_path, keys_dir, first, second)
    resolver = ModelResolver()
    plain = await resolver.request_for(slot(ModelRef(catalog_name="tiny")), config)
    qualified = await resolver.request_for(slot(ModelRef(catalog_name="second/tiny")), config)
    assert plain.sha256 == SHA_A  # configuration order decides an unqualified name
    assert qualified.sha256 == SHA_B


async def test_unknown_entry_names_the_configured_catalogs(tmp_path: Path) -> None:
    keys, keys_dir = trusted_keys(tmp_path)
    catalog = tmp_path / "pub" / "main.toml"
    write_catalog(catalog, keys, 1, {"tiny": ("https://m.example/t.gguf", SHA_A)})
    config = global_config(tmp_path, keys_dir, catalog)
    with pytest.raises(ConfigError, match=r"no accepted catalog lists model 'huge'.*main"):
        await ModelResolver().request_for(slot(ModelRef(catalog_name="huge")), config)


async def test_refused_catalog_says_why_and_is_tried_again_once_fixed(tmp_path: Path) -> None:
    keys, keys_dir = trusted_keys(tmp_path)
    catalog = tmp_path / "pub" / "main.toml"
    write_catalog(catalog, keys, 1, {"tiny": ("https://m.example/t.gguf", SHA_A)})
    catalog.write_text(catalog.read_text().replace(SHA_A, SHA_B))  # tampered after signing
    config = global_config(tmp_path, keys_dir, catalog)
    resolver = ModelResolver()
    with pytest.raises(ConfigError, match=r"no accepted catalog.*main.*signature"):
        await resolver.request_for(slot(ModelRef(catalog_name="tiny")), config)
    write_catalog(catalog, keys, 2, {"tiny": ("https://m.example/t.gguf", SHA_A)})
    request = await resolver.request_for(slot(ModelRef(catalog_name="tiny")), config)
    assert request.sha256 == SHA_A


async def test_catalog_slot_pulls_the_listed_file(
    tmp_path: Path, tls_server: FaultServer, settings: StoreSettings
) -> None:
    data = random_bytes(3 << 20, seed=7)
    tls_server.serve("/tiny.gguf", data)
    keys, keys_dir = trusted_keys(tmp_path)
    catalog = tmp_path / "pub" / "main.toml"
    write_catalog(catalog, keys, 1, {"tiny": (tls_server.url("/tiny.gguf"), sha256(data))})
    global_ = global_config(tmp_path, keys_dir, catalog)
    chat = replace(slot(ModelRef(catalog_name="tiny")), port=8100)
    config = Config(config_dir=tmp_path, global_=global_, slots={"chat": chat})
    store = ModelStore(settings)
    await store.open()
    try:
        backend = SlotSupervisor(config, Adapters(NoSystemd(), HttpProbe(), store))
        finished: asyncio.Future[SlotView] = asyncio.get_running_loop().create_future()

        def on_view(view: SlotView) -> None:
            if view.phase is not None and view.phase.is_final and not finished.done():
                finished.set_result(view)

        backend.subscribe(on_view)
        await backend.pull("chat")
        view = await asyncio.wait_for(finished, 30)
        await backend.stop()
    finally:
        await store.close()
    assert view.phase is PullPhase.DONE, view.last_error
    assert store.path_for(sha256(data)).read_bytes() == data
