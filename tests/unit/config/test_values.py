"""Tables for the small value parsers: durations, sizes, slot names, port assignment."""

from pathlib import Path

import pytest

from hal0d.config.durations import format_duration, parse_duration
from hal0d.config.model import ModelRef, SlotConfig
from hal0d.config.ports import assign_ports, load_assignments, save_assignments
from hal0d.config.sizes import parse_size
from hal0d.errors import ConfigError, InvalidNameError
from hal0d.names import is_valid_slot_name, validate_slot_name


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("250ms", 0.25),
        ("0s", 0),
        ("1h 30m", 5400),
        ("", None),
        ("5", None),
        ("5 minutes", None),
        ("-5m", None),
        ("5m1", None),
        ("m5", None),
        ("1.5h", None),
        ("never", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds", [0, 0.25, 59, 90, 3600, 5400, 90061])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512", 512),
        ("1K", 1024),
        ("512M", 512 << 20),
        ("8G", 8 << 30),
        ("8GiB", 8 << 30),
        ("2T", 2 << 40),
        ("lots", None),
        ("-1G", None),
        ("1.5G", None),
        ("8GB", None),
    ],
)
def test_parse_size(text: str, size: int | None) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("chat", True),
        ("a", True),
        ("0chat", True),
        ("a-b_c", True),
        ("a" * 32, True),
        ("a" * 33, False),
        ("", False),
        ("A", False),
        ("-a", False),
        ("_a", False),
        ("a.b", False),
        ("a b", False),
        ("a@b", False),
        ("../x", False),
        ("chat\n", False),
        ("ch\x00at", False),
        ("é", False),
    ],
)
def test_slot_names(name: str, valid: bool) -> None:
    assert is_valid_slot_name(name) is valid
    if valid:
        assert validate_slot_name(name) == name
    else:
        with pytest.raises(InvalidNameError, match="not a valid slot name"):
            validate_slot_name(name)


def slot(name: str, port: int | None = None) -> SlotConfig:
    return SlotConfig(
        name=name, file=Path(f"/etc/hal0/slots/{name}.toml"), model=ModelRef(), port=port
    )


def test_ports_fill_the_range_around_explicit_ones() -> None:
    slots = {s.name: s for s in [slot("a"), slot("b", 8100), slot("c")]}
    assert assign_ports(slots, (8100, 8102)) == {"a": 8101, "b": 8100, "c": 8102}


def test_ports_are_sticky_when_a_slot_is_added() -> None:
    before = assign_ports({"m": slot("m")}, (8100, 8199))
    after = assign_ports({"a": slot("a"), "m": slot("m")}, (8100, 8199), previous=before)
    assert after["m"] == before["m"] == 8100
    assert after["a"] == 8101


def test_sticky_port_taken_by_an_explicit_one_moves() -> None:
    ports = assign_ports({"m": slot("m"), "x": slot("x", 8100)}, (8100, 8199), {"m": 8100})
    assert ports == {"m": 8101, "x": 8100}


def test_exhausted_range_names_the_slot_and_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"no free port left for slot 'b'.*widen port_range"):
        assign_ports({"a": slot("a"), "b": slot("b")}, (8100, 8100))


def test_assignments_survive_a_restart(tmp_path: Path) -> None:
    save_assignments(tmp_path, {"chat": 8105, "code": 8100})
    assert load_assignments(tmp_path) == {"chat": 8105, "code": 8100}


@pytest.mark.parametrize("content", ["", "not json", "[1, 2]", '{"chat": "8100", "x": true}'])
def test_unusable_assignments_file_only_loses_stickiness(tmp_path: Path, content: str) -> None:
    (tmp_path / "ports.json").write_text(content)
    assert load_assignments(tmp_path) == {}
