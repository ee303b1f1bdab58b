"""The packaged /etc/hal0/hal0.toml (etc/hal0.toml) and how llama-server is found.

The conffile lists every key of hal0.toml, commented out with its default, and no catalog: as
shipped it configures nothing, and uncommented it still configures the defaults.
"""

import re
import shutil
from dataclasses import replace
from pathlib import Path

from hal0d.config import llama_server, load_config
from hal0d.config.model import GlobalConfig

REPO = Path(__file__).parents[3]
CONFFILE = REPO / "etc/hal0.toml"
EXAMPLE = REPO / "examples/hal0.toml"
COMMENTED_KEY = re.compile(r"^#([a-z_]+) = ", re.MULTILINE)


def load(tmp_path: Path, text: str) -> GlobalConfig:
    (tmp_path / "hal0.toml").write_text(text)
    config, problems = load_config(tmp_path)
    assert config is not None, problems
    unexpected = [p for p in problems if p.where != "llama_server"]  # depends on this machine
    assert unexpected == [], unexpected
    return config.global_


def test_as_shipped_it_sets_nothing(tmp_path: Path) -> None:
    assert load(tmp_path, CONFFILE.read_text()) == GlobalConfig(llama_server=llama_server.search())
    assert not re.search(r"^\[\[catalogs\]\]", CONFFILE.read_text(), re.MULTILINE)


def test_it_comments_out_every_key_of_the_example(tmp_path: Path) -> None:
    example_keys = set(re.findall(r"^([a-z_]+) = ", EXAMPLE.read_text(), re.MULTILINE))
    example_keys -= {"name", "url", "verify"}  # the example's [[catalogs]] table
    assert set(COMMENTED_KEY.findall(CONFFILE.read_text())) == example_keys


def test_uncommented_it_configures_the_defaults(tmp_path: Path) -> None:
    text = COMMENTED_KEY.sub(r"\1 = ", CONFFILE.read_text())
    parsed = load(tmp_path, text)
    assert parsed.llama_server == Path("/opt/llama.cpp/bin/llama-server")  # the one example
    assert replace(parsed, llama_server=GlobalConfig().llama_server) == GlobalConfig()


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile("/bin/true", path)
    path.chmod(0o755)
    return path


def test_search_takes_the_first_executable_in_order(tmp_path: Path) -> None:
    usr, local = tmp_path / "usr/bin", tmp_path / "usr/local/bin"
    found = executable(local / "llama-server")
    assert llama_server.search([usr, local]) == found
    executable(usr / "llama-server")
    assert llama_server.search([usr, local]) == usr / "llama-server"


def test_search_skips_a_file_that_is_not_executable(tmp_path: Path) -> None:
    usr, local = tmp_path / "usr/bin", tmp_path / "usr/local/bin"
    usr.mkdir(parents=True)
    (usr / "llama-server").write_text("")
    found = executable(local / "llama-server")
    assert llama_server.search([usr, local]) == found


def test_search_without_a_binary_names_the_first_candidate(tmp_path: Path) -> None:
    assert llama_server.search([tmp_path / "a", tmp_path / "b"]) == tmp_path / "a/llama-server"
    assert Path("/usr/bin/llama-server") == llama_server.DEFAULT
    assert (Path("/usr/bin"), Path("/usr/local/bin")) == llama_server.SEARCH_DIRS
