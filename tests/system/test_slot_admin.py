"""`hal0ctl slot ...` end to end: the packaged hal0ctl and hal0d.service in the container.

Hugging Face is imitated on the host (tests/support/hfserver.py: the hub on one HTTPS origin,
its CDN on another, each recording what it saw; the container shares the host's loopback and
trusts their CA through hal0.toml's ``ca_file``), with ``hf_endpoint`` pointing at it and
``hf_token_file`` holding a token only the gated repository asks for. A signed local catalog
lists the tiny model, served over HTTPS as a catalog's models are.

- ``slot add NAME hf://...`` writes a commit-pinned URL, sha256 and size, and the CDN is not
  contacted; ``hal0ctl pull`` and ``load`` then work;
- a gated repository: the token reaches the hub, at ``slot add`` and on every pull, and never
  the CDN;
- ``slot set`` keeps the admin's comment and reloads; an invalid one leaves the file
  byte-identical and says why; with hal0d stopped it writes and exits 0;
- ``slot remove`` stops the slot through hal0d, removes the file, keeps the model;
  ``--delete-model`` deletes it only once nothing references it;
- a catalog entry resolved through hal0d, or read-only with hal0d stopped (nothing of root's
  is left under hal0d's state dir).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterator

import pytest

from tests.support import gguf_model, tls
from tests.support.hfserver import HfServer, Repo
from tests.system.conftest import CACHE, Model, free_port
from tests.system.hal0d_setup import MODELS, forget_model, remove_slots, write_hal0_toml
from tests.system.harness import catalog
from tests.system.harness.container import MODELS_DIR, Container

# trixie too: hal0ctl resolves and hal0d pulls with that release's httpx (0.28, not 0.23),
# and the token must stay with the hub on both.
pytestmark = [pytest.mark.timeout(300), pytest.mark.trixie]
DAEMON = "hal0d.service"
TOKEN = "hf_system_tier_token"  # noqa: S105 - a test token
TOKEN_INSIDE = "/etc/hal0/hf-token"  # noqa: S105 - a path
CATALOG_INSIDE = "/etc/hal0/catalogs/local.toml"
TINY_REPO, GATED_REPO, SHARED_REPO = "hal0/tiny-GGUF", "hal0/gated-GGUF", "hal0/shared-GGUF"
SLOTS = ("chat", "gated", "edited", "gone", "one", "two", "cat", "cat2")


def tiny_variant(name: str, seed: int) -> Model:
    """Another tiny model (another seed: another digest), generated once and cached."""
    spec = dataclasses.replace(gguf_model.TINY, name=name, seed=seed)
    host_path, digest = gguf_model.cached_model(spec, CACHE / "models")
    size = host_path.stat().st_size
    return Model(path=MODELS_DIR / host_path.name, host_path=host_path, sha256=digest, size=size)


@pytest.fixture(scope="module")
def gated_model() -> Model:
    return tiny_variant("hal0-tiny-gated", 7)


@pytest.fixture(scope="module")
def shared_model() -> Model:
    """The model of two slots, for --delete-model."""
    return tiny_variant("hal0-tiny-shared", 11)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tls.TestPki:
    return tls.make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def hub(
    pki: tls.TestPki, tiny_model: Model, gated_model: Model, shared_model: Model
) -> Iterator[HfServer]:
    with HfServer(pki) as server:
        server.add(TINY_REPO, Repo({"tiny.gguf": tiny_model.host_path.read_bytes()}))
        server.add(SHARED_REPO, Repo({"shared.gguf": shared_model.host_path.read_bytes()}))
        gated = {"gated.gguf": gated_model.host_path.read_bytes()}
        server.add(GATED_REPO, Repo(gated, gated_token=TOKEN))
        yield server


@pytest.fixture(scope="module")
def published(
    tmp_path_factory: pytest.TempPathFactory, pki: tls.TestPki, tiny_model: Model
) -> Iterator[tuple[catalog.Publication, catalog.FileServer]]:
    """The tiny model and a signed catalog listing it as ``tiny-chat``, served over HTTPS."""
    directory = tmp_path_factory.mktemp("catalog")
    port = free_port()
    publication = catalog.publish(
        directory, tiny_model.host_path, tiny_model.sha256, entry="tiny-chat", port=port
    )
    server = catalog.FileServer(publication.directory, pki, port).start()
    yield publication, server
    server.close()


@pytest.fixture(scope="module")
def hal0d(
    container: Container,
    hub: HfServer,
    pki: tls.TestPki,
    published: tuple[catalog.Publication, catalog.FileServer],
) -> Iterator[Container]:
    publication, _server = published
    for old in container.path("/etc/hal0/slots").glob("*.toml"):
        old.unlink()
    write_hal0_toml(container)
    container.write_file(catalog.KEY_INSIDE, publication.public_key.read_text())
    www = publication.directory
    container.write_file(CATALOG_INSIDE, (www / catalog.CATALOG).read_text())
    container.write_file(
        CATALOG_INSIDE + ".minisig", (www / f"{catalog.CATALOG}.minisig").read_text()
    )
    container.write_file(TOKEN_INSIDE, f"{TOKEN}\n", mode=0o640)
    container.run("chown", "root:_hal0", TOKEN_INSIDE)
    with container.path("/etc/hal0/hal0.toml").open("a") as file:
        file.write(
            catalog.trust_ca(container, pki.ca_file)
            + f'hf_endpoint = "{hub.endpoint}"\nhf_token_file = "{TOKEN_INSIDE}"\n'
            + f'[[catalogs]]\nname = "local"\nurl = "{CATALOG_INSIDE}"\n'
        )
    container.run("systemd-tmpfiles", "--create")
    container.run("systemctl", "restart", DAEMON, timeout=60)
    yield container
    remove_slots(container, SLOTS)
    container.path(TOKEN_INSIDE).unlink(missing_ok=True)
    write_hal0_toml(container)


def hal0ctl(box: Container, *args: str) -> tuple[int, str]:
    result = box.run("hal0ctl", *args, check=False, timeout=180)
    return result.returncode, result.stdout + result.stderr


def add(box: Container, name: str, source: str) -> str:
    """``slot add NAME SOURCE`` with a free port, one thread and a small context."""
    status, out = hal0ctl(
        box, "slot", "add", name, source, "--port", str(free_port()), "--threads", "1",
        "--context", "512",
    )  # fmt: skip
    assert status == 0, out
    return out


def slot_text(box: Container, name: str) -> str:
    return box.path(f"/etc/hal0/slots/{name}.toml").read_text()


def stored(box: Container, sha256: str) -> bool:
    return box.path(f"{MODELS}/{sha256}.gguf").exists()


def test_add_from_huggingface_pins_the_file_then_pull_and_load_work(
    hal0d: Container, hub: HfServer, tiny_model: Model
) -> None:
    hub_before, cdn_before = len(hub.hub.requests()), len(hub.cdn.requests())
    out = add(hal0d, "chat", f"hf://{TINY_REPO}/tiny.gguf")
    commit = hub.repos[TINY_REPO].commit
    assert "trusted on first use" in out
    assert "hal0d reloaded" in out
    keys = tomllib.loads(slot_text(hal0d, "chat"))
    assert keys["url"] == f"{hub.endpoint}/{TINY_REPO}/resolve/{commit}/tiny.gguf"
    assert (keys["sha256"], keys["size"]) == (tiny_model.sha256, tiny_model.size)
    assert slot_text(hal0d, "chat").startswith(f"# hf://{TINY_REPO}/tiny.gguf at commit {commit}")
    assert hub.cdn.requests()[cdn_before:] == [], "slot add must not contact the CDN"
    assert [r.method for r in hub.hub.requests()[hub_before:]] == ["HEAD"]

    forget_model(hal0d, tiny_model.sha256)
    status, out = hal0ctl(hal0d, "pull", "chat")
    assert status == 0, out
    assert [r.method for r in hub.cdn.requests()[cdn_before:]] == ["GET"], "the pull uses the CDN"
    status, out = hal0ctl(hal0d, "load", "chat")
    assert status == 0, out
    assert out.splitlines()[-1].startswith("chat: serving on http://127.0.0.1:")


def test_a_gated_repos_token_reaches_the_hub_and_never_the_cdn(
    hal0d: Container, hub: HfServer, gated_model: Model
) -> None:
    hub_before, cdn_before = len(hub.hub.requests()), len(hub.cdn.requests())
    add(hal0d, "gated", f"hf://{GATED_REPO}/gated.gguf")
    assert tomllib.loads(slot_text(hal0d, "gated"))["sha256"] == gated_model.sha256
    forget_model(hal0d, gated_model.sha256)
    status, out = hal0ctl(hal0d, "pull", "gated")
    assert status == 0, out
    to_hub = hub.hub.requests()[hub_before:]
    to_cdn = hub.cdn.requests()[cdn_before:]
    assert [r.method for r in to_hub] == ["HEAD", "GET"]  # slot add, then the pull
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in to_hub), to_hub
    assert [r.method for r in to_cdn] == ["GET"]
    assert "authorization" not in to_cdn[0].headers


def test_set_keeps_the_comment_reloads_and_refuses_what_hal0d_would_refuse(
    hal0d: Container,
) -> None:
    add(hal0d, "edited", f"hf://{TINY_REPO}/tiny.gguf")
    file = hal0d.path("/etc/hal0/slots/edited.toml")
    file.write_text("# the admin's note: keep two threads\n" + file.read_text())
    status, out = hal0ctl(hal0d, "slot", "set", "edited", "threads=2", "idle_after=5m")
    assert status == 0, out
    assert "hal0d reloaded" in out
    text = file.read_text()
    assert text.startswith("# the admin's note: keep two threads\n")
    assert tomllib.loads(text)["threads"] == 2

    before = file.read_bytes()
    status, out = hal0ctl(hal0d, "slot", "set", "edited", "port=70000")
    assert status == 78
    assert "edited.toml: port: 70000 is out of range" in out
    assert file.read_bytes() == before

    hal0d.run("systemctl", "stop", DAEMON, timeout=60)
    try:
        status, out = hal0ctl(hal0d, "slot", "set", "edited", "context=256")
        assert status == 0, out
        assert "hal0d is not running" in out
        assert tomllib.loads(file.read_text())["context"] == 256
    finally:
        hal0d.run("systemctl", "start", DAEMON, timeout=60)


def test_remove_stops_the_slot_and_keeps_the_model(hal0d: Container, tiny_model: Model) -> None:
    add(hal0d, "gone", f"hf://{TINY_REPO}/tiny.gguf")
    status, out = hal0ctl(hal0d, "load", "gone")
    assert status == 0, out
    status, out = hal0ctl(hal0d, "slot", "remove", "gone")
    assert status == 0, out
    assert "gone: offline" in out
    assert "the model stays in the store" in out
    assert not hal0d.path("/etc/hal0/slots/gone.toml").exists()
    active = hal0d.run("systemctl", "is-active", "hal0-slot@gone.service", check=False)
    assert active.stdout.strip() in ("inactive", "failed"), active.stdout
    assert stored(hal0d, tiny_model.sha256)


def test_delete_model_only_once_nothing_references_it(
    hal0d: Container, shared_model: Model
) -> None:
    add(hal0d, "one", f"hf://{SHARED_REPO}/shared.gguf")
    add(hal0d, "two", f"hf://{SHARED_REPO}/shared.gguf")
    status, out = hal0ctl(hal0d, "pull", "one")
    assert status == 0, out
    status, out = hal0ctl(hal0d, "slot", "remove", "one", "--delete-model")
    assert status == 1, out
    assert "slot one is removed, but its model" in out
    assert "two" in out  # what still references it
    assert not hal0d.path("/etc/hal0/slots/one.toml").exists()
    assert stored(hal0d, shared_model.sha256)
    status, out = hal0ctl(hal0d, "slot", "remove", "two", "--delete-model")
    assert status == 0, out
    assert f"deleted model {shared_model.sha256}" in out
    assert not stored(hal0d, shared_model.sha256)


def test_add_of_a_catalog_entry_through_hal0d_and_read_only_without_it(
    hal0d: Container, tiny_model: Model
) -> None:
    out = add(hal0d, "cat", "tiny-chat")
    assert "model tiny-chat: https://127.0.0.1:" in out
    assert tiny_model.sha256 in out
    assert tomllib.loads(slot_text(hal0d, "cat"))["model"] == "tiny-chat"
    status, out = hal0ctl(hal0d, "slot", "add", "nope", "no-such-entry")
    assert status == 1
    assert "local" in out  # the catalogs searched are named
    assert not hal0d.path("/etc/hal0/slots/nope.toml").exists()

    forget_model(hal0d, tiny_model.sha256)
    status, out = hal0ctl(hal0d, "pull", "cat")
    assert status == 0, out

    hal0d.run("systemctl", "stop", DAEMON, timeout=60)
    try:
        state = state_listing(hal0d)
        out = add(hal0d, "cat2", "local/tiny-chat")
        assert "hal0d is not running" in out
        assert tiny_model.sha256 in out
        assert state_listing(hal0d) == state, "slot add wrote under hal0d's state dir"
    finally:
        hal0d.run("systemctl", "start", DAEMON, timeout=60)


def state_listing(box: Container) -> str:
    """Every file under hal0d's state dir with its owner, size and modification time."""
    return box.run("find", "/var/lib/hal0", "-printf", "%p %u %s %T@\n").stdout
