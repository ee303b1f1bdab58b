"""Private CAs: `ca_file` in hal0.toml (for models) and per catalog source, and check-config
checking, as root, that the daemon's user can read it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hal0d.config import load_config
from hal0d.config.model import CatalogSource
from hal0d.errors import DownloadError
from hal0d.store.catalog import CatalogError
from hal0d.store.http import make_client
from hal0d.store.settings import StoreSettings, settings_from_config
from hal0d.store.sources import load_source
from hal0d.store.store import ModelStore
from tests.support import tls
from tests.support.faultserver import FaultServer
from tests.unit.store.conftest import random_bytes, sha256
from tests.unit.store.test_pull import assert_stored, pull_once, request_for


def write_global(config_dir: Path, state: Path, extra: str) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "hal0.toml").write_text(
        f'models_dir = "{state / "models"}"\nstate_dir = "{state}"\n'
        f'llama_server = "/bin/true"\n{extra}'
    )


async def test_ca_file_lets_pulls_trust_a_private_ca(
    tls_server: FaultServer, pki: tls.TestPki, tmp_path: Path
) -> None:
    write_global(tmp_path / "etc", tmp_path / "state", f'ca_file = "{pki.ca_file}"\n')
    config, problems = load_config(tmp_path / "etc")
    assert config is not None, problems
    assert [str(p) for p in problems] == []
    settings = settings_from_config(config.global_)
    data = random_bytes(1 << 20)
    tls_server.serve("/m.gguf", data)
    path = await pull_once(settings, request_for(tls_server, data))
    assert_stored(settings, path, data)


async def test_a_ca_file_a_reload_adds_is_trusted_by_the_next_pull(
    tls_server: FaultServer, pki: tls.TestPki, tmp_path: Path
) -> None:
    """Defect: the store kept the settings hal0d started with, so a ca_file added (or
    replaced) by a reload was trusted for catalogs but not for models until a restart."""
    write_global(tmp_path / "etc", tmp_path / "state", "")
    before = load_config(tmp_path / "etc")[0]
    write_global(tmp_path / "etc", tmp_path / "state", f'ca_file = "{pki.ca_file}"\n')
    after = load_config(tmp_path / "etc")[0]
    assert before is not None
    assert after is not None
    data = random_bytes(64 << 10)
    tls_server.serve("/m.gguf", data)
    store = ModelStore(settings_from_config(before.global_))
    await store.open()
    try:
        with pytest.raises(DownloadError, match="certificate is not trusted"):
            await store.pull(request_for(tls_server, data)).wait()
        store.apply(settings_from_config(after.global_))
        path = await store.pull(request_for(tls_server, data)).wait()
    finally:
        await store.close()
    assert_stored(settings_from_config(after.global_), path, data)


def test_a_reload_never_moves_the_store(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = StoreSettings(models_dir=tmp_path / "models", state_dir=tmp_path / "state")
    store = ModelStore(settings)
    moved = StoreSettings(
        models_dir=tmp_path / "elsewhere", state_dir=tmp_path / "state", retries=0
    )
    store.apply(moved)
    assert store.settings.models_dir == settings.models_dir
    assert store.settings.retries == 0
    assert "models_dir" in caplog.text
    assert "takes effect when hal0d next starts" in caplog.text


async def test_a_catalog_source_trusts_its_own_ca(
    tls_server: FaultServer, pki: tls.TestPki, tmp_path: Path
) -> None:
    model = random_bytes(1024)
    catalog = (
        f'serial = 1\n[models.tiny]\nurl = "{tls_server.url("/tiny.gguf")}"\n'
        f'sha256 = "{sha256(model)}"\n'
    )
    tls_server.serve("/catalog.toml", catalog.encode())
    settings = StoreSettings(models_dir=tmp_path / "models", state_dir=tmp_path / "state")
    source = CatalogSource("lab", tls_server.url("/catalog.toml"), "checksum")
    with pytest.raises(CatalogError, match="certificate"):
        await load_source(source, settings, tmp_path / "keys")
    trusting = CatalogSource("lab", source.url, "checksum", ca_file=pki.ca_file)
    loaded = await load_source(trusting, settings, tmp_path / "keys")
    assert loaded.entries["tiny"].sha256 == sha256(model)


def test_an_unusable_ca_file_is_a_download_error(tmp_path: Path) -> None:
    settings = StoreSettings(models_dir=tmp_path, state_dir=tmp_path, ca_file=tmp_path / "x")
    with pytest.raises(DownloadError, match=r"ca_file '.*/x' cannot be used"):
        make_client(settings)


def check_config(config_dir: Path, user: str) -> subprocess.CompletedProcess[str]:
    hal0d = Path(sys.executable).parent / "hal0d"
    return subprocess.run(
        [hal0d, "check-config", "--config-dir", config_dir, "--user", user],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_check_config_reads_ca_file_as_the_daemon_user(
    pki: tls.TestPki, tmp_path: Path, reachable: Path
) -> None:
    assert os.geteuid() == 0, "this check only runs as root; the test tiers run as root"
    private = reachable / "private"
    private.mkdir(mode=0o700)
    ca_file = private / "ca.pem"
    ca_file.write_bytes(pki.ca_file.read_bytes())
    write_global(tmp_path / "etc", tmp_path / "state", f'ca_file = "{ca_file}"\n')

    refused = check_config(tmp_path / "etc", "nobody")
    assert refused.returncode == 78, refused.stdout + refused.stderr
    assert (
        f"ca_file: '{ca_file}' is in '{private}', which cannot be entered by user nobody"
        in refused.stdout
    )

    private.chmod(0o755)
    accepted = check_config(tmp_path / "etc", "nobody")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_check_config_says_when_the_daemon_user_is_missing(
    pki: tls.TestPki, tmp_path: Path
) -> None:
    write_global(tmp_path / "etc", tmp_path / "state", f'ca_file = "{pki.ca_file}"\n')
    result = check_config(tmp_path / "etc", "no-such-user-hal0")
    assert result.returncode == 0, result.stdout
    assert "user 'no-such-user-hal0' does not exist" in result.stdout
