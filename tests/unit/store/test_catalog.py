"""Catalogs signed by the real minisign tool: accepted when intact, refused otherwise.

Each refusal is also checked against `minisign -V`, so hal0d and minisign agree.
"""

import base64
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from hal0d.store.catalog import CatalogError, load_catalog

SHA_A = "a" * 64
SHA_B = "b" * 64


def catalog_text(serial: int, sha: str = SHA_A) -> str:
    return f"""serial = {serial}

[models.tiny-q4]
url = "https://models.example/tiny-q4.gguf"
sha256 = "{sha}"
size = 1234
description = "a tiny model"
"""


@dataclass(frozen=True)
class Keys:
    public: Path
    secret: Path


def minisign() -> str:
    found = shutil.which("minisign")
    if found is None:
        pytest.fail("minisign is not installed: run `make deps-store` (requirements/apt-store.txt)")
    return found


def make_keys(directory: Path) -> Keys:
    directory.mkdir(parents=True, exist_ok=True)
    keys = Keys(directory / "minisign.pub", directory / "minisign.key")
    subprocess.run(
        [minisign(), "-G", "-W", "-p", str(keys.public), "-s", str(keys.secret)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return keys


def sign(keys: Keys, path: Path, *, legacy: bool = False) -> None:
    legacy_flag = ["-l"] if legacy else []
    subprocess.run(
        [
            minisign(),
            "-S",
            *legacy_flag,
            "-s",
            str(keys.secret),
            "-m",
            str(path),
            "-t",
            f"hal0d catalog {path.name}",
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )


def minisign_accepts(keys: Keys, path: Path) -> bool:
    result = subprocess.run(
        [minisign(), "-V", "-p", str(keys.public), "-m", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


@pytest.fixture
def env(tmp_path: Path) -> tuple[Keys, Path, Path, Path]:
    keys = make_keys(tmp_path / "signer")
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    shutil.copy(keys.public, keys_dir / "publisher.pub")
    catalog = tmp_path / "pub" / "main.toml"
    catalog.parent.mkdir()
    return keys, keys_dir, tmp_path / "state", catalog


@pytest.mark.parametrize("legacy", [False, True], ids=["prehashed-ED", "legacy-Ed"])
def test_signed_catalog_verifies(env: tuple[Keys, Path, Path, Path], legacy: bool) -> None:
    keys, keys_dir, state, catalog = env
    catalog.write_text(catalog_text(3))
    sign(keys, catalog, legacy=legacy)
    sig_line = catalog.with_name("main.toml.minisig").read_text().splitlines()[1]
    assert base64.b64decode(sig_line)[:2] == (b"Ed" if legacy else b"ED")
    loaded = load_catalog(catalog, keys_dir, state, "signature")
    assert minisign_accepts(keys, catalog)
    assert loaded.name == "main"
    assert loaded.serial == 3
    entry = loaded.entries["tiny-q4"]
    assert (entry.url, entry.sha256, entry.size) == (
        "https://models.example/tiny-q4.gguf",
        SHA_A,
        1234,
    )
    assert entry.metadata["description"] == "a tiny model"
    assert loaded.trusted_comment == "hal0d catalog main.toml"
    request = entry.to_request()
    assert (request.sha256, request.name) == (SHA_A, "tiny-q4")


def test_one_changed_byte_is_refused(env: tuple[Keys, Path, Path, Path]) -> None:
    keys, keys_dir, state, catalog = env
    catalog.write_text(catalog_text(3))
    sign(keys, catalog)
    catalog.write_text(catalog_text(3).replace("1234", "1235"))
    assert not minisign_accepts(keys, catalog)
    with pytest.raises(CatalogError, match=r"catalog main .*does not match the content"):
        load_catalog(catalog, keys_dir, state, "signature")


def test_edited_trusted_comment_is_refused(env: tuple[Keys, Path, Path, Path]) -> None:
    keys, keys_dir, state, catalog = env
    catalog.write_text(catalog_text(3))
    sign(keys, catalog)
    sig = catalog.with_name("main.toml.minisig")
    sig.write_text(sig.read_text().replace("hal0d catalog", "hal0d CATALOG"))
    assert not minisign_accepts(keys, catalog)
    with pytest.raises(CatalogError, match=r"catalog main .*trusted comment is not the one"):
        load_catalog(catalog, keys_dir, state, "signature")


def test_untrusted_key_is_refused(env: tuple[Keys, Path, Path, Path], tmp_path: Path) -> None:
    keys, keys_dir, state, catalog = env
    stranger = make_keys(tmp_path / "stranger")
    catalog.write_text(catalog_text(3))
    sign(stranger, catalog)
    assert not minisign_accepts(keys, catalog)
    assert minisign_accepts(stranger, catalog)
    with pytest.raises(CatalogError, match=r"catalog main .*which is not trusted"):
        load_catalog(catalog, keys_dir, state, "signature")


def test_missing_signature_is_refused(env: tuple[Keys, Path, Path, Path]) -> None:
    _, keys_dir, state, catalog = env
    catalog.write_text(catalog_text(3))
    with pytest.raises(CatalogError, match=r"catalog main .*main.toml.minisig cannot be read"):
        load_catalog(catalog, keys_dir, state, "signature")


def test_lower_serial_is_refused(env: tuple[Keys, Path, Path, Path]) -> None:
    keys, keys_dir, state, catalog = env
    catalog.write_text(catalog_text(5))
    sign(keys, catalog)
    load_catalog(catalog, keys_dir, state, "signature")
    catalog.write_text(catalog_text(4, SHA_B))
    sign(keys, catalog)
    assert minisign_accepts(keys, catalog)  # validly signed, but older
    with pytest.raises(CatalogError, match=r"catalog main .*serial 4 is lower than 5"):
        load_catalog(catalog, keys_dir, state, "signature")


def test_equal_serial_with_different_content_is_refused(
    env: tuple[Keys, Path, Path, Path],
) -> None:
    keys, keys_dir, state, catalog = env
    catalog.write_text(catalog_text(5))
    sign(keys, catalog)
    load_catalog(catalog, keys_dir, state, "signature")
    load_catalog(catalog, keys_dir, state, "signature")  # the same again is fine
    catalog.write_text(catalog_text(5, SHA_B))
    sign(keys, catalog)
    with pytest.raises(CatalogError, match=r"catalog main .*serial 5 was already accepted"):
        load_catalog(catalog, keys_dir, state, "signature")
    catalog.write_text(catalog_text(6, SHA_B))
    sign(keys, catalog)
    assert load_catalog(catalog, keys_dir, state, "signature").serial == 6


def test_checksum_mode_needs_no_signature_but_every_sha256(
    env: tuple[Keys, Path, Path, Path],
) -> None:
    _, keys_dir, state, catalog = env
    catalog.write_text(catalog_text(1))
    assert load_catalog(catalog, keys_dir, state, "checksum").serial == 1
    catalog.write_text(catalog_text(2).replace(f'sha256 = "{SHA_A}"\n', ""))
    with pytest.raises(CatalogError, match=r"catalog main .*model 'tiny-q4': sha256 is required"):
        load_catalog(catalog, keys_dir, state, "checksum")
    assert load_catalog(catalog, keys_dir, state, "no").entries["tiny-q4"].sha256 is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("serial = 'x'\n", "serial must be a non-negative integer"),
        ("serial = 1\n[models.a]\nurl = 'ftp://x'\nsha256 = '" + SHA_A + "'\n", "url must be"),
        ("serial = 1\n[models.a]\nurl = 'https://x'\nsha256 = 'zz'\n", "64 hex digits"),
        ("serial = 1\n[models.'../x']\nurl = 'https://x'\n", "not a valid model name"),
        ("serial = [\n", "not valid TOML"),
    ],
)
def test_malformed_catalogs_are_refused(
    env: tuple[Keys, Path, Path, Path], text: str, reason: str
) -> None:
    _, keys_dir, state, catalog = env
    catalog.write_text(text)
    with pytest.raises(CatalogError, match=reason):
        load_catalog(catalog, keys_dir, state, "checksum")
