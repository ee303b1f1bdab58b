"""`hal0ctl catalog verify`: the catalog checked as hal0d would, and nothing written under
hal0d's state directory. Signed with the real minisign tool."""

import shutil
from pathlib import Path

import pytest

from hal0d.cli.ctl import main
from hal0d.store.catalog import load_catalog
from tests.unit.store.test_catalog import catalog_text, make_keys, sign


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(config dir, state dir, a catalog signed by a trusted key)."""
    keys = make_keys(tmp_path / "signer")
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    shutil.copy(keys.public, keys_dir / "publisher.pub")
    state = tmp_path / "state"
    config = tmp_path / "etc"
    config.mkdir()
    (config / "hal0.toml").write_text(
        f'keys_dir = "{keys_dir}"\nstate_dir = "{state}"\nmodels_dir = "{state / "models"}"\n'
        'llama_server = "/bin/true"\n'
    )
    catalog = tmp_path / "pub" / "main.toml"
    catalog.parent.mkdir()
    catalog.write_text(catalog_text(3))
    sign(keys, catalog)
    return config, state, catalog


def test_a_signed_catalog_is_reported_and_nothing_is_recorded(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, state, catalog = setup
    status = main(["catalog", "verify", str(catalog), "--config-dir", str(config)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.startswith(f"{catalog}: OK: catalog main, serial 3, 1 model(s), verify = signature")
    assert "signed by key" in out
    assert f"  tiny-q4  {'a' * 64}  1234 bytes  https://models.example/tiny-q4.gguf" in out
    assert not (state / "catalogs").exists()


def test_an_older_serial_than_hal0d_accepted_is_refused(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, state, catalog = setup
    newer = catalog.with_name("newer.toml")
    newer.write_text(catalog_text(5))
    load_catalog(newer, Path("/nonexistent"), state, "checksum", name="main")  # hal0d's own
    recorded = (state / "catalogs" / "main.json").read_bytes()
    status = main(["catalog", "verify", str(catalog), "--config-dir", str(config)])
    err = capsys.readouterr().err
    assert status == 1
    assert "serial 3 is lower than 5, already accepted" in err
    assert (state / "catalogs" / "main.json").read_bytes() == recorded


def test_a_changed_byte_is_refused(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _state, catalog = setup
    catalog.write_text(catalog.read_text().replace("1234", "1235"))
    status = main(["catalog", "verify", str(catalog), "--config-dir", str(config)])
    assert status == 1
    assert "signature refused" in capsys.readouterr().err
