"""The store's methods of InterfaceRevision 3 on a real hal0d, called with busctl (an
independent client) and dbus-fast: ResolveModel, DeleteModel; who polkit is asked about."""

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bus.harness import Daemon, busctl, iter_lines, start_daemon, write_slot

NAME = "org.hal0.Manager1"
MANAGER = "/org/hal0/Manager1"
STORED = b"a model nothing uses" * 100
CONFIGURED = b"the model of slot chat" * 100
CATALOG_MODEL = {"url": "https://models.example.org/qwen.gguf", "sha256": "c" * 64, "size": 4096}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def hal0d(bus_address: str, polkit: tuple[Path, Path], tmp_path: Path) -> Iterator[Daemon]:
    """hal0d with a local catalog (checksum mode), slot chat configured with a stored model,
    and a second stored model no slot uses."""
    polkit[0].write_text("{}")
    etc, state = tmp_path / "etc", tmp_path / "state"
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        'serial = 1\n[models.qwen]\nurl = "{url}"\nsha256 = "{sha256}"\nsize = {size}\n'.format(
            **CATALOG_MODEL
        )
        + '[models.nosize]\nurl = "https://models.example.org/n.gguf"\nsha256 = "'
        + "d" * 64
        + '"\n'
    )
    (etc / "slots").mkdir(parents=True)
    (etc / "hal0.toml").write_text(
        f'models_dir = "{state / "models"}"\nstate_dir = "{state}"\n'
        f'keys_dir = "{state / "keys"}"\nllama_server = "/bin/true"\n'
        f'[[catalogs]]\nname = "local"\nurl = "{catalog}"\nverify = "checksum"\n'
    )
    chat = {"url": "https://127.0.0.1:1/chat.gguf", "sha256": digest(CONFIGURED), "size": 2200}
    write_slot(etc, "chat", chat)
    models = state / "models"
    models.mkdir(parents=True)
    for data in (STORED, CONFIGURED):
        (models / f"{digest(data)}.gguf").write_bytes(data)
    daemon = start_daemon(bus_address, etc, tmp_path)
    yield daemon
    daemon.stop()
    daemon.notify.close()


def call(address: str, member: str, signature: str = "", *args: str, check: bool = True) -> str:
    result = busctl(
        address, "--json=short", "call", NAME, MANAGER, NAME, member, signature, *args, check=check
    )
    return result.stdout if check else result.stderr


def test_resolve_model_answers_from_the_held_catalogs_for_anyone(
    hal0d: Daemon, bus_address: str, polkit: tuple[Path, Path]
) -> None:
    rules, log = polkit
    rules.write_text(json.dumps({"deny_all": True}))  # read-only: polkit is never asked
    asked = len(list(iter_lines(log)))
    for name in ("qwen", "local/qwen"):
        answer = json.loads(call(bus_address, "ResolveModel", "s", name))
        assert answer == {"type": "sst", "data": list(CATALOG_MODEL.values())}
    no_size = json.loads(call(bus_address, "ResolveModel", "s", "nosize"))
    assert no_size["data"] == ["https://models.example.org/n.gguf", "d" * 64, 0]
    refused = call(bus_address, "ResolveModel", "s", "llama", check=False)
    assert "no catalog lists model 'llama' (catalogs searched: local)" in refused
    assert len(list(iter_lines(log))) == asked


def test_resolve_model_refusals_are_invalid_argument(hal0d: Daemon, bus_address: str) -> None:
    for name in ("llama", "''", "'a b'", "x" * 5000):
        answer = gdbus_call(bus_address, "ResolveModel", name)
        assert "org.hal0.Error.InvalidArgument" in answer, answer
        assert len(answer) < 2500  # the hostile echo is cut short


def test_delete_model_refuses_a_configured_model_and_deletes_an_unused_one(
    hal0d: Daemon, bus_address: str, polkit: tuple[Path, Path], tmp_path: Path
) -> None:
    _, log = polkit
    models = tmp_path / "state" / "models"
    refused = call(bus_address, "DeleteModel", "s", digest(CONFIGURED), check=False)
    assert f"model {digest(CONFIGURED)} is used by slot chat (configured)" in refused
    assert (models / f"{digest(CONFIGURED)}.gguf").exists()
    assert list(iter_lines(log))[-1]["action"] == "org.hal0.model.manage"
    call(bus_address, "DeleteModel", "s", digest(STORED))
    assert not (models / f"{digest(STORED)}.gguf").exists()
    gone = call(bus_address, "DeleteModel", "s", digest(STORED), check=False)
    assert "is not in the store" in gone


def test_delete_model_error_names(
    hal0d: Daemon, bus_address: str, polkit: tuple[Path, Path]
) -> None:
    cases = {
        digest(CONFIGURED): "org.hal0.Error.Busy",
        "0" * 64: "org.hal0.Error.NoModel",
        "not-a-digest": "org.hal0.Error.InvalidArgument",
    }
    for argument, error in cases.items():
        result = gdbus_call(bus_address, "DeleteModel", argument)
        assert error in result, (argument, result)
    polkit[0].write_text(json.dumps({"deny_all": True}))
    assert "org.hal0.Error.NotAuthorized" in gdbus_call(bus_address, "DeleteModel", digest(STORED))


def gdbus_call(address: str, method: str, *args: str) -> str:
    """gdbus prints the D-Bus error name (busctl only its text); its output and errors."""
    result = subprocess.run(
        ["gdbus", "call", "--address", address, "--dest", NAME, "--object-path", MANAGER,
         "--method", f"{NAME}.{method}", *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return result.stdout + result.stderr
