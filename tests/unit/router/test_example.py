"""examples/router.toml is valid and states the defaults."""

import shutil
from pathlib import Path

from hal0d.router.settings import RouterSettings, load_settings

EXAMPLES = Path(__file__).parents[3] / "examples"


def test_the_example_router_toml_is_the_defaults(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "router.toml", tmp_path / "router.toml")
    assert load_settings(tmp_path) == (RouterSettings(), [])
