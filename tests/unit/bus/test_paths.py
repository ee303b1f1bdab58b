"""Slot object paths: the table below was produced by systemd's own `sd_bus_path_encode()`
semantics (escape everything but letters, and digits after the first position)."""

import pytest

from hal0d.bus.paths import decode_label, encode_label, slot_name_from_path, slot_path

TABLE = [
    ("", "_"),
    ("a", "a"),
    ("llama", "llama"),
    ("Abc", "Abc"),
    ("a1", "a1"),
    ("1", "_31"),
    ("7b", "_37b"),
    ("0a9", "_30a9"),
    ("a-b", "a_2db"),
    ("a_b", "a_5fb"),
    ("-", "_2d"),
    ("_", "_5f"),
    ("qwen2-7b_q4", "qwen2_2d7b_5fq4"),
    ("a.b", "a_2eb"),
    ("../x", "_2e_2e_2fx"),
    ("a b", "a_20b"),
    ("é", "_c3_a9"),
]


@pytest.mark.parametrize(("label", "encoded"), TABLE)
def test_encode_matches_sd_bus_path_encode(label: str, encoded: str) -> None:
    assert encode_label(label) == encoded


@pytest.mark.parametrize(("label", "encoded"), TABLE)
def test_decode_is_the_inverse(label: str, encoded: str) -> None:
    assert decode_label(encoded) == label


@pytest.mark.parametrize("bad", ["_2", "_zz", "a_", "a-b", "_c3", "a.b"])
def test_decode_rejects_what_encode_never_produces(bad: str) -> None:
    assert decode_label(bad) is None


def test_slot_path_round_trip() -> None:
    path = slot_path("my-slot_1")
    assert path == "/org/hal0/Manager1/slot/my_2dslot_5f1"
    assert slot_name_from_path(path) == "my-slot_1"
    assert slot_name_from_path("/org/hal0/Manager1/slot/a/b") is None
    assert slot_name_from_path("/org/hal0/Manager1") is None
