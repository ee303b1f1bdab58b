"""hf:// sources: huggingface_hub's syntax parsed, and resolution against a local HTTPS
imitation of huggingface.co and its CDN (tests/support/hfserver.py), recording what each
origin saw."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal0d.cli import huggingface
from hal0d.cli.exits import EX_USAGE, CliError
from tests.support import tls
from tests.support.hfserver import HfServer, Repo

MODEL = b"GGUF" + bytes(range(256)) * 64
SHA256 = hashlib.sha256(MODEL).hexdigest()
TOKEN = "hf_test_token_0123456789"  # noqa: S105 - a test token


@pytest.fixture
def pki(tmp_path: Path) -> tls.TestPki:
    return tls.make_pki(tmp_path)


@pytest.fixture
def hub(pki: tls.TestPki) -> Iterator[HfServer]:
    with HfServer(pki) as server:
        yield server


@pytest.mark.parametrize(
    ("source", "repo_id", "revision", "path"),
    [
        ("hf://org/repo/model.gguf", "org/repo", "main", "model.gguf"),
        ("hf://org/repo@v1.0/sub/dir/m.gguf", "org/repo", "v1.0", "sub/dir/m.gguf"),
        ("hf://org/repo@refs%2Fpr%2F1/m.gguf", "org/repo", "refs/pr/1", "m.gguf"),
        ("hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF/q4_k_m.gguf", "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
         "main", "q4_k_m.gguf"),
    ],
)  # fmt: skip
def test_parse_takes_huggingface_hubs_syntax(
    source: str, repo_id: str, revision: str, path: str
) -> None:
    file = huggingface.parse(source)
    assert (file.repo_id, file.revision, file.path) == (repo_id, revision, path)


def test_a_revision_with_slashes_is_encoded_again_in_the_url() -> None:
    file = huggingface.parse("hf://org/repo@refs%2Fpr%2F1/a b.gguf")
    assert file.url("https://hub") == "https://hub/org/repo/resolve/refs%2Fpr%2F1/a%20b.gguf"


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("hf://datasets/org/data/file.gguf", "is a dataset repository"),
        ("hf://spaces/org/app/file.gguf", "is a Space repository"),
        ("hf://org/repo/model-00001-of-00003.gguf", "split GGUF"),
        ("hf://org/repo", "names no file"),
        ("hf://org/repo@/m.gguf", "empty revision"),
        ("hf://org/repo/../m.gguf", "is not a path in the repository"),
        ("hf://org/re po/m.gguf", "is not a repository id"),
        ("hf://org/repo/m\n.gguf", "control character"),
    ],
)
def test_parse_refuses_with_a_reason(source: str, said: str) -> None:
    with pytest.raises(CliError) as caught:
        huggingface.parse(source)
    assert said in str(caught.value)
    assert caught.value.status == EX_USAGE


def test_resolve_reads_the_hubs_headers_and_never_contacts_the_cdn(
    hub: HfServer, pki: tls.TestPki
) -> None:
    repo = hub.add("org/repo", Repo({"m.gguf": MODEL}))
    pinned = huggingface.resolve(
        huggingface.parse("hf://org/repo/m.gguf"), hub.endpoint, None, pki.client_context()
    )
    assert pinned.commit == repo.commit
    assert (pinned.sha256, pinned.size) == (SHA256, len(MODEL))
    assert pinned.url == f"{hub.endpoint}/org/repo/resolve/{repo.commit}/m.gguf"
    assert [(r.method, r.path) for r in hub.hub.requests()] == [
        ("HEAD", "/org/repo/resolve/main/m.gguf")
    ]
    assert hub.cdn.requests() == []


def test_resolve_follows_a_relative_redirect_of_a_renamed_repo(
    hub: HfServer, pki: tls.TestPki
) -> None:
    repo = hub.add("neworg/repo", Repo({"m.gguf": MODEL}))
    hub.renamed["oldorg/repo"] = "neworg/repo"
    file = huggingface.parse("hf://oldorg/repo/m.gguf")
    pinned = huggingface.resolve(file, hub.endpoint, None, pki.client_context())
    assert pinned.commit == repo.commit
    assert [r.path for r in hub.hub.requests()] == [
        "/oldorg/repo/resolve/main/m.gguf",
        "/neworg/repo/resolve/main/m.gguf",
    ]
    assert hub.cdn.requests() == []


def test_the_token_goes_to_the_hub_of_a_gated_repo(hub: HfServer, pki: tls.TestPki) -> None:
    hub.add("org/gated", Repo({"m.gguf": MODEL}, gated_token=TOKEN))
    file = huggingface.parse("hf://org/gated/m.gguf")
    with pytest.raises(CliError) as caught:
        huggingface.resolve(file, hub.endpoint, None, pki.client_context())
    assert "GatedRepo" in str(caught.value)
    assert "set hf_token_file in hal0.toml" in str(caught.value)
    pinned = huggingface.resolve(file, hub.endpoint, TOKEN, pki.client_context())
    assert pinned.sha256 == SHA256
    assert hub.hub.requests()[-1].headers["authorization"] == f"Bearer {TOKEN}"
    assert hub.cdn.requests() == []


def test_a_file_outside_lfs_has_no_digest(hub: HfServer, pki: tls.TestPki) -> None:
    hub.add("org/small", Repo({"m.gguf": MODEL}, lfs=False))
    pinned = huggingface.resolve(
        huggingface.parse("hf://org/small/m.gguf"), hub.endpoint, None, pki.client_context()
    )
    assert pinned.sha256 is None
    assert pinned.size is None


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("hf://org/repo@v9/m.gguf", "has no revision 'v9'"),
        ("hf://org/repo/other.gguf", "has no file 'other.gguf'"),
        ("hf://org/missing/m.gguf", "RepoNotFound"),
    ],
)
def test_what_the_hub_refuses_is_named(
    hub: HfServer, pki: tls.TestPki, source: str, said: str
) -> None:
    hub.add("org/repo", Repo({"m.gguf": MODEL}))
    with pytest.raises(CliError) as caught:
        huggingface.resolve(huggingface.parse(source), hub.endpoint, None, pki.client_context())
    assert said in str(caught.value)


def test_an_unreachable_hub_says_what_to_check(hub: HfServer, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = tls.make_pki(tmp_path / "other")  # a CA the client does not trust
    file = huggingface.parse("hf://org/repo/m.gguf")
    with pytest.raises(CliError) as caught:
        huggingface.resolve(file, hub.endpoint, None, other.client_context())
    assert "check the network and hf_endpoint in hal0.toml" in str(caught.value)
    assert hub.hub.requests() == []  # refused during the handshake: nothing was sent
