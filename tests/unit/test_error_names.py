"""Error names say what happened: a malformed digest or verify mode in a pull request is
org.hal0.Error.InvalidArgument (a slot name is InvalidName), each name is documented in
docs/dbus.md and the interface XML, and every class of the tree has its own name."""

from pathlib import Path

import pytest

from hal0d import errors
from hal0d.errors import Hal0Error, InvalidArgumentError
from hal0d.store.download import PullRequest
from hal0d.store.settings import StoreSettings
from hal0d.store.store import ModelStore

ROOT = Path(__file__).parents[2]
URL = "https://models.example.org/m.gguf"


@pytest.mark.parametrize(
    "request_",
    [
        PullRequest(url=URL, sha256="not-a-digest", size=1),
        PullRequest(url=URL, sha256="ab" * 32, size=1, verify="maybe"),
        PullRequest(url=URL, sha256=None, size=1),
    ],
    ids=["digest", "verify-mode", "no-digest"],
)
async def test_a_malformed_request_is_invalid_argument(
    tmp_path: Path, request_: PullRequest
) -> None:
    store = ModelStore(StoreSettings(models_dir=tmp_path / "models", state_dir=tmp_path / "state"))
    await store.open()
    try:
        with pytest.raises(InvalidArgumentError) as caught:
            store.pull(request_)
    finally:
        await store.close()
    assert caught.value.dbus_name == "org.hal0.Error.InvalidArgument"


def tree() -> list[type[Hal0Error]]:
    return [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, Hal0Error)
    ]


def test_every_error_class_has_a_name_of_its_own() -> None:
    names = [cls.dbus_name for cls in tree()]
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize("cls", tree(), ids=lambda cls: cls.__name__)
def test_every_error_name_is_documented(cls: type[Hal0Error]) -> None:
    short = cls.dbus_name.removeprefix("org.hal0.Error.")
    assert f"`{cls.dbus_name}`" in (ROOT / "docs" / "dbus.md").read_text()
    assert short in (ROOT / "hal0d" / "bus" / "org.hal0.Manager1.xml").read_text()
