"""hal0ctl against the real hal0d.service, real polkitd and the real llama-server.

In the container: `pull` of a model a loopback server paces (a progress bar on a pseudo
terminal, JSON lines without one); `load`/`status`/`unload`, with `status --json` equal to
the bus properties; a user outside group hal0 refused in one line with exit status 4 while
`status` works for them; hal0d's journal entries about a slot carrying `SLOT=` once each, and
`hal0ctl logs` showing them with llama-server's own lines; `log_level` followed on reload.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator

import pytest

from tests.bus.harness import ThrottledServer
from tests.support.pty_run import PtyProcess
from tests.system.conftest import Model, record_timing
from tests.system.hal0d_setup import (
    configure,
    forget_model,
    model_keys,
    place_model,
    write_hal0_toml,
)
from tests.system.harness.container import CONTAINER_PATH, Container

pytestmark = pytest.mark.timeout(240)
DAEMON = "hal0d.service"
PACED_RATE = 24 << 20  # the large model (~105 MiB) takes ~4.4 s
BROKEN_MODEL = b"GGUF" + b"x" * 4096  # llama-server exits 1 on it at once
PERCENT = re.compile(r"(\d+) %")
SLOT_PROPS = (
    "Name", "State", "Phase", "BytesDone", "BytesTotal", "Model", "Sha256", "Endpoint", "Unit",
    "NRestarts", "LastError", "ActiveRequests",
)  # fmt: skip


@pytest.fixture(scope="module")
def paced(large_model: Model) -> Iterator[ThrottledServer]:
    server = ThrottledServer(large_model.host_path.read_bytes(), PACED_RATE)
    yield server
    server.close()


@pytest.fixture(scope="module")
def hal0d(
    container: Container, tiny_model: Model, large_model: Model, paced: ThrottledServer
) -> Iterator[Container]:
    broken_sha = hashlib.sha256(BROKEN_MODEL).hexdigest()
    tiny = model_keys("https://127.0.0.1:9/tiny.gguf", tiny_model.sha256, tiny_model.size)
    configure(
        container,
        {
            "chat": tiny,
            "fetch": model_keys(paced.url, large_model.sha256, large_model.size, allow_http=True),
            "broken": model_keys("https://127.0.0.1:9/broken.gguf", broken_sha, len(BROKEN_MODEL)),
        },
    )
    place_model(container, tiny_model.sha256, tiny_model.host_path.read_bytes())
    place_model(container, broken_sha, BROKEN_MODEL)
    container.ensure_user("alice")  # not in group hal0
    container.run("systemctl", "restart", DAEMON, timeout=60)
    yield container
    container.run("systemctl", "stop", DAEMON, check=False, timeout=60)
    for name in ("chat", "fetch", "broken"):
        container.run("systemctl", "stop", f"hal0-slot@{name}.service", check=False, timeout=120)
        container.run("systemctl", "reset-failed", f"hal0-slot@{name}.service", check=False)
        container.path(f"/etc/hal0/slots/{name}.toml").unlink(missing_ok=True)


def hal0ctl(container: Container, *args: str, user: str | None = None) -> tuple[int, str, str]:
    result = container.run("hal0ctl", *args, user=user, check=False, timeout=180)
    return result.returncode, result.stdout, result.stderr


def bus_property(container: Container, name: str, prop: str) -> object:
    out = container.run(
        "busctl", "--json=short", "get-property", "org.hal0.Manager1",
        f"/org/hal0/Manager1/slot/{name}", "org.hal0.Slot1", prop,
    ).stdout  # fmt: skip
    return json.loads(out)["data"]


def since(container: Container) -> str:
    """A journalctl --since value for "from now on" (the container's clock is the host's)."""
    return "@" + container.run("date", "+%s.%N").stdout.strip()


def test_pull_on_a_terminal_shows_a_live_bar_and_the_sha256(
    hal0d: Container, large_model: Model
) -> None:
    forget_model(hal0d, large_model.sha256)
    argv = [
        "nsenter", "-t", str(hal0d.leader), "-a", "env", "-i", f"PATH={CONTAINER_PATH}",
        "LANG=C.UTF-8", "TERM=xterm", "hal0ctl", "pull", "fetch",
    ]  # fmt: skip
    started = time.monotonic()
    pull = PtyProcess(argv)
    status = pull.finish(within=120)
    took = time.monotonic() - started
    record_timing("hal0ctl pull, paced large model, on a terminal", took)
    text = pull.text
    assert status == 0, text
    assert took >= 3, "the paced server should make this pull last at least 3 s"
    percents = [int(p) for frame in text.split("\r") for p in PERCENT.findall(frame)]
    assert len(set(percents)) >= 3, text
    assert percents == sorted(percents), percents
    assert percents[-1] == 100, text
    assert re.search(rf"fetch: model verified, sha256 (\033\[32m)?{large_model.sha256}", text)


def test_pull_without_a_terminal_prints_one_json_line_per_update(
    hal0d: Container, large_model: Model
) -> None:
    forget_model(hal0d, large_model.sha256)
    status, out, err = hal0ctl(hal0d, "pull", "fetch")
    assert status == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) >= 3, out
    assert [r["bytes_done"] for r in records] == sorted(r["bytes_done"] for r in records)
    assert records[-1] == {
        "slot": "fetch",
        "phase": "done",
        "bytes_done": large_model.size,
        "bytes_total": large_model.size,
        "sha256": large_model.sha256,
        "error": "",
    }


def test_load_status_unload(hal0d: Container) -> None:
    status, out, err = hal0ctl(hal0d, "load", "chat")
    assert status == 0, out + err
    lines = out.splitlines()
    assert "chat: starting" in lines, out
    assert "chat: ready" in lines, out
    endpoint = bus_property(hal0d, "chat", "Endpoint")
    assert lines[-1] == f"chat: serving on {endpoint}"

    status, out, err = hal0ctl(hal0d, "status", "--json")
    assert status == 0, err
    shown = json.loads(out)["slots"]["chat"]
    assert set(SLOT_PROPS) <= set(shown)  # every property, later additions too
    assert shown == {prop: bus_property(hal0d, "chat", prop) for prop in shown}
    assert shown["State"] == "ready"

    status, out, _ = hal0ctl(hal0d, "status")
    assert re.search(
        rf"^chat\s+ready\s+https://127\.0\.0\.1:9/tiny\.gguf\s+{endpoint}\s+0$", out, re.M
    ), out
    status, out, _ = hal0ctl(hal0d, "status", "chat")
    assert out.splitlines()[0] == "chat: ready"

    status, out, err = hal0ctl(hal0d, "unload", "chat")
    assert status == 0, out + err
    assert out.splitlines()[-1] == "chat: offline", out
    assert bus_property(hal0d, "chat", "State") == "offline"


def test_restart_goes_through_a_start_back_to_ready(hal0d: Container) -> None:
    assert hal0ctl(hal0d, "load", "chat")[0] == 0
    try:
        status, out, err = hal0ctl(hal0d, "restart", "chat")
        assert status == 0, out + err
        lines = out.splitlines()
        assert lines[-2:] == [
            "chat: ready",
            f"chat: serving on {bus_property(hal0d, 'chat', 'Endpoint')}",
        ]
        assert len(lines) > 2, out  # a state on the way: the restart left ready first
    finally:
        hal0ctl(hal0d, "unload", "chat")


def test_a_failed_load_prints_the_last_error_and_what_to_run(hal0d: Container) -> None:
    start = since(hal0d)
    status, out, err = hal0ctl(hal0d, "load", "broken")
    assert status == 1, out + err
    last_error = bus_property(hal0d, "broken", "LastError")
    assert str(last_error).startswith("crashed 3 times (exit code 1)"), last_error
    assert err == (
        f"hal0ctl: load of slot broken failed: {last_error}; see `hal0ctl logs broken` "
        "and `hal0ctl status broken`\n"
    )
    assert out.splitlines()[-1] == "broken: error"
    failed = hal0d_entries(hal0d, start, "MESSAGE_ID=7a6052a3ac94465abc18ece507c7a134")
    assert [(e["SLOT"], e["PRIORITY"]) for e in failed] == [("broken", "3")]


def test_a_user_outside_group_hal0_is_told_why_and_exits_4(hal0d: Container) -> None:
    status, out, err = hal0ctl(hal0d, "load", "chat", user="alice")
    assert status == 4, out + err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("hal0ctl: not authorized: "), err
    assert "org.hal0.slot.manage" in err
    assert "group hal0" in err
    assert bus_property(hal0d, "chat", "State") == "offline"  # nothing started

    status, out, err = hal0ctl(hal0d, "status", user="alice")
    assert status == 0, err
    assert re.search(r"^chat\s+offline", out, re.M), out

    status, out, err = hal0ctl(hal0d, "logs", "chat", user="alice")
    assert status == 4
    assert err.startswith("hal0ctl: you cannot read the system journal"), err
    assert len(err.splitlines()) == 1


def test_on_a_terminal_polkit_asks_for_a_password_through_pkttyagent(hal0d: Container) -> None:
    argv = [
        "nsenter", "-t", str(hal0d.leader), "-a", "env", "-i", f"PATH={CONTAINER_PATH}",
        "LANG=C.UTF-8", "TERM=xterm", "su", "--pty", "-l", "alice", "-c", "hal0ctl load chat",
    ]  # fmt: skip
    login = PtyProcess(argv)
    try:
        asked = login.read_until(lambda text: "Password:" in text, within=30)
        assert asked, login.text
        assert "AUTHENTICATING FOR org.hal0.slot.manage" in login.text
        # Every prompt (polkit may ask again after a failure) gets a wrong password.
        answered = 0
        while "hal0ctl: not authorized" not in login.text:
            if login.text.count("Password:") > answered:
                answered += 1
                login.send("not-the-password\n")
            assert answered <= 5, login.text
            login.read_until(
                lambda text, n=answered: (
                    "hal0ctl: not authorized" in text or text.count("Password:") > n
                ),
                within=30,
            )
    finally:
        status = login.finish(within=60)
    assert status == 4, login.text
    assert bus_property(hal0d, "chat", "State") == "offline"


def hal0d_entries(container: Container, start: str, *matches: str) -> list[dict[str, str]]:
    out = container.run("journalctl", "--no-pager", "-o", "json", "--since", start, *matches).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_journal_has_hal0d_messages_about_a_slot_once_each(hal0d: Container) -> None:
    start = since(hal0d)
    assert hal0ctl(hal0d, "load", "chat")[0] == 0
    assert hal0ctl(hal0d, "unload", "chat")[0] == 0

    tagged = hal0d_entries(hal0d, start, "SLOT=chat")
    assert tagged, "no journal entry carries SLOT=chat"
    assert {e["_SYSTEMD_UNIT"] for e in tagged} == {DAEMON}
    messages = [e["MESSAGE"] for e in tagged]
    ready = [e for e in tagged if "slot chat ready on" in e["MESSAGE"]]
    assert len(ready) == 1, messages
    assert ready[0]["MESSAGE_ID"] == "3f8ee4ce56f448d8b2abecd65be624f8"
    assert ready[0]["PRIORITY"] == "6"
    # Everything hal0d said about chat is in the journal exactly once, and with its fields:
    # a record sent through the socket *and* written to stderr would show up twice here.
    about_chat = [
        e["MESSAGE"] for e in hal0d_entries(hal0d, start, f"_SYSTEMD_UNIT={DAEMON}")
        if "slot chat" in e["MESSAGE"]
    ]  # fmt: skip
    assert about_chat == messages

    cat = hal0d.run("journalctl", "--no-pager", "-o", "cat", "--since", start, "SLOT=chat").stdout
    assert cat.splitlines() == messages

    logs = hal0d.run(
        "hal0ctl", "logs", "chat", "--no-pager", "-o", "cat", "--since", start
    ).stdout.splitlines()
    for message in messages:
        assert logs.count(message) == 1, (message, logs)
    server_lines = [
        e["MESSAGE"]
        for e in hal0d_entries(hal0d, start, "_SYSTEMD_UNIT=hal0-slot@chat.service")
        if e.get("_COMM") == "llama-server"
    ]
    assert server_lines, "llama-server wrote nothing to the journal"
    assert all(line in logs for line in server_lines)
    assert any(line.startswith("Started ") for line in logs), logs  # systemd's, about the unit


def reload(container: Container) -> None:
    """Reload over the bus: the call returns once the new configuration is in place
    (`systemctl reload` returns once SIGHUP is sent)."""
    container.run(
        "busctl", "call", "org.hal0.Manager1", "/org/hal0/Manager1", "org.hal0.Manager1",
        "Reload",
    )  # fmt: skip


def test_log_level_from_hal0_toml_is_followed_on_reload(hal0d: Container) -> None:
    write_hal0_toml(hal0d, log_level="warning")
    reload(hal0d)
    try:
        start = since(hal0d)
        assert hal0ctl(hal0d, "load", "chat")[0] == 0
        assert hal0ctl(hal0d, "unload", "chat")[0] == 0
        assert hal0d_entries(hal0d, start, "SLOT=chat") == []  # info lines are below warning
    finally:
        write_hal0_toml(hal0d)
        reload(hal0d)
    start = since(hal0d)
    assert hal0ctl(hal0d, "load", "chat")[0] == 0
    assert hal0ctl(hal0d, "unload", "chat")[0] == 0
    assert hal0d_entries(hal0d, start, "SLOT=chat") != []
