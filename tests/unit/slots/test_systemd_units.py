"""Unit names and object paths, as systemd spells them."""

import pytest

from hal0d.systemd.units import (
    slot_from_unit,
    slot_unit,
    unit_from_path,
    unit_path,
)


@pytest.mark.parametrize(
    ("unit", "label"),
    [
        ("demo@a.service", "demo_40a_2eservice"),  # measured on systemd 252
        ("hal0-slot@chat.service", "hal0_2dslot_40chat_2eservice"),
        ("hal0-slot@my_slot-2.service", "hal0_2dslot_40my_5fslot_2d2_2eservice"),
        ("1st.service", "_31st_2eservice"),
        ("", "_"),
    ],
)
def test_path_labels_round_trip(unit: str, label: str) -> None:
    assert unit_from_path(unit_path(unit)) == unit
    assert unit_path(unit) == "/org/freedesktop/systemd1/unit/" + label


@pytest.mark.parametrize(
    ("unit", "slot"),
    [
        ("hal0-slot@chat.service", "chat"),
        ("hal0-slot@a_b-1.service", "a_b-1"),
        ("hal0-slot@.service", None),
        ("hal0-slot@Chat.service", None),
        ("hal0-slot@chat.socket", None),
        ("hal0d.service", None),
        ("other@chat.service", None),
    ],
)
def test_slot_from_unit(unit: str, slot: str | None) -> None:
    assert slot_from_unit(unit) == slot
    if slot is not None:
        assert slot_unit(slot) == unit


def test_foreign_paths_are_not_units() -> None:
    assert unit_from_path("/org/freedesktop/systemd1/job/12") is None
