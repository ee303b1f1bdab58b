"""The model store managed through hal0ctl, against the real hal0d.service, polkitd and
llama-server in the container.

Done-when 3 of the issue end to end: a stored model corrupted behind hal0d's back is found
by `hal0ctl model verify`, reported and moved to quarantine; every slot configured with it
says so in LastError (the stopped one in `error`, the running one still serving); `hal0ctl
pull` restores the file. Also: `model list` for any user, DeleteModel refused while a slot
uses the model, `model prune` saying what went and what stayed, a user outside group hal0
refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from tests.bus.harness import ThrottledServer
from tests.system.conftest import Model
from tests.system.hal0d_setup import MODELS, configure, model_keys, place_model
from tests.system.harness.container import Container
from tests.system.test_hal0ctl import bus_property, hal0ctl

pytestmark = pytest.mark.timeout(240)
DAEMON = "hal0d.service"
UNUSED = b"GGUF a model no slot uses" * 64
SLOTS = ("chat", "code")


@pytest.fixture(scope="module")
def origin(tiny_model: Model) -> Iterator[ThrottledServer]:
    """Where the slots' model comes from (loopback, shared with the container)."""
    server = ThrottledServer(tiny_model.host_path.read_bytes(), 64 << 20)
    yield server
    server.close()


@pytest.fixture(scope="module")
def hal0d(container: Container, tiny_model: Model, origin: ThrottledServer) -> Iterator[Container]:
    """Slots chat and code configured with the tiny model, which is in the store; code runs."""
    keys = model_keys(origin.url, tiny_model.sha256, tiny_model.size, allow_http=True)
    configure(container, dict.fromkeys(SLOTS, keys))
    place_model(container, tiny_model.sha256, tiny_model.host_path.read_bytes())
    container.ensure_user("alice")  # not in group hal0
    container.run("systemctl", "restart", DAEMON, timeout=60)
    status, out, err = hal0ctl(container, "load", "code")
    assert status == 0, out + err
    yield container
    container.run("systemctl", "stop", DAEMON, check=False, timeout=60)
    for name in SLOTS:
        container.run("systemctl", "stop", f"hal0-slot@{name}.service", check=False, timeout=120)
        container.run("systemctl", "reset-failed", f"hal0-slot@{name}.service", check=False)
        container.path(f"/etc/hal0/slots/{name}.toml").unlink(missing_ok=True)


def delete_model(container: Container, sha256: str) -> tuple[int, str]:
    result = container.run(
        "busctl", "call", "org.hal0.Manager1", "/org/hal0/Manager1", "org.hal0.Manager1",
        "DeleteModel", "s", sha256, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def test_model_list_is_open_to_every_user(hal0d: Container, tiny_model: Model) -> None:
    status, out, err = hal0ctl(hal0d, "model", "list", "--json", user="alice")
    assert status == 0, err
    listed = {model["sha256"]: model for model in json.loads(out)}
    assert listed[tiny_model.sha256]["slots"] == list(SLOTS)
    assert listed[tiny_model.sha256]["size"] == tiny_model.size
    status, out, err = hal0ctl(hal0d, "model", "list", user="alice")
    assert status == 0, err
    assert any(
        line.startswith(tiny_model.sha256) and "chat, code" in line for line in out.splitlines()
    )


def test_a_user_outside_group_hal0_may_not_verify(hal0d: Container) -> None:
    status, out, err = hal0ctl(hal0d, "model", "verify", user="alice")
    assert status == 4, out + err
    assert "org.hal0.model.manage" in err


def test_delete_is_refused_while_a_slot_uses_the_model(hal0d: Container, tiny_model: Model) -> None:
    status, text = delete_model(hal0d, tiny_model.sha256)
    assert status != 0
    assert "slot chat (configured)" in text, text
    assert "the running unit of slot code" in text, text
    assert hal0d.path(f"{MODELS}/{tiny_model.sha256}.gguf").exists()
    unused = hashlib.sha256(UNUSED).hexdigest()
    place_model(hal0d, unused, UNUSED)
    status, text = delete_model(hal0d, unused)
    assert status == 0, text
    assert not hal0d.path(f"{MODELS}/{unused}.gguf").exists()


def test_verify_finds_a_corrupted_model_and_pull_restores_it(
    hal0d: Container, tiny_model: Model
) -> None:
    """Done-when 3."""
    stored = hal0d.path(f"{MODELS}/{tiny_model.sha256}.gguf")
    with stored.open("r+b") as file:  # behind hal0d's back
        file.seek(tiny_model.size // 2)
        file.write(b"\xff" * 64)
    status, out, err = hal0ctl(hal0d, "model", "verify")
    assert status == 1, out + err
    records = [json.loads(line) for line in out.splitlines()]
    assert records[-1]["phase"] == "done"
    assert records[-1]["damaged"] == [tiny_model.sha256]
    assert f"{tiny_model.sha256}: moved to quarantine" in err
    assert "hal0ctl pull chat; hal0ctl pull code" in err
    assert not stored.exists()
    quarantined = [
        json.loads(sidecar.read_text())
        for sidecar in hal0d.path(f"{MODELS}/quarantine").glob("*.json")
    ]
    assert tiny_model.sha256 in [entry["expected_sha256"] for entry in quarantined]

    for name in SLOTS:
        assert bus_property(hal0d, name, "LastErrorName") == "org.hal0.Error.Integrity"
        last_error = str(bus_property(hal0d, name, "LastError"))
        assert f"the stored model {tiny_model.sha256} is damaged" in last_error
        assert f"hal0ctl pull {name}" in last_error
    assert bus_property(hal0d, "chat", "State") == "error"
    assert bus_property(hal0d, "code", "State") == "ready"  # it still serves what it loaded

    status, out, err = hal0ctl(hal0d, "pull", "chat")
    assert status == 0, out + err
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == tiny_model.sha256
    for name in SLOTS:
        assert bus_property(hal0d, name, "LastError") == ""
        assert bus_property(hal0d, name, "LastErrorName") == ""
    assert bus_property(hal0d, "chat", "State") == "offline"
    status, out, err = hal0ctl(hal0d, "model", "list", "--json")
    (listed,) = [m for m in json.loads(out) if m["sha256"] == tiny_model.sha256]
    assert listed["last_verified"] > 0  # the pull verified it


def test_prune_says_what_went_and_what_was_kept(hal0d: Container, tiny_model: Model) -> None:
    unused = hashlib.sha256(UNUSED).hexdigest()
    place_model(hal0d, unused, UNUSED)
    status, out, err = hal0ctl(hal0d, "model", "prune")
    assert status == 0, out + err
    assert out.index("removed:") < out.index(unused) < out.index("kept:"), out
    kept = next(line for line in out.splitlines() if tiny_model.sha256 in line)
    assert "used by slot chat (configured), slot code (configured)" in kept, kept
    assert "the running unit of slot code" in kept, kept
    assert not hal0d.path(f"{MODELS}/{unused}.gguf").exists()
    assert hal0d.path(f"{MODELS}/{tiny_model.sha256}.gguf").exists()
