"""Every configuration `check-config` rejects, the daemon rejects too — at start and on
reload — and every one the daemon would reject, `check-config` reports: loading is the one
place a configuration can be refused, so applying one never fails halfway. (The command line
of `check-config` itself is tested in test_check_config_cli.py.)"""

import argparse
import io
import shutil
from pathlib import Path

import pytest

from hal0d.cli import check_config
from hal0d.config import load_config
from hal0d.daemon import read_config
from hal0d.errors import ConfigError
from hal0d.manager import Lifecycle, Manager
from hal0d.slots.adapters import Adapters
from hal0d.slots.supervisor import SlotSupervisor
from hal0d.store.settings import StoreSettings
from hal0d.store.store import ModelStore
from tests.support.units import FakeProbe, FakeUnits
from tests.unit.config.test_check_config_cli import BAD, GOOD_SLOT


@pytest.mark.parametrize("case", BAD, ids=[case.name for case in BAD])
async def test_a_config_check_config_rejects_is_rejected_at_start_and_on_reload(
    case: Path, tmp_path: Path
) -> None:
    report = io.StringIO()
    assert check_config.run(argparse.Namespace(config_dir=case / "etc"), report) == 78
    with pytest.raises(ConfigError, match="has errors"):
        read_config(case / "etc")  # the daemon's start: exit 78

    etc = tmp_path / "etc"
    (etc / "slots").mkdir(parents=True)
    (etc / "hal0.toml").write_text(f'state_dir = "{tmp_path / "state"}"\n')
    (etc / "slots" / "old.toml").write_text(GOOD_SLOT)
    config, problems = load_config(etc)
    assert config is not None, problems
    units = FakeUnits(tmp_path)
    store = ModelStore(StoreSettings(models_dir=tmp_path / "models", state_dir=tmp_path))
    supervisor = SlotSupervisor(config, Adapters(units, FakeProbe(units), store), env_dir=tmp_path)
    manager = Manager(config, supervisor, store)
    manager.set_lifecycle(Lifecycle.RUNNING)
    (etc / "slots" / "old.toml").unlink()
    shutil.copytree(case / "etc", etc, dirs_exist_ok=True)
    if not (case / "etc" / "hal0.toml").exists():
        (etc / "hal0.toml").unlink()
    with pytest.raises(ConfigError, match="keeping the previous one"):
        await manager.reload()
    assert manager.config is config
    assert set(supervisor.views()) == {"old"}
    await supervisor.stop()
