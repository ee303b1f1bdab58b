"""The store's methods of InterfaceRevision 3 on a real hal0d, called with busctl and gdbus
(independent clients): ResolveModel, DeleteModel, ListModels, Verify with its properties and
signals, PruneReport; who polkit is asked about."""

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bus.harness import (
    Daemon,
    Monitor,
    ThrottledServer,
    busctl,
    iter_lines,
    start_daemon,
    wait_for_property,
    write_slot,
)
from tests.bus.test_hal0ctl import hal0ctl, hal0ctl_argv
from tests.support.pty_run import run_in_pty

NAME = "org.hal0.Manager1"
MANAGER = "/org/hal0/Manager1"
SLOT = "org.hal0.Slot1"
STORED = b"a model nothing uses" * 100
CONFIGURED = b"the model of slot chat" * 100
CATALOG_MODEL = {"url": "https://models.example.org/qwen.gguf", "sha256": "c" * 64, "size": 4096}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server() -> Iterator[ThrottledServer]:
    serving = ThrottledServer(CONFIGURED, 64 << 20)
    yield serving
    serving.close()


@pytest.fixture
def hal0d(
    bus_address: str, polkit: tuple[Path, Path], tmp_path: Path, server: ThrottledServer
) -> Iterator[Daemon]:
    """hal0d with a local catalog (checksum mode), slot chat configured with a stored model
    (served over loopback too, for a pull to restore it), and a stored model no slot uses."""
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
    chat = {"url": server.url, "sha256": digest(CONFIGURED), "allow_http": True}
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


def test_list_models_is_open_to_everyone(
    hal0d: Daemon, bus_address: str, polkit: tuple[Path, Path]
) -> None:
    polkit[0].write_text(json.dumps({"deny_all": True}))
    answer = json.loads(call(bus_address, "ListModels"))
    assert answer["type"] == "a(stast)"
    assert sorted(answer["data"][0]) == sorted(
        [[digest(CONFIGURED), len(CONFIGURED), ["chat"], 0], [digest(STORED), len(STORED), [], 0]]
    )


def test_verify_finds_the_damaged_model_and_a_pull_restores_it(
    hal0d: Daemon, bus_address: str, polkit: tuple[Path, Path], tmp_path: Path
) -> None:
    _, log = polkit
    models = tmp_path / "state" / "models"
    (models / f"{digest(CONFIGURED)}.gguf").write_bytes(b"corrupted behind hal0d's back")
    monitor = Monitor(bus_address, f"type='signal',sender='{NAME}',path='{MANAGER}'")
    try:
        call(bus_address, "Verify", "s", "")
        assert list(iter_lines(log))[-1]["action"] == "org.hal0.model.manage"
        seen = monitor.wait_for(lambda text: '"done"' in text)
    finally:
        monitor.stop()
    signal = seen[seen.rindex("PropertiesChanged") :]
    for name in ("VerifyPhase", "VerifyBytesDone", "VerifyBytesTotal", "VerifyDamaged"):
        assert f'"{name}"' in signal, signal  # the group travels together
    damaged = get(bus_address, MANAGER, NAME, "VerifyDamaged")
    assert damaged == f'as 1 "{digest(CONFIGURED)}"'
    assert not (models / f"{digest(CONFIGURED)}.gguf").exists()
    assert (models / f"{digest(STORED)}.gguf").exists()
    chat = "/org/hal0/Manager1/slot/chat"
    assert get(bus_address, chat, SLOT, "LastErrorName") == 's "org.hal0.Error.Integrity"'
    assert "hal0ctl pull chat" in get(bus_address, chat, SLOT, "LastError")
    assert get(bus_address, chat, SLOT, "State") == 's "error"'
    busctl(bus_address, "call", NAME, chat, SLOT, "Pull")
    wait_for_property(bus_address, chat, SLOT, "Phase", accept=lambda v: v == 's "done"')
    assert get(bus_address, chat, SLOT, "LastErrorName") == 's ""'
    assert (models / f"{digest(CONFIGURED)}.gguf").read_bytes() == CONFIGURED


def test_verify_refusals(hal0d: Daemon, bus_address: str, polkit: tuple[Path, Path]) -> None:
    assert "org.hal0.Error.InvalidArgument" in gdbus_call(bus_address, "Verify", "xyz")
    assert "org.hal0.Error.NoModel" in gdbus_call(bus_address, "Verify", "e" * 64)
    polkit[0].write_text(json.dumps({"deny_all": True}))
    assert "org.hal0.Error.NotAuthorized" in gdbus_call(bus_address, "Verify", "''")
    assert get(bus_address, MANAGER, NAME, "VerifyPhase") == 's ""'


def test_prune_report_says_what_went_and_what_was_kept_and_why(
    hal0d: Daemon, bus_address: str, polkit: tuple[Path, Path], tmp_path: Path
) -> None:
    _, log = polkit
    answer = json.loads(call(bus_address, "PruneReport"))
    assert list(iter_lines(log))[-1]["action"] == "org.hal0.model.manage"
    assert answer["type"] == "a(sts)"
    assert sorted(answer["data"][0]) == sorted(
        [
            [digest(CONFIGURED), len(CONFIGURED), "kept: used by slot chat (configured)"],
            [digest(STORED), len(STORED), "removed: no slot uses it"],
        ]
    )
    assert not (tmp_path / "state" / "models" / f"{digest(STORED)}.gguf").exists()


def get(address: str, path: str, interface: str, prop: str) -> str:
    return busctl(address, "get-property", NAME, path, interface, prop).stdout.strip()


def test_hal0ctl_model_list(hal0d: Daemon, bus_address: str) -> None:
    listed = hal0ctl(bus_address, "model", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(json.loads(listed.stdout), key=lambda m: m["sha256"]) == sorted(
        [
            {"sha256": digest(CONFIGURED), "size": len(CONFIGURED), "slots": ["chat"],
             "last_verified": 0},
            {"sha256": digest(STORED), "size": len(STORED), "slots": [], "last_verified": 0},
        ],
        key=lambda m: m["sha256"],
    )  # fmt: skip
    shown = hal0ctl(bus_address, "model", "list")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["SHA256", "SIZE", "SLOTS", "LAST", "VERIFIED"]
    assert any(line.split()[0] == digest(CONFIGURED) and "chat" in line for line in lines)
    assert lines[-1] == "2 model(s), 4.1 KiB"


def test_hal0ctl_model_verify_reports_the_damage_and_the_pull_that_restores_it(
    hal0d: Daemon, bus_address: str, tmp_path: Path
) -> None:
    models = tmp_path / "state" / "models"
    (models / f"{digest(CONFIGURED)}.gguf").write_bytes(b"corrupted behind hal0d's back")
    result = hal0ctl(bus_address, "model", "verify")
    assert result.returncode == 1, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[-1]["phase"] == "done"
    assert records[-1]["damaged"] == [digest(CONFIGURED)]
    assert f"{digest(CONFIGURED)}: moved to quarantine" in result.stderr
    assert "restore it with: hal0ctl pull chat" in result.stderr
    listed = json.loads(hal0ctl(bus_address, "model", "list", "--json").stdout)
    assert [m["sha256"] for m in listed] == [digest(STORED)]
    assert listed[0]["last_verified"] > 0


def test_hal0ctl_model_verify_on_a_terminal_draws_progress(hal0d: Daemon, bus_address: str) -> None:
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus_address, TERM="xterm")
    status, text = run_in_pty(hal0ctl_argv("model", "verify", digest(STORED)), env)
    assert status == 0, text
    assert "verify" in text
    assert "every model is intact" in text, text


def test_hal0ctl_model_prune_says_what_went_and_what_stayed(
    hal0d: Daemon, bus_address: str
) -> None:
    result = hal0ctl(bus_address, "model", "prune")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.index("removed:") < text.index(digest(STORED)) < text.index("kept:")
    assert f"{digest(CONFIGURED)}  2.1 KiB  used by slot chat (configured)" in text
    assert text.splitlines()[-1] == "freed 2.0 KiB (1 removed, 1 kept)"
