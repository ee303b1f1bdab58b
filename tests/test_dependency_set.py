"""Which runtime packages this run imports: printed and asserted for each dependency set.

Run with HAL0_DEPSET=pypi (the newest PyPI releases, from the venv) or HAL0_DEPSET=debian
(bookworm's packaged versions from /usr/lib/python3/dist-packages).
"""

import importlib
import importlib.metadata
import os
import sys
from pathlib import Path

import pytest

# import name -> distribution name
RUNTIME = {
    "dbus_fast": "dbus-fast",
    "sdnotify": "sdnotify",
    "httpx": "httpx",
    "tomlkit": "tomlkit",
    "cryptography": "cryptography",
    "h11": "h11",
}
DEBIAN_VERSIONS = {
    "dbus-fast": "1.84.2",
    "sdnotify": "0.3.1",
    "httpx": "0.23.3",
    "tomlkit": "0.11.7",
    "cryptography": "38.0.4",
    "h11": "0.14.0",
}
DEBIAN_DIST_PACKAGES = Path("/usr/lib/python3/dist-packages")


def where(module_name: str) -> tuple[str, Path]:
    module = importlib.import_module(module_name)
    assert module.__file__ is not None
    version = importlib.metadata.version(RUNTIME[module_name])
    return version, Path(module.__file__).resolve()


@pytest.mark.parametrize("module_name", sorted(RUNTIME))
def test_runtime_package_comes_from_the_dependency_set(module_name: str) -> None:
    depset = os.environ.get("HAL0_DEPSET")
    if depset is None:
        pytest.skip("HAL0_DEPSET is not set; run through `make test-unit`")
    version, path = where(module_name)
    if depset == "debian":
        assert sys.base_prefix == "/usr", sys.base_prefix
        assert path.is_relative_to(DEBIAN_DIST_PACKAGES), path
        assert version == DEBIAN_VERSIONS[RUNTIME[module_name]]
    else:
        assert depset == "pypi", depset
        assert path.is_relative_to(Path(sys.prefix).resolve()), path
        assert not path.is_relative_to(DEBIAN_DIST_PACKAGES), path


def report() -> list[str]:
    """Lines for the pytest header: each runtime package's version and import path."""
    lines = [f"dependency set: {os.environ.get('HAL0_DEPSET', 'unset')} (python {sys.executable})"]
    for module_name in sorted(RUNTIME):
        try:
            version, path = where(module_name)
        except ImportError as error:
            lines.append(f"  {RUNTIME[module_name]}: NOT IMPORTABLE ({error})")
        else:
            lines.append(f"  {RUNTIME[module_name]} {version} from {path}")
    return lines
