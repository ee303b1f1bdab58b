"""`hal0ctl slot add|set|remove|list` editing slot files, with no hal0d on the bus.

The system bus address points at a socket that does not exist, so every command meets
"hal0d is not running": the file is written all the same and the command exits 0. The
hf:// sources resolve against the local imitation of huggingface.co (tests/support/hfserver.py).
The end-to-end runs, with hal0d reloading and pulling, are tests/system/test_slot_admin.py.
"""

import hashlib
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal0d.cli.ctl import main
from hal0d.config import load_config
from hal0d.config.load import load_global
from hal0d.config.problems import Problems
from hal0d.config.reader import TableReader
from hal0d.config.slot_file import SLOT_KEYS, read_slot
from tests.support import tls
from tests.support.faultserver import FaultServer
from tests.support.hfserver import HfServer, Repo

SHA = "ab" * 32
URL = "https://models.example/m.gguf"
MODEL = b"GGUF" + b"\x01" * 4000
MODEL_SHA = hashlib.sha256(MODEL).hexdigest()
TOKEN = "hf_secret_for_tests"  # noqa: S105 - a test token
COMMENTED = f"""\
# the slot the desktop talks to
url = "{URL}"  # mirrored nightly
sha256 = "{SHA}"
size = 1234

# two threads: the box is small
threads = 2
"""


@pytest.fixture(autouse=True)
def no_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus-here")


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    """A config dir whose hal0.toml keeps state and models under tmp_path."""
    etc = tmp_path / "etc"
    (etc / "slots").mkdir(parents=True)
    (etc / "hal0.toml").write_text(
        f'state_dir = "{tmp_path / "state"}"\nmodels_dir = "{tmp_path / "models"}"\n'
        'llama_server = "/bin/true"\n'
    )
    return etc


@pytest.fixture
def hub(tmp_path: Path, etc: Path) -> Iterator[HfServer]:
    """The imitation hub, hal0.toml pointing at it (hf_endpoint) and trusting its CA."""
    pki = tls.make_pki(tmp_path)
    with HfServer(pki) as server:
        with (etc / "hal0.toml").open("a") as file:
            file.write(f'hf_endpoint = "{server.endpoint}"\nca_file = "{pki.ca_file}"\n')
        yield server


def hal0ctl(*argv: str, etc: Path) -> int:
    return main([*argv[:2], "--config-dir", str(etc), *argv[2:]])


def slot(etc: Path, name: str = "chat") -> dict[str, object]:
    return tomllib.loads((etc / "slots" / f"{name}.toml").read_text())


# -- add ----------------------------------------------------------------------------------


def test_add_with_a_url_writes_the_slot_and_says_hal0d_is_not_running(
    etc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = hal0ctl(
        "slot", "add", "chat", URL, "--sha256", SHA.upper(), "--size", "1234", "--context",
        "4096", "--threads", "2", "--idle-after", "5m", "--autostart",
        "--extra-arg=--jinja", "--extra-arg=-fa", etc=etc,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    assert slot(etc) == {
        "url": URL, "sha256": SHA, "size": 1234, "context": 4096, "threads": 2,
        "idle_after": "5m", "autostart": True, "extra_args": ["--jinja", "-fa"],
    }  # fmt: skip
    assert "hal0d is not running: it reads the change when it starts" in out
    assert (etc / "slots" / "chat.toml").stat().st_mode & 0o777 == 0o644
    config, problems = load_config(etc)
    assert config is not None, problems


def test_add_refuses_what_hal0d_would_refuse_and_writes_nothing(
    etc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = hal0ctl("slot", "add", "chat", URL, "--sha256", SHA, "--size", "1234",
                     "--extra-arg=--port=9", etc=etc)  # fmt: skip
    out = capsys.readouterr().out
    assert status == 78
    assert "extra_args[0]: '--port=9' is set by hal0d" in out
    assert not (etc / "slots" / "chat.toml").exists()


def test_add_needs_the_digest_of_a_url(etc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hal0ctl("slot", "add", "chat", URL, etc=etc) == 2
    assert "needs the file's --sha256 and --size" in capsys.readouterr().err
    assert not (etc / "slots" / "chat.toml").exists()


def test_add_does_not_replace_a_slot(etc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (etc / "slots" / "chat.toml").write_text(COMMENTED)
    assert hal0ctl("slot", "add", "chat", URL, "--sha256", SHA, "--size", "1", etc=etc) == 1
    assert "slot chat exists" in capsys.readouterr().err
    assert (etc / "slots" / "chat.toml").read_text() == COMMENTED


def test_an_extra_arg_needs_its_equals_sign(etc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):  # argparse takes --jinja for an option of its own
        hal0ctl("slot", "add", "chat", URL, "--extra-arg", "--jinja", etc=etc)
    assert "expected one argument" in capsys.readouterr().err


def test_add_from_huggingface_pins_the_commit_without_contacting_the_cdn(
    etc: Path, hub: HfServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = hub.add("org/models", Repo({"q4/m.gguf": MODEL}))
    status = hal0ctl("slot", "add", "chat", "hf://org/models/q4/m.gguf", etc=etc)
    out = capsys.readouterr().out
    assert status == 0, out
    assert slot(etc) == {
        "url": f"{hub.endpoint}/org/models/resolve/{repo.commit}/q4/m.gguf",
        "sha256": MODEL_SHA,
        "size": len(MODEL),
    }
    text = (etc / "slots" / "chat.toml").read_text()
    assert text.startswith(f"# hf://org/models/q4/m.gguf at commit {repo.commit}")
    assert "trusted on first use" in text.splitlines()[1]
    assert "trusted on first use" in out
    assert hub.cdn.requests() == []


def test_add_from_a_gated_repo_sends_the_token_to_the_hub_only(
    tmp_path: Path, etc: Path, hub: HfServer, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.add("org/gated", Repo({"m.gguf": MODEL}, gated_token=TOKEN))
    assert hal0ctl("slot", "add", "chat", "hf://org/gated/m.gguf", etc=etc) == 1
    assert "set hf_token_file in hal0.toml" in capsys.readouterr().err
    token_file = tmp_path / "hf-token"
    token_file.write_text(f"{TOKEN}\n")
    with (etc / "hal0.toml").open("a") as file:
        file.write(f'hf_token_file = "{token_file}"\n')
    assert hal0ctl("slot", "add", "chat", "hf://org/gated/m.gguf", etc=etc) == 0
    assert slot(etc)["sha256"] == MODEL_SHA
    assert hub.hub.requests()[-1].headers.get("authorization") == f"Bearer {TOKEN}"
    assert hub.cdn.requests() == []


def test_a_file_outside_lfs_needs_a_digest_given(
    etc: Path, hub: HfServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = hub.add("org/plain", Repo({"m.gguf": MODEL}, lfs=False))
    assert hal0ctl("slot", "add", "chat", "hf://org/plain/m.gguf", etc=etc) == 1
    assert "pass --sha256 and --size" in capsys.readouterr().err
    assert not (etc / "slots" / "chat.toml").exists()
    assert hal0ctl("slot", "add", "chat", "hf://org/plain/m.gguf", "--sha256", MODEL_SHA,
                   "--size", str(len(MODEL)), etc=etc) == 0  # fmt: skip
    assert slot(etc)["url"] == f"{hub.endpoint}/org/plain/resolve/{repo.commit}/m.gguf"


def test_a_digest_given_must_agree_with_the_hub(
    etc: Path, hub: HfServer, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.add("org/models", Repo({"m.gguf": MODEL}))
    status = hal0ctl("slot", "add", "chat", "hf://org/models/m.gguf", "--sha256", SHA,
                     "--size", str(len(MODEL)), etc=etc)  # fmt: skip
    assert status == 1
    assert f"the hub says sha256 {MODEL_SHA}" in capsys.readouterr().err
    assert not (etc / "slots" / "chat.toml").exists()


def test_a_split_gguf_is_refused_before_asking_the_hub(
    etc: Path, hub: HfServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status = hal0ctl("slot", "add", "chat", "hf://org/big/m-00001-of-00002.gguf", etc=etc)
    assert status == 2
    assert "split GGUF, which hal0d does not support yet" in capsys.readouterr().err
    assert hub.hub.requests() == []


def catalog_config(tmp_path: Path, etc: Path) -> None:
    """A local catalog (verify = "checksum") listing tiny-q4."""
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        f'serial = 1\n[models.tiny-q4]\nurl = "{URL}"\nsha256 = "{SHA}"\nsize = 1234\n'
    )
    with (etc / "hal0.toml").open("a") as file:
        file.write(f'[[catalogs]]\nname = "local"\nurl = "{catalog}"\nverify = "checksum"\n')


def test_add_of_a_catalog_entry_checks_the_catalog_read_only(
    tmp_path: Path, etc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog_config(tmp_path, etc)
    assert hal0ctl("slot", "add", "chat", "tiny-q4", etc=etc) == 0
    assert slot(etc) == {"model": "tiny-q4"}
    assert f"model tiny-q4: {URL}, sha256 {SHA}, 1.2 KiB (1234 bytes)" in capsys.readouterr().out
    assert not (tmp_path / "state").exists()  # hal0d's state dir: never written by hal0ctl
    assert not (tmp_path / "models").exists()


def test_an_unknown_catalog_entry_is_refused_naming_the_catalogs(
    tmp_path: Path, etc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog_config(tmp_path, etc)
    assert hal0ctl("slot", "add", "chat", "huge-q8", etc=etc) == 1
    err = capsys.readouterr().err
    assert "no catalog lists model 'huge-q8' (catalogs searched: local)" in err
    assert not (etc / "slots" / "chat.toml").exists()
    assert not (tmp_path / "state").exists()


def test_a_remote_catalog_hal0d_does_not_hold_is_fetched_and_checked_outside_its_state(
    tmp_path: Path, etc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = tls.make_pki(tmp_path)
    text = f'serial = 2\n[models.tiny-q4]\nurl = "{URL}"\nsha256 = "{SHA}"\nsize = 1234\n'
    with FaultServer(tls=pki.server_context()) as server:
        server.serve("/catalog.toml", text.encode())
        with (etc / "hal0.toml").open("a") as file:
            file.write(
                f'ca_file = "{pki.ca_file}"\n[[catalogs]]\nname = "remote"\n'
                f'url = "{server.url("/catalog.toml")}"\nverify = "checksum"\n'
            )
        assert hal0ctl("slot", "add", "chat", "remote/tiny-q4", etc=etc) == 0
        assert hal0ctl("slot", "add", "code", "remote/other", etc=etc) == 1
    assert slot(etc) == {"model": "remote/tiny-q4"}
    assert "remote: no entry 'other'" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()


# -- set ----------------------------------------------------------------------------------


def test_set_keeps_the_admins_comments_and_types_each_value(
    etc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = etc / "slots" / "chat.toml"
    file.write_text(COMMENTED)
    status = hal0ctl("slot", "set", "chat", "threads=4", "idle_after=5m", "autostart=true",
                     "extra_args=--jinja -fa", "aliases=gpt-4o-mini", etc=etc)  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    text = file.read_text()
    assert text.startswith(COMMENTED.replace("threads = 2", "threads = 4"))
    assert "# two threads: the box is small" in text
    assert "# mirrored nightly" in text
    values = tomllib.loads(text)
    assert values["threads"] == 4
    assert values["idle_after"] == "5m"
    assert values["autostart"] is True
    assert values["extra_args"] == ["--jinja", "-fa"]
    assert values["aliases"] == ["gpt-4o-mini"]
    assert "hal0d is not running: it reads the change when it starts" in out


def test_set_with_an_empty_value_removes_the_key(etc: Path) -> None:
    (etc / "slots" / "chat.toml").write_text(COMMENTED)
    assert hal0ctl("slot", "set", "chat", "threads=", etc=etc) == 0
    assert "threads" not in slot(etc)
    assert "# the slot the desktop talks to" in (etc / "slots" / "chat.toml").read_text()


@pytest.mark.parametrize(
    ("assignment", "status", "reason"),
    [
        ("port=70000", 78, "chat.toml: port: 70000 is out of range"),
        ("idle_after=soon", 78, "idle_after: 'soon' is not a duration"),
        ("model=tiny", 78, "url: a slot names its model either by catalog (model) or by url"),
        ("sha256=", 78, "sha256: missing; a url needs the file's sha256"),
        ("threads=four", 2, "threads=four: threads is an integer"),
        ("autostart=yes", 2, "autostart=yes: autostart is true or false"),
        ("thread=4", 2, "'thread' is not a slot setting"),
        ("threads", 2, "'threads' is not KEY=VALUE"),
    ],
)
def test_an_invalid_set_leaves_the_file_byte_identical_and_says_why(
    etc: Path, capsys: pytest.CaptureFixture[str], assignment: str, status: int, reason: str
) -> None:
    file = etc / "slots" / "chat.toml"
    file.write_bytes(COMMENTED.encode())
    before = file.stat()
    assert hal0ctl("slot", "set", "chat", "context=2048", assignment, etc=etc) == status
    captured = capsys.readouterr()
    assert reason in captured.out + captured.err
    assert file.read_bytes() == COMMENTED.encode()
    assert file.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in file.parent.iterdir()) == ["chat.toml"]  # no temporary file


def test_set_of_a_missing_slot_says_how_to_add_it(
    etc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hal0ctl("slot", "set", "nope", "threads=2", etc=etc) == 1
    assert "hal0ctl slot add nope SOURCE" in capsys.readouterr().err


def test_a_slot_name_is_checked_before_it_becomes_a_path(
    etc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hal0ctl("slot", "set", "../hal0", "threads=2", etc=etc) == 2
    assert "is not a valid slot name" in capsys.readouterr().err


# -- remove and list ----------------------------------------------------------------------


def test_remove_without_hal0d_removes_the_file_and_keeps_the_model(
    tmp_path: Path, etc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (etc / "slots" / "chat.toml").write_text(COMMENTED)
    assert hal0ctl("slot", "remove", "chat", etc=etc) == 0
    out = capsys.readouterr().out
    assert "removed" in out
    assert "the model stays in the store" in out
    assert "systemctl stop hal0-slot@chat.service" in out
    assert not (etc / "slots" / "chat.toml").exists()


def test_delete_model_needs_hal0d_and_changes_nothing_without_it(
    etc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (etc / "slots" / "chat.toml").write_text(COMMENTED)
    assert hal0ctl("slot", "remove", "chat", "--delete-model", etc=etc) == 3
    assert "hal0d is not running" in capsys.readouterr().err
    assert (etc / "slots" / "chat.toml").read_text() == COMMENTED


def test_list_shows_every_slot_file(etc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (etc / "slots" / "chat.toml").write_text(COMMENTED)
    (etc / "slots" / "code.toml").write_text('model = "coder"\nport = 8150\nautostart = true\n')
    assert hal0ctl("slot", "list", etc=etc) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"chat  {URL}  sha256 {SHA[:12]}  port auto  threads 2",
        "code  coder  port 8150  autostart",
    ]
    assert hal0ctl("slot", "list", "--json", etc=etc) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["slots"]["code"] == {"model": "coder", "port": 8150, "autostart": True}
    assert listed["slots"]["chat"]["threads"] == 2


# -- the checks behind the edits ----------------------------------------------------------


def test_slot_keys_are_the_keys_read_slot_reads(etc: Path) -> None:
    """`slot set` types values by SLOT_KEYS: it must know every key and no other."""
    global_, _ = load_global(etc)
    assert global_ is not None
    reader = TableReader(etc / "slots" / "x.toml", {}, Problems())
    read_slot("x", reader.file, reader, global_)
    assert reader.asked == set(SLOT_KEYS)


def test_a_pending_change_is_read_as_if_written(etc: Path) -> None:
    written = etc / "slots" / "chat.toml"
    written.write_text(COMMENTED)
    new = etc / "slots" / "code.toml"
    config, _ = load_config(etc, pending={new: b'model = "coder"\n', written: None})
    assert config is not None
    assert set(config.slots) == {"code"}
    config, problems = load_config(etc, pending={written: b"port = 0\n"})
    assert config is None
    assert any(p.file == written and p.where == "port" for p in problems)
    assert not new.exists()
    assert written.read_text() == COMMENTED


def test_the_completion_offers_every_slot_key_to_set() -> None:
    completion = (Path(__file__).parents[2] / "completions" / "hal0ctl").read_text()
    words = (word.strip('"') for word in completion.split())
    offered = {word.removesuffix("=") for word in words if word.endswith("=")}
    assert set(SLOT_KEYS) <= offered
