"""The slot env file: allow-listed keys, literal-safe values, one encoded variable for args."""

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from hal0d.config.model import ModelRef, SlotConfig
from hal0d.errors import ConfigError, InvalidNameError
from hal0d.runner import envspec
from hal0d.runner.settings import load_settings
from hal0d.slots.envfile import (
    Launch,
    read_env_file,
    remove_env_file,
    render,
    slot_environment,
    write_env_file,
)

SLOT = SlotConfig(
    name="chat",
    file=Path("/etc/hal0/slots/chat.toml"),
    model=ModelRef(catalog_name="tiny-llama:q4", sha256="a" * 64, size=1000),
    context=2048,
    threads=2,
)
LAUNCH = Launch(
    llama_server=Path("/usr/bin/llama-server"),
    model_path=Path("/var/lib/hal0/models/" + "a" * 64 + ".gguf"),
    port=8101,
)


def test_environment_holds_the_slot_settings() -> None:
    values = slot_environment(SLOT, LAUNCH)
    assert values == {
        "HAL0_SLOT": "chat",
        "HAL0_LLAMA_SERVER": "/usr/bin/llama-server",
        "LLAMA_ARG_MODEL": str(LAUNCH.model_path),
        "HAL0_MODEL_LABEL": "tiny-llama:q4",
        "LLAMA_ARG_ALIAS": "tiny-llama:q4",
        "LLAMA_ARG_PORT": "8101",
        "HAL0_DRAIN_SEC": "60",
        "HAL0_GRACE_SEC": "10",
        "LLAMA_ARG_CTX_SIZE": "2048",
        "LLAMA_ARG_THREADS": "2",
    }


def test_url_model_is_labelled_by_its_file_name() -> None:
    slot = replace(SLOT, model=ModelRef(url="https://h.example/m/My%20Model.gguf?x=1"))
    assert slot_environment(slot, LAUNCH)["HAL0_MODEL_LABEL"] == "My_20Model.gguf"


@pytest.mark.parametrize(
    "extra_args",
    [
        ("--temp", "0.5"),
        ("--chat-template", "{{ x }}\n"[:-1] + " $HOME 'q' \"dq\" \\ ; # LD_PRELOAD=/x.so"),
        ("--webui",),
        (),
    ],
)
def test_extra_args_round_trip_through_one_variable(extra_args: tuple[str, ...]) -> None:
    values = slot_environment(replace(SLOT, extra_args=extra_args), LAUNCH)
    assert ("HAL0_EXTRA_ARGS" in values) == bool(extra_args)
    assert load_settings(values).extra_args == extra_args


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("extra_args", ("--host", "0.0.0.0"), "set by hal0d"),  # noqa: S104
        ("extra_args", ("--port=1",), "set by hal0d"),
        ("extra_args", ("-m", "/etc/shadow"), "set by hal0d"),
        ("extra_args", ("a\nLD_PRELOAD=/x.so",), "control character"),
        ("extra_args", ("a\x00b",), "control character"),
    ],
)
def test_unsafe_extra_args_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        slot_environment(replace(SLOT, **{field: value}), LAUNCH)


@pytest.mark.parametrize(
    "launch",
    [
        replace(LAUNCH, model_path=Path("/models/a\nLD_PRELOAD=/evil.so")),
        replace(LAUNCH, model_path=Path("/models/a b.gguf")),
        replace(LAUNCH, model_path=Path("/models/$HOME.gguf")),
        replace(LAUNCH, llama_server=Path("/bin/x\\")),
        replace(LAUNCH, api_key="k'ey"),
        replace(LAUNCH, api_key='k"ey'),
        replace(LAUNCH, api_key="key\r"),
        replace(LAUNCH, port=0),
        replace(LAUNCH, port=70000),
    ],
)
def test_values_systemd_would_not_take_literally_are_refused(launch: Launch) -> None:
    with pytest.raises(ConfigError):
        slot_environment(SLOT, launch)


def test_invalid_slot_name_never_reaches_a_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidNameError):
        slot_environment(replace(SLOT, name="../etc"), LAUNCH)
    with pytest.raises(InvalidNameError):
        write_env_file(tmp_path, "../x", {})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"LD_PRELOAD": "/x.so"}, "not a slot environment key"),
        ({"PATH": "/tmp"}, "not a slot environment key"),
        ({"LLAMA_ARG_THREADS": "2x"}, "not a non-negative integer"),
        ({"HAL0_DRAIN_SEC": "-1"}, "not a number of seconds"),
        ({"HAL0_EXTRA_ARGS": "bm90IGpzb24="}, "not base64 of a JSON list"),
        ({"HAL0_EXTRA_ARGS": "eyJhIjogMX0="}, "JSON list of strings"),  # {"a": 1}
        ({"HAL0_EXTRA_ARGS": "WyItLWhvc3QiLCAiMC4wLjAuMCJd"}, "set by hal0d"),  # --host 0.0.0.0
    ],
)
def test_render_checks_every_key_again(values: dict[str, str], message: str) -> None:
    base = slot_environment(SLOT, LAUNCH)
    with pytest.raises(ConfigError, match=message):
        render({**base, **values})


@pytest.mark.parametrize("missing", envspec.REQUIRED)
def test_required_keys(missing: str) -> None:
    values = slot_environment(SLOT, LAUNCH)
    del values[missing]
    with pytest.raises(ConfigError, match=f"{missing} is missing"):
        render(values)


def test_written_file_is_private_and_atomic(tmp_path: Path) -> None:
    values = slot_environment(SLOT, replace(LAUNCH, api_key="s3cret-key"))
    path = write_env_file(tmp_path, "chat", values)
    assert path == tmp_path / "chat.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_env_file(path) == values
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.env"]
    write_env_file(tmp_path, "chat", slot_environment(SLOT, replace(LAUNCH, port=8102)))
    assert read_env_file(path)["LLAMA_ARG_PORT"] == "8102"
    remove_env_file(tmp_path, "chat")
    assert not path.exists()


def test_file_for_one_slot_cannot_name_another(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="names slot"):
        write_env_file(tmp_path, "other", slot_environment(SLOT, LAUNCH))


def test_file_text_has_nothing_systemd_would_interpret(tmp_path: Path) -> None:
    """systemd's EnvironmentFile= grammar treats quotes, backslashes (line continuation),
    `$` (expansion), whitespace and `#`/`;` specially; none may appear in a value. The system
    tier checks the same file through a real systemd."""
    args = ("--chat-template", "a $B 'c' \"d\" \\ # ;")
    values = slot_environment(replace(SLOT, extra_args=args), replace(LAUNCH, api_key="k-1"))
    text = write_env_file(tmp_path, "chat", values).read_text(encoding="ascii")
    lines = text.splitlines()
    assert lines[0].startswith("# ")
    for line in lines[1:]:
        key, _, value = line.partition("=")
        assert key in envspec.ALLOWED
        assert not set(value) & set("'\"\\$ \t#;`"), line
    assert load_settings(read_env_file(tmp_path / "chat.env")).extra_args == args
