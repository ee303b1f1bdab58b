"""The admin's atomic, comment-preserving editor of config files."""

from pathlib import Path

import pytest
import tomlkit

from hal0d.config.writer import edit_toml

ORIGINAL = """\
# chat slot: the one the desktop applet talks to
url = "https://models.example.org/m.gguf"  # mirrored nightly
threads = 2

# keep it loaded
unload_after = "never"
"""


def test_edit_keeps_comments_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "chat.toml"
    path.write_text(ORIGINAL)

    def set_threads(document: tomlkit.TOMLDocument) -> None:
        document["threads"] = 8

    edit_toml(path, set_threads)
    assert path.read_text() == ORIGINAL.replace("threads = 2", "threads = 8")


def test_edit_keeps_mode_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "chat.toml"
    path.write_text(ORIGINAL)
    path.chmod(0o640)
    edit_toml(path, lambda document: document.update({"autostart": True}))
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.toml"]
    assert tomlkit.parse(path.read_text())["autostart"] is True


def test_new_file_is_created_world_readable(tmp_path: Path) -> None:
    path = tmp_path / "new.toml"
    edit_toml(path, lambda document: document.update({"model": "tiny"}))
    assert path.read_text() == 'model = "tiny"\n'
    assert path.stat().st_mode & 0o777 == 0o644


def test_failed_edit_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "chat.toml"
    path.write_text(ORIGINAL)
    inode = path.stat().st_ino

    def broken(document: tomlkit.TOMLDocument) -> None:
        document["threads"] = 4
        raise RuntimeError("the admin's tool failed half-way")

    with pytest.raises(RuntimeError):
        edit_toml(path, broken)
    assert path.read_text() == ORIGINAL
    assert path.stat().st_ino == inode
    assert [p.name for p in tmp_path.iterdir()] == ["chat.toml"]
